"""``civop db upgrade``, ``civop backup`` and ``civop restore``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli.common import ROOT, reporting_errors
from service.config import get_settings
from service.i18n import N_, _, format_number

db_app = typer.Typer(help=N_("Database schema"), no_args_is_help=True)

BACKUP_HELP = N_("Back up the whole database to FILE; the service may keep running.")
RESTORE_HELP = N_("Restore a backup into an empty or new database, in one transaction.")


@db_app.command("upgrade", help=N_("Apply the migrations."))
def db_upgrade(revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(ROOT / "alembic.ini")), revision)


def backup_database(
    file: Annotated[Path, typer.Argument(help=N_("Where to write it (pg_dump custom format)."))],
) -> None:
    from service.ops import backup

    with reporting_errors():
        done = backup.backup(get_settings().database_url, file)
    typer.echo(
        _(
            "backup of {database}: {tables} tables, {size} MB in {seconds} s -> {path}",
            database=done.database,
            tables=format_number(done.tables),
            size=format_number(done.size_bytes / 1e6, digits=1),
            seconds=format_number(done.seconds),
            path=done.path,
        )
    )


def restore_database(
    file: Annotated[Path, typer.Argument(help=N_("A backup written by civop backup."))],
    into: Annotated[
        str | None,
        typer.Option(help=N_("This database (created if missing), not DATABASE_URL's.")),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help=N_("Replace the contents of a non-empty database.")),
    ] = False,
) -> None:
    from service.ops import backup

    with reporting_errors():
        done = backup.restore(get_settings().database_url, file, into=into, replace=replace)
    typer.echo(
        _(
            "restored {file} into {database}: {tables} tables in {seconds} s",
            file=done.path.name,
            database=done.database,
            tables=format_number(done.tables),
            seconds=format_number(done.seconds),
        )
    )


@db_app.command(
    "groups",
    help=N_(
        "Count anew the point groups that low-zoom map tiles are read from, where a write "
        "has changed them (workers do it after each change)."
    ),
)
def db_groups() -> None:
    import asyncio

    from service.db import create_engine
    from service.layers.groups import Count, count_all

    async def run() -> list[Count]:
        engine = create_engine(get_settings())
        try:
            return await count_all(engine)
        finally:
            await engine.dispose()

    counted = asyncio.run(run())
    for made in counted:
        typer.echo(
            _(
                "{collection}: {groups} groups counted in {seconds} s",
                collection=made.collection,
                groups=format_number(made.groups),
                seconds=format_number(made.seconds, digits=1),
            )
        )
    if not counted:
        typer.echo(_("the point groups are current"))
