"""The ``civop`` command line: database, demo, serving, users and API keys."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from service.basemap.cli import app as basemap_app
from service.config import get_settings
from service.db import create_engine, sessionmaker_for
from service.enums import Role
from service.errors import CivopError, NotFound
from service.reports.cli import app as report_app

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

app = typer.Typer(help="civop: the civilian operational picture service", no_args_is_help=True)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
user_app = typer.Typer(help="Users", no_args_is_help=True)
key_app = typer.Typer(help="API keys for machine clients", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(key_app, name="apikey")
app.add_typer(report_app, name="report")
app.add_typer(basemap_app, name="basemap")

#: Demo accounts, one per role (and a sector-scoped officer); only with CIVOP_DEMO=1.
DEMO_ACCOUNTS: list[tuple[str, Role, bool, str | None]] = [
    ("partner", Role.partner, False, None),
    ("analyst", Role.analyst, False, None),
    ("officer", Role.officer, False, None),
    ("admin", Role.admin, True, None),
    ("officer-nw", Role.officer, False, "Sector North-West"),
]
DEMO_PASSWORD_SUFFIX = "-demo-2026"  # noqa: S105 - documented demo-only accounts


@contextlib.contextmanager
def _reporting_errors() -> Iterator[None]:
    """A refusal (``CivopError``) ends the command with its message and exit status 1."""
    try:
        yield
    except CivopError as error:
        typer.secho(f"error: {error.message}", fg="red", err=True)
        raise typer.Exit(1) from error


def _with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` with a database session of its own; refusals end the command."""

    async def run() -> T:
        engine = create_engine(get_settings())
        try:
            async with sessionmaker_for(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    with _reporting_errors():
        return asyncio.run(run())


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations."""
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(ROOT / "alembic.ini")), revision)


@app.command("backup")
def backup_database(
    file: Annotated[Path, typer.Argument(help="Where to write it (pg_dump custom format).")],
) -> None:
    """Back up the whole database to FILE; the service may keep running."""
    from service.ops import backup

    with _reporting_errors():
        done = backup.backup(get_settings().database_url, file)
    typer.echo(
        f"backup of {done.database}: {done.tables} tables, {done.size_bytes / 1e6:.1f} MB "
        f"in {done.seconds} s -> {done.path}"
    )


@app.command("restore")
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

    with _reporting_errors():
        done = backup.restore(get_settings().database_url, file, into=into, replace=replace)
    typer.echo(
        f"restored {done.path.name} into {done.database}: {done.tables} tables in {done.seconds} s"
    )


@app.command()
def demo(
    incidents: Annotated[int, typer.Option(help="Number of incidents to generate.")] = 20_000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same scenario.")
    ] = 7,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only when there are no incidents.")
    ] = False,
    reference_date: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Last day of the mission's 24 months, YYYY-MM-DD (default: yesterday, UTC).",
        ),
    ] = None,
) -> None:
    """Load the fictional demo mission and its alert rules (deterministic for a seed and a
    reference date)."""
    from service.demo import load_demo

    async def run() -> dict[str, int]:
        engine = create_engine(get_settings())
        try:
            loaded: dict[str, int] = await load_demo(
                engine,
                seed=seed,
                incidents=incidents,
                reference_date=reference_date.date() if reference_date else None,
                if_empty=if_empty,
            )
            return loaded
        finally:
            await engine.dispose()

    with _reporting_errors():
        counts = asyncio.run(run())
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
    """Serve the API with uvicorn, and start the job workers beside it (``CIVOP_JOBS_WORKERS``
    of them; they stop with it)."""
    import subprocess
    import sys

    import uvicorn

    base = f"http://{host}:{port}"
    typer.echo(f"civop: map at {base}/map, API docs at {base}/docs, health at {base}/health")
    env = {**os.environ, "CIVOP_WORKER_OF_PID": str(os.getpid())}
    job_workers = [
        subprocess.Popen([sys.executable, "-m", "service.jobs"], env=env)
        for _ in range(get_settings().jobs_workers)
    ]
    try:
        uvicorn.run("service.main:app_factory", factory=True, host=host, port=port, workers=workers)
    finally:
        for process in job_workers:
            process.terminate()
        for process in job_workers:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (default CIVOP_JOBS_CONCURRENCY).")
    ] = None,
) -> None:
    """Run jobs (exports, reports, imports, rollbacks, time-based alert rules) from the queue
    in PostgreSQL, each in a child process of its own, until stopped (SIGTERM or Ctrl-C)."""
    from service.jobs.__main__ import main

    main(concurrency)


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
            actor_id=actor,
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


@user_app.command("unlock")
def user_unlock(username: str) -> None:
    """Clear a user's failed logins (the back-off after too many), at every address."""
    from service.auth import throttle

    cleared = _with_session(lambda s: throttle.unlock(s, username))
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


async def _cli_principal(session: AsyncSession, username: str | None) -> Any:
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
        raise CivopError(f"no active user {username!r}")
    return await principal_of(session, user)


@app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(help="The file: .gpkg, .zip (shapefile), .geojson, .kml/.kmz, .csv")
    ],
    into: Annotated[str, typer.Option("--into", help="The collection, e.g. incidents.")],
    layer: Annotated[str | None, typer.Option(help="Layer of a GeoPackage or KML.")] = None,
    mapping: Annotated[
        str | None,
        typer.Option(help="JSON object (or @file.json): collection field -> file field."),
    ] = None,
    source_crs: Annotated[str | None, typer.Option(help="CRS when the file has none.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding, e.g. latin-1.")] = None,
    classification: Annotated[
        str | None, typer.Option(help="public, mission (default) or restricted.")
    ] = None,
    origin: Annotated[str | None, typer.Option(help="System the file's ids belong to.")] = None,
    file_format: Annotated[
        str | None, typer.Option("--format", help="Only when detection gets it wrong.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything, write nothing.")
    ] = False,
    user: Annotated[str | None, typer.Option(help="Act as this user (their rights apply).")] = None,
) -> None:
    """Import a file into a collection, in one transaction, with a progress bar."""
    import json

    from service.enums import Classification
    from service.imports import service as imports

    settings = get_settings()
    if mapping and mapping.startswith("@"):
        mapping = Path(mapping[1:]).read_text()
    try:
        parsed = json.loads(mapping) if mapping else None
    except json.JSONDecodeError as error:
        typer.secho(f"error: --mapping is not JSON: {error.msg}", fg="red", err=True)
        raise typer.Exit(2) from error
    request = imports.ImportRequest(
        collection=into,
        format=file_format,
        layer=layer,
        mapping=parsed,
        source_crs=source_crs,
        encoding=encoding,
        classification=Classification(classification) if classification else None,
        origin=origin,
    )

    async def run() -> bool:
        engine = create_engine(settings)
        maker = sessionmaker_for(engine)
        upload = None
        try:
            async with maker() as session:
                principal = await _cli_principal(session, user)
            imports.collection_of(into)
            imports.check_importer(principal, request)
            upload = imports.receive_path(file, settings)
            opened = await imports.open_upload(upload, request, settings)
            described = opened.describe()
            typer.echo(
                f"{file.name}: {described['format']}, layer {described['layer']!r}, "
                f"{described['count'] if described['count'] is not None else '?'} records, "
                f"CRS {described['crs']} ({described['crs_from']})"
            )
            if dry_run:
                async with maker() as session:
                    report = await imports.preview(session, opened, principal, request, settings)
                _print_report(report)
                return bool(report["ok"])
            async with maker() as session:
                job = await imports.create_job(session, upload, opened, principal, request)
            typer.echo(f"import {job.number} ({job.id}) into {into}")
            return await _run_with_bar(maker, job, opened, principal, request, settings)
        finally:
            if upload is not None:
                upload.discard()
            await engine.dispose()

    try:
        ok = asyncio.run(run())
    except CivopError as error:
        typer.secho(f"error: {error.message}", fg="red", err=True)
        detail = getattr(error, "loc", None)
        if detail:
            typer.secho(f"  (field: {'.'.join(str(p) for p in detail[1:])})", err=True)
        raise typer.Exit(1) from error
    if not ok:
        raise typer.Exit(1)


async def _run_with_bar(
    maker: Any, job: Any, opened: Any, principal: Any, request: Any, settings: Any
) -> bool:
    from service.imports import service as imports

    writer = imports.ProgressWriter(maker, job.id)
    total = opened.layer.info.count
    with typer.progressbar(length=total or 0, label="importing", show_pos=True) as bar:
        seen = 0

        async def progress(rows: int) -> None:
            nonlocal seen
            bar.update(rows - seen)
            seen = rows
            await writer(rows)

        async with maker() as session:
            done = await imports.run(session, job, opened, principal, request, settings, progress)
    typer.echo(
        f"{done.status}: {done.rows_read} read, {done.created} created, {done.updated} updated, "
        f"{done.unchanged} unchanged"
    )
    _print_problems(done.problems, done.problems_total)
    if done.message and done.status != "succeeded":
        typer.secho(done.message, fg="red", err=True)
    return bool(done.status == "succeeded")


def _print_problems(problems: list[dict[str, Any]], total: int) -> None:
    for problem in problems[:50]:
        where = f"row {problem['row']}" if problem["row"] is not None else "file"
        if problem["field"]:
            where += f", {problem['field']}"
        colour = "red" if problem["severity"] == "error" else "yellow"
        typer.secho(f"  {where}: {problem['message']}", fg=colour, err=True)
    if total > 50:
        typer.echo(f"  ... {total - 50} more", err=True)


def _print_report(report: dict[str, Any]) -> None:
    typer.echo(
        f"mapping: {report['mapping']['fields']} (location: {report['mapping']['location']})"
    )
    if report["mapping"]["not_imported"]:
        typer.echo(f"not imported: {', '.join(report['mapping']['not_imported'])}")
    would = report["would"]
    typer.echo(
        f"would create {would['create']}, update {would['update']}, skip {would['skip']} "
        f"of {report['counts']['read']} records; {report['counts']['errors']} error(s)"
    )
    _print_problems(report["problems"], report["problems_total"])


@app.command("export")
def export_file(
    collection: Annotated[str, typer.Argument(help="The collection, e.g. idp_sites.")],
    file_format: Annotated[
        str, typer.Option("--format", help="geojson, gpkg, shapefile, kml or csv (HXL).")
    ] = "gpkg",
    output: Annotated[Path | None, typer.Option(help="Where to write (default: ./<name>).")] = None,
    user: Annotated[
        str | None, typer.Option(help="Export what this user may see (a partner's view...).")
    ] = None,
    bbox: Annotated[str | None, typer.Option(help="minLon,minLat,maxLon,maxLat")] = None,
    datetime: Annotated[str | None, typer.Option(help="Instant or interval start/end.")] = None,
    sector: Annotated[uuid.UUID | None, typer.Option(help="Within this sector.")] = None,
    q: Annotated[str | None, typer.Option(help="Text search.")] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help="Enumerated filter, e.g. category=abduction (repeatable)."),
    ] = None,
) -> None:
    """Export a collection (with the list filters) as a file."""
    import shutil

    from service.collections.params import ListQuery, parse_bbox, parse_datetime, parse_filters
    from service.collections.registry import COLLECTIONS
    from service.exports.service import export

    found = COLLECTIONS.get(collection)
    if found is None:
        typer.secho(f"error: unknown collection {collection!r}", fg="red", err=True)
        raise typer.Exit(1)
    raw = dict(item.split("=", 1) for item in (where or []) if "=" in item)

    async def run(session: AsyncSession) -> Path:
        principal = await _cli_principal(session, user)
        query = ListQuery(
            bbox=parse_bbox(bbox),
            interval=parse_datetime(datetime),
            sector=sector,
            q=q,
            filters=parse_filters(found.properties, found.filters, dict(raw)),
        )
        exported = await export(session, found, principal, query, file_format)
        target = output or Path(exported.filename)
        shutil.move(str(exported.path), target)
        exported.discard()
        return target

    target = _with_session(run)
    typer.echo(f"{collection} exported to {target}")


if __name__ == "__main__":
    app()
