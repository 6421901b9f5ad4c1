"""``civop user ...``: users, and the documented demo accounts."""

from __future__ import annotations

import os
import uuid
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from service.cli.common import fail, with_session
from service.enums import Office, Role
from service.errors import NotFound
from service.i18n import N_, _

user_app = typer.Typer(help=N_("Users"), no_args_is_help=True)

PasswordOption = Annotated[
    str,
    typer.Option(
        prompt=N_("Password"),
        hide_input=True,
        confirmation_prompt=True,
        help=N_("Asked for (not echoed) when not given."),
    ),
]

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


@user_app.command("add", help=N_("Create a user."))
def user_add(
    username: Annotated[str, typer.Argument(help=N_("The name the user signs in with."))],
    role: Annotated[Role, typer.Option(help=N_("partner, analyst, officer or admin"))],
    password: PasswordOption,
    full_name: Annotated[str | None, typer.Option(help=N_("The user's full name."))] = None,
    cleared: Annotated[bool, typer.Option(help=N_("Cleared for restricted records."))] = False,
    sector: Annotated[
        list[uuid.UUID] | None, typer.Option(help=N_("Limit to this sector (repeatable)."))
    ] = None,
    actor: Annotated[
        uuid.UUID | None, typer.Option(help=N_("The actor (organisation) the user works for."))
    ] = None,
    office: Annotated[
        Office | None,
        typer.Option(help=N_("The office the user decides for: dsrsg_rc_hc, homc or srsg.")),
    ] = None,
) -> None:
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
    typer.echo(
        _(
            "user {username} ({role}) created: {id}",
            username=user.username,
            role=user.role,
            id=user.id,
        )
    )


@user_app.command("list", help=N_("List users."))
def user_list() -> None:
    from service.auth import service

    # One user a line, tab-separated: name, role and clearance, sectors and state (the role
    # and the sectors' ids as the API writes them).
    for user in with_session(service.list_users):
        scope = ",".join(str(s) for s in user.sector_ids) or _("all sectors")
        flags = " " + _("disabled") if user.disabled else ""
        cleared = " " + _("cleared-restricted") if user.cleared_restricted else ""
        typer.echo(f"{user.username}\t{user.role}{cleared}\t{scope}{flags}")


UsernameArgument = Annotated[str, typer.Argument(help=N_("The user's name."))]


@user_app.command(
    "disable", help=N_("Disable a user: their tokens and API keys stop working at once.")
)
def user_disable(username: UsernameArgument) -> None:
    from service.auth import service

    with_session(lambda s: service.set_disabled(s, username, True))
    typer.echo(_("user {username} disabled", username=username))


@user_app.command("enable", help=N_("Enable a disabled user."))
def user_enable(username: UsernameArgument) -> None:
    from service.auth import service

    with_session(lambda s: service.set_disabled(s, username, False))
    typer.echo(_("user {username} enabled", username=username))


@user_app.command(
    "reset-password",
    help=N_("Give a user a new password (asked for, not echoed); their failed logins are cleared."),
)
def user_reset_password(username: UsernameArgument, password: PasswordOption) -> None:
    from service.auth import admin
    from service.cli.common import cli_principal

    async def reset(session: AsyncSession) -> None:
        principal = await cli_principal(session, None)
        found = await admin.user_named(session, principal, username)
        await admin.reset_password(session, principal, found.id, password)

    with_session(reset)
    typer.echo(_("user {username}: password reset", username=username))


@user_app.command(
    "unlock",
    help=N_("Clear a user's failed logins (the back-off after too many), at every address."),
)
def user_unlock(username: UsernameArgument) -> None:
    from service.auth import throttle

    cleared = with_session(lambda s: throttle.unlock(s, username))
    typer.echo(
        _(
            "user {username}: {count} failed-login counters cleared",
            username=username,
            count=cleared,
        )
    )


@user_app.command(
    "demo-accounts",
    help=N_("Create the documented demo accounts (CIVOP_DEMO=1 only) and print them."),
)
def user_demo_accounts() -> None:
    from sqlalchemy import select

    from service.auth import service
    from service.auth.models import User
    from service.sectors.models import Sector

    if os.environ.get("CIVOP_DEMO") != "1":
        fail(_("demo accounts exist only in the demo (CIVOP_DEMO=1)"))

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
                    raise NotFound(
                        _(
                            "demo sector '{sector}' is missing; load the demo first",
                            sector=sector_name,
                        )
                    )
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
    typer.echo(_("demo accounts (username / password):"))
    for username, role, _cleared, sector_name in DEMO_ACCOUNTS:
        what = (
            _("{role}, sector {sector}", role=role.value, sector=sector_name)
            if sector_name
            else role.value
        )
        typer.echo(f"  {username:<14} {username + DEMO_PASSWORD_SUFFIX:<24} ({what})")
    for username, role, office in DEMO_OFFICES:
        what = _("{role}, decides for the {office} office", role=role.value, office=office.value)
        typer.echo(f"  {username:<14} {username + DEMO_PASSWORD_SUFFIX:<24} ({what})")
