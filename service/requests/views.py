"""Routes of requests for civil assistance under ``/api/assistance_requests``: the collection's
list, read, replace, change and delete like every collection; submission (partners too); one
route per workflow step; the history."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, create_model

from service.auth.deps import PrincipalDep
from service.core.routes import GeoJSONResponse, announce, collection_router
from service.core.schemas import FeatureIn, FeatureOut
from service.db import SessionDep
from service.requests import service
from service.requests.collection import ASSISTANCE_REQUESTS
from service.requests.schemas import (
    CompletionIn,
    DecisionIn,
    DeliveredByOtherIn,
    RequestHistory,
    RequestSubmission,
    ReviewIn,
    WithdrawalIn,
)
from service.requests.workflow import Step

COLLECTION = ASSISTANCE_REQUESTS
PREFIX = f"/api/{COLLECTION.name}"

STEP_BODIES: dict[Step, tuple[type[BaseModel], str]] = {
    Step.review: (ReviewIn, "Start the review of a submitted request"),
    Step.humanitarian_decision: (
        DecisionIn,
        "Record the humanitarian side's decision (DSRSG/RC/HC)",
    ),
    Step.military_decision: (DecisionIn, "Record the military side's decision (HOMC)"),
    Step.srsg_decision: (DecisionIn, "Record the SRSG's decision when the two sides disagree"),
    Step.complete: (CompletionIn, "Record that the support was delivered"),
    Step.delivered_by_other: (DeliveredByOtherIn, "Record that another actor delivered it"),
    Step.withdraw: (WithdrawalIn, "Withdraw the request"),
}


def _router() -> APIRouter:
    router = collection_router(COLLECTION)
    # The generic create is for officers; a request is submitted by its requester too.
    router.routes = [
        route
        for route in router.routes
        if not (
            isinstance(route, APIRoute) and route.path == PREFIX and "POST" in (route.methods or ())
        )
    ]
    submission: type[BaseModel] = create_model(
        "AssistanceRequestSubmission",
        __base__=FeatureIn[RequestSubmission],
    )

    async def submit(
        request: Request, body: Any, session: SessionDep, principal: PrincipalDep
    ) -> Response:
        record_id, feature = await service.submit(
            session, principal, body.properties, body.geometry
        )
        announce(request, COLLECTION, principal)
        response = GeoJSONResponse(feature, status_code=201)
        response.headers["Location"] = str(
            request.url_for(f"get_{COLLECTION.name}", record_id=record_id)
        )
        return response

    submit.__annotations__["body"] = submission
    router.add_api_route(
        "",
        submit,
        methods=["POST"],
        status_code=201,
        summary="Submit a request for civil assistance",
        description="Partners submit for their own actor; officers and admins record requests "
        "on behalf of any actor. The request starts `submitted`.",
        responses={201: {"model": FeatureOut}},
        operation_id=f"submit_{COLLECTION.name}",
        response_class=GeoJSONResponse,
        tags=[COLLECTION.title],
    )
    for step, (body_model, summary) in STEP_BODIES.items():
        router.add_api_route(
            f"/{{record_id}}/{step.path}",
            _step_endpoint(step, body_model),
            methods=["POST"],
            summary=summary,
            description="409 when the request's state does not allow this step (the answer "
            "names the state and the steps allowed now).",
            responses={200: {"model": FeatureOut}},
            operation_id=f"{step.value}_{COLLECTION.name}",
            response_class=GeoJSONResponse,
            tags=[COLLECTION.title],
        )
    router.add_api_route(
        "/{record_id}/history",
        history,
        methods=["GET"],
        summary="Every step of a request, and the steps allowed now",
        response_model=RequestHistory,
        operation_id=f"history_{COLLECTION.name}",
        tags=[COLLECTION.title],
    )
    return router


def _step_endpoint(step: Step, body_model: type[BaseModel]) -> Callable[..., Awaitable[Response]]:
    async def take(
        request: Request,
        record_id: uuid.UUID,
        body: Any,
        session: SessionDep,
        principal: PrincipalDep,
    ) -> Response:
        feature = await service.take_step(session, principal, record_id, step, body)
        announce(request, COLLECTION, principal)
        return GeoJSONResponse(feature)

    take.__annotations__["body"] = body_model
    take.__name__ = f"take_{step.value}"
    return take


async def history(
    record_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> RequestHistory:
    return await service.history(session, principal, record_id)


router = _router()
