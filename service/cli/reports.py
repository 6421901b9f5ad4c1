"""``civop report``: the CIV-OES brief and the hand-over report as files, made from what a user
may see (``--user``; without it, the command line's own full view)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from service.cli.common import cli_principal, fail, with_session
from service.i18n import N_, _

if TYPE_CHECKING:  # the command line starts fast: the report machinery loads when used
    from sqlalchemy.ext.asyncio import AsyncSession

    from service.access.policy import Principal

Kind = Literal["civ-oes", "handover"]

report_app = typer.Typer(
    help=N_("Reports: the CIV-OES brief and the hand-over report, in the command line's language"),
    no_args_is_help=True,
)

SectorOption = Annotated[
    str | None,
    typer.Option(help=N_("The area: a sector's id or exact name (with its sub-areas).")),
]
BboxOption = Annotated[str | None, typer.Option(help=N_("Or a box: minLon,minLat,maxLon,maxLat."))]
StartOption = Annotated[
    str | None, typer.Option(help=N_("Start of the period (date or RFC 3339)."))
]
EndOption = Annotated[str | None, typer.Option(help=N_("End of the period (default: now)."))]
FormatOption = Annotated[str, typer.Option("--format", help=N_("pdf or html."))]
OutputOption = Annotated[
    Path | None,
    typer.Option(help=N_("Where to write (default: a name from the area and date).")),
]
UserOption = Annotated[
    str | None,
    typer.Option(help=N_("Make the report from what this user may see (a partner's...).")),
]


async def sector_id(session: AsyncSession, principal: Principal, given: str) -> uuid.UUID:
    """A sector by id, or by its exact name as the principal sees it."""
    from sqlalchemy import select

    from service.access.sql import view
    from service.errors import InvalidInput, NotFound
    from service.sectors.models import Sector

    try:
        return uuid.UUID(given)
    except ValueError:
        pass
    v = view(Sector.__table__, principal)  # type: ignore[arg-type]
    found = (
        await session.scalars(select(v.column("id")).where(v.where, v.column("name") == given))
    ).all()
    if not found:
        raise NotFound(_("no sector named '{name}' that this user may see", name=given))
    if len(found) > 1:
        raise InvalidInput(
            ["sector"],
            _("{count} sectors are named '{name}'; give its id", count=len(found), name=given),
        )
    return uuid.UUID(str(found[0]))


def _make(
    kind: Kind,
    sector: str | None,
    bbox: str | None,
    start: str | None,
    end: str | None,
    output_format: str,
    output: Path | None,
    user: str | None,
) -> None:
    from service.reports.files import Format, file_name, rendered, report_query
    from service.reports.service import ReportQuery, build_report

    if output_format not in ("pdf", "html"):
        fail(_("--format is pdf or html, not '{value}'", value=output_format))
    chosen: Format = "pdf" if output_format == "pdf" else "html"

    async def run(session: AsyncSession) -> Path:
        principal = await cli_principal(session, user)
        query: ReportQuery = report_query(kind, None, bbox, start, end)
        if sector is not None:
            query = ReportQuery(
                kind=kind,
                sector=await sector_id(session, principal, sector),
                bbox=query.bbox,
                start=query.start,
                end=query.end,
            )
        report = await build_report(session, principal, query)
        content, _media_type = await rendered(report, chosen)
        target = output or Path(file_name(report, chosen))
        target.write_bytes(content)
        return target

    target = with_session(run)
    typer.echo(_("{kind} report written to {file}", kind=kind, file=target))


@report_app.command(
    "civ-oes",
    help=N_("The CIV-OES brief for an area and a period (default: the last 30 days)."),
)
def civ_oes(
    sector: SectorOption = None,
    bbox: BboxOption = None,
    start: StartOption = None,
    end: EndOption = None,
    output_format: FormatOption = "pdf",
    output: OutputOption = None,
    user: UserOption = None,
) -> None:
    _make("civ-oes", sector, bbox, start, end, output_format, output, user)


@report_app.command(
    "handover",
    help=N_("The hand-over report for an incoming commander's area (default: the last 90 days)."),
)
def handover(
    sector: SectorOption = None,
    bbox: BboxOption = None,
    start: StartOption = None,
    end: EndOption = None,
    output_format: FormatOption = "pdf",
    output: OutputOption = None,
    user: UserOption = None,
) -> None:
    _make("handover", sector, bbox, start, end, output_format, output, user)
