"""What every command shares: a database session of its own, the user it acts as, and
refusals turned into a message and exit status 1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import get_settings
from service.db import create_engine, sessionmaker_for
from service.enums import Role
from service.errors import CivopError
from service.i18n import _

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@contextlib.contextmanager
def reporting_errors() -> Iterator[None]:
    """A refusal (``CivopError``) ends the command with its message and exit status 1."""
    try:
        yield
    except CivopError as error:
        say_error(error.message)
        where = getattr(error, "loc", None)
        if where:
            field = ".".join(str(p) for p in where[1:])
            typer.secho("  " + _("(field: {field})", field=field), err=True)
        raise typer.Exit(1) from error


def say_error(message: str) -> None:
    """Say what went wrong: ``error: ...``, in red, on stderr, in the user's language."""
    typer.secho(_("error: {message}", message=message), fg="red", err=True)


def fail(message: str, exit_code: int = 1) -> NoReturn:
    """Say what went wrong and end the command with ``exit_code``."""
    say_error(message)
    raise typer.Exit(exit_code)


def with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` with a database session of its own; refusals end the command."""

    async def run() -> T:
        engine = create_engine(get_settings())
        try:
            async with sessionmaker_for(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    with reporting_errors():
        return asyncio.run(run())


async def cli_principal(session: AsyncSession, username: str | None) -> Any:
    """The user a command acts as: ``--user``, or the command line itself with full rights."""
    import getpass

    from sqlalchemy import select

    from service.access.policy import Principal
    from service.auth.models import User
    from service.auth.service import principal_of

    if username is None:
        return Principal(
            username=f"cli:{getpass.getuser()}", role=Role.admin, cleared_restricted=True
        )
    user = await session.scalar(select(User).where(User.username == username))
    if user is None or user.disabled:
        raise CivopError(_("no active user '{username}'", username=username))
    return await principal_of(session, user)
