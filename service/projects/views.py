"""Routes of a project's status: change it with a reason, read its history. Any other write
path (PUT, PATCH, imports) follows the same workflow and history."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from service.auth.deps import PrincipalDep
from service.core.routes import GeoJSONResponse, announce
from service.core.schemas import FeatureOut
from service.db import SessionDep
from service.idempotency import IdempotentRoute
from service.projects import service
from service.projects.collection import PROJECTS
from service.projects.schemas import ProjectHistory, ProjectStatusChange

router = APIRouter(prefix="/api/projects", tags=["Projects"], route_class=IdempotentRoute)


@router.post(
    "/{record_id}/status",
    summary="Change a project's status, with the reason",
    description="proposed → approved → ongoing → completed; cancelled from any status that is "
    "not final. 409 names the status and where it may go.",
    responses={200: {"model": FeatureOut}},
    response_class=GeoJSONResponse,
)
async def change_status(
    request: Request,
    record_id: uuid.UUID,
    change: ProjectStatusChange,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    feature = await service.change_status(session, principal, record_id, change)
    announce(request, PROJECTS, principal)
    return GeoJSONResponse(feature)


@router.get(
    "/{record_id}/history",
    response_model=ProjectHistory,
    summary="Every status of a project, and where it may go now",
)
async def status_history(
    record_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> ProjectHistory:
    return await service.history(session, principal, record_id)
