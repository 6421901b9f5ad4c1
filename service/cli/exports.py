"""``civop export``: a collection, with the list filters, as a file (``service.exports``)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from service.cli.common import cli_principal, with_session
from service.i18n import N_, SOURCE_LANGUAGE, _, in_language

HELP = N_("Export a collection (with the list filters) as a file.")


def export_file(
    collection: Annotated[str, typer.Argument(help=N_("The collection, e.g. idp_sites."))],
    file_format: Annotated[
        str, typer.Option("--format", help=N_("geojson, gpkg, shapefile, kml or csv (HXL)."))
    ] = "gpkg",
    output: Annotated[
        Path | None, typer.Option(help=N_("Where to write (default: ./<name>)."))
    ] = None,
    user: Annotated[
        str | None, typer.Option(help=N_("Export what this user may see (a partner's view...)."))
    ] = None,
    bbox: Annotated[str | None, typer.Option(help=N_("minLon,minLat,maxLon,maxLat"))] = None,
    datetime: Annotated[str | None, typer.Option(help=N_("Instant or interval start/end."))] = None,
    sector: Annotated[uuid.UUID | None, typer.Option(help=N_("Within this sector."))] = None,
    q: Annotated[str | None, typer.Option(help=N_("Text search."))] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help=N_("Enumerated filter, e.g. category=abduction (repeatable).")),
    ] = None,
) -> None:
    import shutil

    from service.collections.registry import collection_named
    from service.core.params import list_query
    from service.exports.service import export

    raw: dict[str, str | None] = {}
    for item in where or []:
        name, _equals, value = item.partition("=")
        raw[name] = value

    async def run(session: AsyncSession) -> Path:
        found = collection_named(collection)
        principal = await cli_principal(session, user)
        query = list_query(
            found.properties,
            found.filters,
            bbox=bbox,
            datetime=datetime,
            sector=sector,
            q=q,
            filters=raw,
        )
        # Written where the API writes its exports (the import directory), then moved. A file
        # for programs: its columns are the same in every language.
        with in_language(SOURCE_LANGUAGE):
            exported = await export(session, found, principal, query, file_format)
        target = output or Path(exported.filename)
        shutil.move(str(exported.path), target)
        exported.discard()
        return target

    target = with_session(run)
    typer.echo(_("{collection} exported to {file}", collection=collection, file=target))
