"""``civop user ...``: users, and the documented demo accounts."""

from __future__ import annotations

import os
import uuid
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from service.cli.common import with_session
from service.enums import Office, Role
from service.errors import NotFound

user_app = typer.Typer(help="Users", no_args_is_help=True)

#: Demo accounts, one per role (and a sector-scoped officer); only with CIVOP_DEMO=1.
DEMO_ACCOUNTS: list[tuple[str, Role, bool, str | None]] = [
    ("partner", Role.partner, False, None),
    ("analyst", Role.analyst, False, None),
    ("officer", Role.officer, False, None),
    ("admin", Role.admin, True, None),
    ("officer-nw", Role.officer, False, "Sector North-West"),
]
#: Demo accounts of the offices that decide requests for civil assistance (``--office``).
DEMO_OFFICES: list[tuple[str, Role, Office]] = [
    ("hc", Role.analyst, Office.dsrsg_rc_hc),
    ("homc", Role.officer, Office.homc),
    ("srsg", Role.analyst, Office.srsg),
]
DEMO_PASSWORD_SUFFIX = "-demo-2026"  # noqa: S105 - documented demo-only accounts


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
    actor: Annotated[
        uuid.UUID | None, typer.Option(help="The actor (organisation) the user works for.")
    ] = None,
    office: Annotated[
        Office | None,
        typer.Option(help="The office the user decides for: dsrsg_rc_hc, homc or srsg."),
    ] = None,
) -> None:
    """Create a user."""
    from service.auth import service

    user = with_session(
        lambda s: service.add_user(
            s,
            username=username,
            password=password,
            role=role,
            full_name=full_name,
            cleared_restricted=cleared,
            sector_ids=sector,
            actor_id=actor,
            office=office,
        )
    )
    typer.echo(f"user {user.username} ({user.role}) created: {user.id}")


@user_app.command("list")
def user_list() -> None:
    """List users."""
    from service.auth import service

    for user in with_session(service.list_users):
        scope = ",".join(str(s) for s in user.sector_ids) or "all sectors"
        flags = " disabled" if user.disabled else ""
        cleared = " cleared-restricted" if user.cleared_restricted else ""
        typer.echo(f"{user.username}\t{user.role}{cleared}\t{scope}{flags}")


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable a user: their tokens and API keys stop working at once."""
    from service.auth import service

    with_session(lambda s: service.set_disabled(s, username, True))
    typer.echo(f"user {username} disabled")


@user_app.command("enable")
def user_enable(username: str) -> None:
    """Enable a disabled user."""
    from service.auth import service

    with_session(lambda s: service.set_disabled(s, username, False))
    typer.echo(f"user {username} enabled")


@user_app.command("reset-password")
def user_reset_password(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Give a user a new password (asked for, not echoed); their failed logins are cleared."""
    from service.auth import admin
    from service.cli.common import cli_principal

    async def reset(session: AsyncSession) -> None:
        principal = await cli_principal(session, None)
        found = await admin.user_named(session, principal, username)
        await admin.reset_password(session, principal, found.id, password)

    with_session(reset)
    typer.echo(f"user {username}: password reset")


@user_app.command("unlock")
def user_unlock(username: str) -> None:
    """Clear a user's failed logins (the back-off after too many), at every address."""
    from service.auth import throttle

    cleared = with_session(lambda s: throttle.unlock(s, username))
    typer.echo(f"user {username}: {cleared} failed-login counters cleared")


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
        for username, role, office in DEMO_OFFICES:
            if await session.scalar(select(User.id).where(User.username == username)):
                continue
            await service.add_user(
                session,
                username=username,
                password=username + DEMO_PASSWORD_SUFFIX,
                role=role,
                office=office,
                actor="demo-setup",
            )

    with_session(create)
    typer.echo("demo accounts (username / password):")
    for username, role, _, sector_name in DEMO_ACCOUNTS:
        where = f", sector {sector_name}" if sector_name else ""
        typer.echo(f"  {username:<14} {username + DEMO_PASSWORD_SUFFIX:<24} ({role.value}{where})")
    for username, role, office in DEMO_OFFICES:
        typer.echo(
            f"  {username:<14} {username + DEMO_PASSWORD_SUFFIX:<24} "
            f"({role.value}, decides for the {office.value} office)"
        )
