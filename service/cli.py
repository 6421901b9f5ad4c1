"""The ``civop`` command line: database, demo, serving, users and API keys."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import get_settings
from service.db import create_engine, sessionmaker_for
from service.enums import Role
from service.errors import CivopError, NotFound

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

app = typer.Typer(help="civop: the civilian operational picture service", no_args_is_help=True)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
user_app = typer.Typer(help="Users", no_args_is_help=True)
key_app = typer.Typer(help="API keys for machine clients", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(key_app, name="apikey")

#: Demo accounts, one per role (and a sector-scoped officer); only with CIVOP_DEMO=1.
DEMO_ACCOUNTS: list[tuple[str, Role, bool, str | None]] = [
    ("partner", Role.partner, False, None),
    ("analyst", Role.analyst, False, None),
    ("officer", Role.officer, False, None),
    ("admin", Role.admin, True, None),
    ("officer-nw", Role.officer, False, "Sector North-West"),
]
DEMO_PASSWORD_SUFFIX = "-demo-2026"  # noqa: S105 - documented demo-only accounts


def _with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(get_settings())
        try:
            async with sessionmaker_for(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except CivopError as error:
        typer.secho(f"error: {error.message}", fg="red", err=True)
        raise typer.Exit(1) from error


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations."""
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(ROOT / "alembic.ini")), revision)


@app.command()
def demo(
    incidents: Annotated[int, typer.Option(help="Number of incidents to generate.")] = 20_000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same scenario.")
    ] = 7,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only when there are no incidents.")
    ] = False,
) -> None:
    """Load the fictional demo mission (deterministic for a seed)."""
    from service.demo import load_demo

    async def run() -> dict[str, int]:
        engine = create_engine(get_settings())
        try:
            loaded: dict[str, int] = await load_demo(
                engine, seed=seed, incidents=incidents, if_empty=if_empty
            )
            return loaded
        finally:
            await engine.dispose()

    try:
        counts = asyncio.run(run())
    except CivopError as error:
        typer.secho(f"error: {error.message}", fg="red", err=True)
        raise typer.Exit(1) from error
    if not counts:
        typer.echo("demo: the database already holds data; nothing loaded")
        return
    typer.echo("demo loaded: " + ", ".join(f"{n} {table}" for table, n in counts.items()))


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
) -> None:
    """Serve the API with uvicorn."""
    import uvicorn

    base = f"http://{host}:{port}"
    typer.echo(f"civop: API docs at {base}/docs, health at {base}/health")
    uvicorn.run("service.main:app_factory", factory=True, host=host, port=port, workers=workers)


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[Role, typer.Option(help="partner, analyst, officer or admin")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    full_name: str | None = None,
    cleared: Annotated[bool, typer.Option(help="Cleared for restricted records.")] = False,
    sector: Annotated[
        list[uuid.UUID] | None, typer.Option(help="Limit to this sector (repeatable).")
    ] = None,
) -> None:
    """Create a user."""
    from service.auth import service

    user = _with_session(
        lambda s: service.add_user(
            s,
            username=username,
            password=password,
            role=role,
            full_name=full_name,
            cleared_restricted=cleared,
            sector_ids=sector,
        )
    )
    typer.echo(f"user {user.username} ({user.role}) created: {user.id}")


@user_app.command("list")
def user_list() -> None:
    """List users."""
    from service.auth import service

    for user in _with_session(service.list_users):
        scope = ",".join(str(s) for s in user.sector_ids) or "all sectors"
        flags = " disabled" if user.disabled else ""
        cleared = " cleared-restricted" if user.cleared_restricted else ""
        typer.echo(f"{user.username}\t{user.role}{cleared}\t{scope}{flags}")


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable a user: their tokens and API keys stop working at once."""
    from service.auth import service

    _with_session(lambda s: service.set_disabled(s, username, True))
    typer.echo(f"user {username} disabled")


@user_app.command("enable")
def user_enable(username: str) -> None:
    """Enable a disabled user."""
    from service.auth import service

    _with_session(lambda s: service.set_disabled(s, username, False))
    typer.echo(f"user {username} enabled")


@user_app.command("demo-accounts")
def user_demo_accounts() -> None:
    """Create the documented demo accounts (CIVOP_DEMO=1 only) and print them."""
    from sqlalchemy import select

    from service.auth import service
    from service.auth.models import User
    from service.sectors.models import Sector

    if os.environ.get("CIVOP_DEMO") != "1":
        typer.secho("demo accounts exist only in the demo (CIVOP_DEMO=1)", fg="red", err=True)
        raise typer.Exit(1)

    async def create(session: AsyncSession) -> None:
        for username, role, cleared, sector_name in DEMO_ACCOUNTS:
            if await session.scalar(select(User.id).where(User.username == username)):
                continue
            sectors = None
            if sector_name:
                sector_id = await session.scalar(
                    select(Sector.id).where(Sector.name == sector_name)
                )
                if sector_id is None:  # never fall back to an unscoped account
                    raise NotFound(f"demo sector {sector_name!r} is missing; load the demo first")
                sectors = [sector_id]
            await service.add_user(
                session,
                username=username,
                password=username + DEMO_PASSWORD_SUFFIX,
                role=role,
                cleared_restricted=cleared,
                sector_ids=sectors,
                actor="demo-setup",
            )

    _with_session(create)
    typer.echo("demo accounts (username / password):")
    for username, role, _, sector_name in DEMO_ACCOUNTS:
        where = f", sector {sector_name}" if sector_name else ""
        typer.echo(f"  {username:<14} {username + DEMO_PASSWORD_SUFFIX:<24} ({role.value}{where})")


@key_app.command("create")
def apikey_create(
    user: Annotated[str, typer.Option(help="The user the key acts as.")],
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'qgis-gis-unit'.")],
) -> None:
    """Create an API key; it is shown once."""
    from service.auth import service

    key_id, key = _with_session(lambda s: service.create_api_key(s, user, name))
    typer.echo(f"key id: {key_id}\nkey:    {key}\n(store it now: it is not shown again)")


@key_app.command("revoke")
def apikey_revoke(key_id: uuid.UUID) -> None:
    """Revoke an API key at once."""
    from service.auth import service

    _with_session(lambda s: service.revoke_api_key(s, key_id))
    typer.echo(f"key {key_id} revoked")


if __name__ == "__main__":
    app()
