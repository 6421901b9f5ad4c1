"""``POST /api/prints``: print the map's view (PDF or PNG), made by the job worker."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.auth.deps import PrincipalDep
from service.db import SessionDep
from service.jobs import service as jobs
from service.jobs import views as jobs_views
from service.prints.service import PrintRequest

router = APIRouter(prefix="/api/prints", tags=["Map viewer"])


@router.post(
    "",
    status_code=202,
    summary="Print the map's view for a briefing (PDF or PNG)",
    description="Queues a job that draws the view as you may see it: basemap, areas, places, "
    "IDP sites and incidents with the filters given, a title, legend, scale bar, north "
    "arrow, the period, the classification banner of the most sensitive record drawn, and "
    "who printed it when. Follow the job at `Location`; its result is the file.",
)
async def print_view(
    request: Request, body: PrintRequest, session: SessionDep, principal: PrincipalDep
) -> JSONResponse:
    job = await jobs.submit(
        session, principal, "print", body.model_dump(mode="json"), total=100, unit="percent"
    )
    return jobs_views.accepted(request, job, principal)
