"""``civop db upgrade``, ``civop backup`` and ``civop restore``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli.common import ROOT, reporting_errors
from service.config import get_settings

db_app = typer.Typer(help="Database schema", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations."""
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(ROOT / "alembic.ini")), revision)


def backup_database(
    file: Annotated[Path, typer.Argument(help="Where to write it (pg_dump custom format).")],
) -> None:
    """Back up the whole database to FILE; the service may keep running."""
    from service.ops import backup

    with reporting_errors():
        done = backup.backup(get_settings().database_url, file)
    typer.echo(
        f"backup of {done.database}: {done.tables} tables, {done.size_bytes / 1e6:.1f} MB "
        f"in {done.seconds} s -> {done.path}"
    )


def restore_database(
    file: Annotated[Path, typer.Argument(help="A backup written by civop backup.")],
    into: Annotated[
        str | None, typer.Option(help="This database (created if missing), not DATABASE_URL's.")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the contents of a non-empty database.")
    ] = False,
) -> None:
    """Restore a backup into an empty or new database, in one transaction."""
    from service.ops import backup

    with reporting_errors():
        done = backup.restore(get_settings().database_url, file, into=into, replace=replace)
    typer.echo(
        f"restored {done.path.name} into {done.database}: {done.tables} tables in {done.seconds} s"
    )
