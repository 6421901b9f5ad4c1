"""Routes of the reports, under ``/api/reports``: the CIV-OES brief and the hand-over report for
an area and a period, as HTML or PDF, made from what the caller may see."""

# No ``from __future__ import annotations``: the routes' parameters are documented with
# values known when each route is made.
import uuid
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from service.auth.deps import PrincipalDep
from service.db import SessionDep
from service.i18n import LANGUAGE
from service.jobs import service as jobs
from service.jobs import views as jobs_views
from service.reports.files import Format, report_query
from service.reports.service import DEFAULT_DAYS, Kind, check_report
from service.request_language import asked_language

router = APIRouter(prefix="/api/reports", tags=["Reports"])

AREA_DOC = "The area: a sector (and its sub-areas, as you see its boundary) and/or a bbox."


def _route(kind: Kind, summary: str, description: str) -> None:
    async def report(
        request: Request,
        session: SessionDep,
        principal: PrincipalDep,
        sector: Annotated[uuid.UUID | None, Query(description=AREA_DOC)] = None,
        bbox: Annotated[
            str | None, Query(description="minLon,minLat,maxLon,maxLat (WGS 84).")
        ] = None,
        start: Annotated[
            str | None,
            Query(
                description=f"Start of the period (date or RFC 3339); default: "
                f"{DEFAULT_DAYS[kind]} days before the end."
            ),
        ] = None,
        end: Annotated[
            str | None, Query(description="End of the period (date or RFC 3339); default: now.")
        ] = None,
        format: Annotated[Format, Query(description="html or pdf.")] = "html",
        verified_only: Annotated[
            bool,
            Query(
                description="Count verified incidents only (the default); `false` counts field "
                "reports not yet judged too (never discredited ones nor merged duplicates)."
            ),
        ] = True,
        lang: Annotated[
            str | None,
            Query(
                description="The report's language (en, fr, ar); default: the language you "
                "chose, else your browser's (Accept-Language).",
                max_length=16,
            ),
        ] = None,
    ) -> Response:
        query = replace(report_query(kind, sector, bbox, start, end), verified_only=verified_only)
        await check_report(session, principal, query)
        # A report reads the whole area and period and draws maps and charts: always a job,
        # built by a worker process as the user (``service.job_runner.kinds.report``).
        params = {
            "report": query.kind,
            "sector": str(query.sector) if query.sector else None,
            "bbox": list(query.bbox) if query.bbox else None,
            "start": query.start.isoformat() if query.start else None,
            "end": query.end.isoformat() if query.end else None,
            "format": format,
            "verified_only": query.verified_only,
            "language": asked_language(lang, LANGUAGE.get()),
        }
        job = await jobs.submit(session, principal, "report", params, total=100, unit="percent")
        return jobs_views.accepted(request, job, principal)

    router.add_api_route(
        f"/{kind}",
        report,
        methods=["GET"],
        summary=summary,
        description=description,
        response_class=Response,
        status_code=202,
        responses={
            202: {
                "description": "The report is being made by a worker: follow the job at "
                "`Location`; its `result` link gives the HTML or PDF when it is done."
            },
            429: {"description": "Too many jobs queued (`Retry-After` given)."},
        },
        operation_id=f"report_{kind.replace('-', '_')}",
    )


_route(
    "civ-oes",
    "The CIV-OES brief for an area and a period",
    "Map of the area, incident trends by category, the most exposed IDP sites and why, hot "
    "spots and their trend, coverage gaps, projects at risk, open requests for civil "
    "assistance and recent alerts. Every figure is computed from what you may see. "
    "Default period: the 30 days before now.",
)
_route(
    "handover",
    "The hand-over report for an incoming commander's area",
    "The CIV-OES brief with the area's profile, armed groups near IDP sites, the approved and "
    "ongoing projects and the open alerts: the protection picture a newcomer reads in ten "
    "minutes. Every figure is computed from what you may see. Default period: the 90 days "
    "before now.",
)
