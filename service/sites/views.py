from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from service.auth.deps import PrincipalDep
from service.db import SessionDep
from service.idempotency import IdempotentRoute
from service.sites import service
from service.sites.schemas import PopulationFigure, PopulationFigureIn, PopulationFigurePatch

router = APIRouter(prefix="/api/idp_sites", tags=["IDP sites"], route_class=IdempotentRoute)


@router.get(
    "/{site_id}/population", response_model=list[PopulationFigure], summary="Population history"
)
async def population_history(
    site_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    withdrawn: Annotated[
        bool, Query(description="Include withdrawn figures, with who withdrew them and why.")
    ] = False,
) -> list[PopulationFigure]:
    return await service.population_history(session, principal, site_id, withdrawn)


@router.post(
    "/{site_id}/population",
    response_model=PopulationFigure,
    status_code=201,
    summary="Add a population figure",
)
async def add_population(
    request: Request,
    site_id: uuid.UUID,
    figure: PopulationFigureIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> PopulationFigure:
    figure_added = await service.add_population(session, principal, site_id, figure)
    request.app.state.changes.announce("idp_sites")
    request.app.state.reads.wrote(principal.username)
    return figure_added


FIGURE = "/{site_id}/population/{figure_id}"
FIGURE_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such site, or no such figure of it."},
    409: {"description": "The figure was withdrawn: it cannot change."},
}


def _changed(request: Request, username: str) -> None:
    request.app.state.changes.announce("idp_sites")
    request.app.state.reads.wrote(username)


@router.patch(
    FIGURE,
    response_model=PopulationFigure,
    summary="Correct a population figure (the fields given)",
    responses=FIGURE_ERRORS,
)
async def correct_population(
    request: Request,
    site_id: uuid.UUID,
    figure_id: uuid.UUID,
    correction: PopulationFigurePatch,
    session: SessionDep,
    principal: PrincipalDep,
) -> PopulationFigure:
    corrected = await service.correct_population(session, principal, site_id, figure_id, correction)
    _changed(request, principal.username)
    return corrected


@router.put(
    FIGURE,
    response_model=PopulationFigure,
    summary="Replace a population figure",
    responses=FIGURE_ERRORS,
)
async def replace_population(
    request: Request,
    site_id: uuid.UUID,
    figure_id: uuid.UUID,
    figure: PopulationFigureIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> PopulationFigure:
    replaced = await service.correct_population(session, principal, site_id, figure_id, figure)
    _changed(request, principal.username)
    return replaced


@router.delete(
    FIGURE,
    status_code=204,
    summary="Withdraw a wrong population figure (it is kept, with who, when and why)",
    responses=FIGURE_ERRORS,
)
async def withdraw_population(
    request: Request,
    site_id: uuid.UUID,
    figure_id: uuid.UUID,
    reason: Annotated[
        str,
        Query(
            min_length=1,
            max_length=1000,
            pattern=r"\S",
            description="Why the figure is withdrawn: kept with the figure and in the audit trail.",
        ),
    ],
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    await service.withdraw_population(session, principal, site_id, figure_id, reason)
    _changed(request, principal.username)
    return Response(status_code=204)
