"""``civop import``: a file into a collection, with a progress bar (``service.imports``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli.common import cli_principal, reporting_errors
from service.config import get_settings
from service.db import create_engine, sessionmaker_for
from service.i18n import N_, _, format_number

HELP = N_("Import a file into a collection, in one transaction, with a progress bar.")
#: How an import ended, in words.
ENDED = {
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
    "rolled_back": N_("rolled back"),
}


def import_file(
    file: Annotated[
        Path,
        typer.Argument(help=N_("The file: .gpkg, .zip (shapefile), .geojson, .kml/.kmz, .csv")),
    ],
    into: Annotated[str, typer.Option("--into", help=N_("The collection, e.g. incidents."))],
    layer: Annotated[str | None, typer.Option(help=N_("Layer of a GeoPackage or KML."))] = None,
    mapping: Annotated[
        str | None,
        typer.Option(help=N_("JSON object (or @file.json): collection field -> file field.")),
    ] = None,
    source_crs: Annotated[str | None, typer.Option(help=N_("CRS when the file has none."))] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help=N_("Text encoding when detection gets it wrong, e.g. cp1252.")),
    ] = None,
    classification: Annotated[
        str | None, typer.Option(help=N_("public, mission (default) or restricted."))
    ] = None,
    origin: Annotated[str | None, typer.Option(help=N_("System the file's ids belong to."))] = None,
    file_format: Annotated[
        str | None, typer.Option("--format", help=N_("Only when detection gets it wrong."))
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help=N_("Check everything, write nothing."))
    ] = False,
    user: Annotated[
        str | None, typer.Option(help=N_("Act as this user (their rights apply)."))
    ] = None,
) -> None:
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
            count = described["count"]
            typer.echo(
                _(
                    "{file}: {format}, layer '{layer}', {count} records, CRS {crs} ({crs_from})",
                    file=file.name,
                    format=described["format"],
                    layer=described["layer"],
                    count=format_number(count) if count is not None else "?",
                    crs=described["crs"],
                    crs_from=described["crs_from"],
                )
            )
            if dry_run:
                async with maker() as session:
                    report = await imports.preview(session, opened, principal, request, settings)
                _print_report(report)
                return bool(report["ok"])
            async with maker() as session:
                job = await imports.create_job(session, upload, opened, principal, request)
            typer.echo(
                _(
                    "import {number} ({id}) into {collection}",
                    number=job.number,
                    id=job.id,
                    collection=into,
                )
            )
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
    with typer.progressbar(length=total or 0, label=_("importing"), show_pos=True) as bar:
        seen = 0

        async def progress(rows: int) -> None:
            nonlocal seen
            bar.update(rows - seen)
            seen = rows
            await writer(rows)

        async with maker() as session:
            done = await imports.run(session, job, opened, principal, request, settings, progress)
    typer.echo(
        _(
            "{status}: {read} read, {created} created, {updated} updated, {unchanged} unchanged",
            status=_(ENDED[done.status]) if done.status in ENDED else done.status,
            read=format_number(done.rows_read),
            created=format_number(done.created),
            updated=format_number(done.updated),
            unchanged=format_number(done.unchanged),
        )
    )
    _print_problems(done.problems, done.problems_total)
    if done.message and done.status != "succeeded":
        typer.secho(done.message, fg="red", err=True)
    return bool(done.status == "succeeded")


def _print_problems(problems: list[dict[str, Any]], total: int) -> None:
    from service.imports.schemas import said

    for problem in problems[:50]:
        where = _("row {row}", row=problem["row"]) if problem["row"] is not None else _("file")
        if problem["field"]:
            where += f", {problem['field']}"
        colour = "red" if problem["severity"] == "error" else "yellow"
        typer.secho(f"  {where}: {said(problem)}", fg=colour, err=True)
    if total > 50:
        typer.echo("  " + _("... {count} more", count=format_number(total - 50)), err=True)


def _print_report(report: dict[str, Any]) -> None:
    typer.echo(
        _(
            "mapping: {fields} (location: {location})",
            fields=report["mapping"]["fields"],
            location=report["mapping"]["location"],
        )
    )
    if report["mapping"]["not_imported"]:
        typer.echo(_("not imported: {fields}", fields=", ".join(report["mapping"]["not_imported"])))
    if report.get("encoding"):
        typer.echo(
            _(
                "encoding: {encoding} ({found_by})",
                encoding=report["encoding"],
                found_by=report["encoding_from"],
            )
        )
    would = report["would"]
    typer.echo(
        _(
            "would create {create}, update {update}, leave {unchanged} unchanged, skip {skip} "
            "of {read} records; {errors} error(s)",
            create=format_number(would["create"]),
            update=format_number(would["update"]),
            unchanged=format_number(would["unchanged"]),
            skip=format_number(would["skip"]),
            read=format_number(report["counts"]["read"]),
            errors=format_number(report["counts"]["errors"]),
        )
    )
    _print_problems(report["problems"], report["problems_total"])
