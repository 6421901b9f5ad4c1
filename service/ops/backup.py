"""Backup and restore of the whole database: ``pg_dump --format=custom`` and ``pg_restore``.

A backup is one consistent snapshot (pg_dump reads in one transaction, so the service may keep
running), written to a temporary file readable only by its owner and renamed into place when
complete: a failed backup never leaves a file that looks whole. A restore goes into a new or
empty database, in one transaction; it refuses a database that holds tables unless told to
replace them, and then either replaces all of them or, when anything fails, none.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url

from service.errors import CivopError
from service.i18n import _

#: Tables and sequences of the database, other than the catalogs and what extensions own
#: (PostGIS's ``spatial_ref_sys``): what "empty" means for a restore.
USER_RELATIONS = """
SELECT n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (
    SELECT 1 FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  )
ORDER BY 1
"""


class BackupError(CivopError):
    """A backup or restore that could not be done, with what to do about it."""


@dataclass(frozen=True)
class Done:
    """What a backup or restore did."""

    path: Path
    database: str
    tables: int
    size_bytes: int
    seconds: float


def _url(database_url: str, database: str | None = None) -> URL:
    url = make_url(database_url)
    return url.set(database=database) if database else url


def libpq_environment(url: URL) -> dict[str, str]:
    """The connection as libpq variables: the password never appears on a command line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    host = url.query.get("host") or url.host
    values = {
        "PGHOST": host if isinstance(host, str) else None,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
        "PGAPPNAME": "civop-backup",
    }
    env.update({k: str(v) for k, v in values.items() if v})
    return env


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            _(
                "{tool} is not installed; install the PostgreSQL client (Debian: "
                "postgresql-client)",
                tool=name,
            )
        )
    return found


def _run(argv: list[str], env: dict[str, str], stdout: int | None = None) -> None:
    done = subprocess.run(  # noqa: S603 - the PostgreSQL tools, with arguments built here
        argv,
        env=env,
        stdout=stdout if stdout is not None else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise BackupError(
            _(
                "{tool} failed: {message}",
                tool=Path(argv[0]).name,
                message=" / ".join(said[-5:] or [_("no message")]),
            )
        )


def user_tables(url: URL) -> list[str]:
    """The database's own tables (not the catalogs', not the extensions')."""

    async def fetch() -> list[str]:
        connection = await asyncpg.connect(_dsn(url))
        try:
            return [row[0] for row in await connection.fetch(USER_RELATIONS)]
        finally:
            await connection.close()

    return asyncio.run(fetch())


def backup(database_url: str, target: Path) -> Done:
    """Write the whole database to ``target`` (pg_dump's custom format)."""
    url = _url(database_url)
    started = time.monotonic()
    target = target.resolve()
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    # Backups hold password hashes and restricted records: readable by their owner only.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _run(
            [_tool("pg_dump"), "--format=custom", "--compress=6", "--no-password"],
            libpq_environment(url),
            stdout=descriptor,
        )
        os.fsync(descriptor)
    except BaseException:
        os.close(descriptor)
        partial.unlink(missing_ok=True)
        raise
    os.close(descriptor)
    os.replace(partial, target)
    tables = len(user_tables(url))
    return Done(target, url.database or "", tables, os.stat(target).st_size, _since(started))


def restore(
    database_url: str, source: Path, *, into: str | None = None, replace: bool = False
) -> Done:
    """Restore a backup into ``into`` (default: the database of ``database_url``), creating
    it when it does not exist. A database that holds tables is refused unless ``replace``."""
    started = time.monotonic()
    if not source.is_file():
        raise BackupError(_("no backup file {file}", file=source))
    url = _url(database_url, into)
    env = libpq_environment(url)
    try:  # a file pg_restore cannot read is refused before the database is touched
        _run([_tool("pg_restore"), "--list", str(source)], env)
    except BackupError as error:
        raise BackupError(
            _("{file} is not a civop backup (pg_dump custom format)", file=source)
        ) from error
    name = url.database or ""
    existing = _tables_if_exists(url)
    if existing is None:
        _create_database(url)
        existing = []
    if existing and not replace:
        shown = ", ".join(existing[:5]) + (", ..." if len(existing) > 5 else "")
        raise BackupError(
            _(
                "database '{name}' is not empty ({count} tables: {tables}); restore into a new "
                "database with --into NAME, or add --replace to replace its contents",
                name=name,
                count=len(existing),
                tables=shown,
            )
        )
    argv = [
        _tool("pg_restore"),
        "--no-password",
        "--no-owner",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={name}",
    ]
    if existing:
        argv += ["--clean", "--if-exists"]
    _run([*argv, str(source)], env)
    tables = len(user_tables(url))
    return Done(source.resolve(), name, tables, source.stat().st_size, _since(started))


def _tables_if_exists(url: URL) -> list[str] | None:
    try:
        return user_tables(url)
    except asyncpg.InvalidCatalogNameError:
        return None


def _create_database(url: URL) -> None:
    async def create() -> None:
        admin = await asyncpg.connect(_dsn(url.set(database="postgres")))
        try:
            quoted = '"' + (url.database or "").replace('"', '""') + '"'
            await admin.execute(f"CREATE DATABASE {quoted}")
        finally:
            await admin.close()

    asyncio.run(create())


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)
