from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from service.access.deps import PrincipalDep
from service.db import SessionDep
from service.idempotency import IdempotentRoute
from service.sites import service
from service.sites.schemas import PopulationFigure, PopulationFigureIn

router = APIRouter(prefix="/api/idp_sites", tags=["IDP sites"], route_class=IdempotentRoute)


@router.get(
    "/{site_id}/population", response_model=list[PopulationFigure], summary="Population history"
)
async def population_history(
    site_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> list[PopulationFigure]:
    return await service.population_history(session, principal, site_id)


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
