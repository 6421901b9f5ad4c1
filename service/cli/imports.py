"""``civop import``: a file into a collection, with a progress bar (``service.imports``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli.common import cli_principal, reporting_errors
from service.config import get_settings
from service.db import create_engine, sessionmaker_for


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
    encoding: Annotated[
        str | None, typer.Option(help="Text encoding when detection gets it wrong, e.g. cp1252.")
    ] = None,
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
    from service.imports import service as imports
    from service.imports.request import import_request

    settings = get_settings()
    if mapping and mapping.startswith("@"):
        mapping = Path(mapping[1:]).read_text()
    with reporting_errors():
        # The same checks, and the same answers, as the upload form's.
        request = import_request(
            into,
            format=file_format,
            layer=layer,
            mapping=mapping,
            source_crs=source_crs,
            encoding=encoding,
            classification=classification,
            origin=origin,
        )

    async def run() -> bool:
        engine = create_engine(settings)
        maker = sessionmaker_for(engine)
        upload = None
        try:
            async with maker() as session:
                principal = await cli_principal(session, user)
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

    with reporting_errors():
        ok = asyncio.run(run())
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
    if report.get("encoding"):
        typer.echo(f"encoding: {report['encoding']} ({report['encoding_from']})")
    would = report["would"]
    typer.echo(
        f"would create {would['create']}, update {would['update']}, leave "
        f"{would['unchanged']} unchanged, skip {would['skip']} "
        f"of {report['counts']['read']} records; {report['counts']['errors']} error(s)"
    )
    _print_problems(report["problems"], report["problems_total"])
