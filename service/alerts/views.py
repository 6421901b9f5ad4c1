"""Routes: alert rules (officers manage them), alerts (list, read, acknowledge, close, CAP),
and the live stream of features and alerts (server-sent events)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from service.access.actions import authorize
from service.access.policy import Principal
from service.alerts import service, webhooks
from service.alerts.access import sees_every_alert
from service.alerts.cap import area_description, atom_feed, cap_document
from service.alerts.models import AlertStatus, RuleKind
from service.alerts.schemas import RuleIn, RulePatch
from service.alerts.stream import STREAMS, cursor_of, event_token, stream
from service.auth.deps import PrincipalDep
from service.bounds import BIGINT_MAX, Instant
from service.config import get_settings
from service.core.params import parse_bbox
from service.db import SessionDep
from service.errors import InvalidInput
from service.i18n import _
from service.idempotency import IdempotentRoute

GEOJSON = "application/geo+json"
CAP = "application/cap+xml"

router = APIRouter(tags=["Early warning"], route_class=IdempotentRoute)


def _answer(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 answer as the OpenAPI document shows it: these routes build their bodies
    themselves (GeoJSON, CAP, Atom, server-sent events), so the media type is named here."""
    schema: dict[str, Any] = {"type": "object"} if "json" in media_type else {"type": "string"}
    if media_type == "text/event-stream":
        # Before OpenAPI 3.2 (``itemSchema``), the schema of an event stream describes one event.
        schema = {
            "type": "object",
            "properties": {
                "event": {"type": "string"},
                "data": {"type": "string"},
                "id": {"type": "string", "description": "Opaque; send back as Last-Event-ID"},
                "retry": {"type": "integer"},
            },
        }
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}


def _values(raw: str | None, allowed: type[Any], name: str) -> list[str] | None:
    if not raw:
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    known = {m.value for m in allowed}
    for value in values:
        if value not in known:
            raise InvalidInput(
                ["query", name],
                _(
                    "unknown {name} {value!r}; allowed: {allowed}",
                    name=name,
                    value=value,
                    allowed=sorted(known),
                ),
            )
    return values


@router.get("/api/alert_rules", summary="Alert rules")
async def list_rules(session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    authorize(principal, "read_alert_rules")
    return await service.list_rules(session)


@router.post("/api/alert_rules", status_code=201, summary="Create an alert rule (officers)")
async def create_rule(
    body: RuleIn, session: SessionDep, principal: PrincipalDep, response: Response, request: Request
) -> dict[str, Any]:
    rule = await service.create_rule(session, principal, body)
    request.app.state.alert_engine.rules_changed()
    response.headers["Location"] = str(request.url_for("get_alert_rule", rule_id=rule["id"]))
    return rule


@router.get("/api/alert_rules/{rule_id}", name="get_alert_rule", summary="One alert rule")
async def get_rule(
    rule_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    authorize(principal, "read_alert_rules")
    return await service.get_rule(session, rule_id)


@router.patch("/api/alert_rules/{rule_id}", summary="Change an alert rule (officers)")
async def update_rule(
    rule_id: uuid.UUID,
    body: RulePatch,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
) -> dict[str, Any]:
    rule = await service.update_rule(session, principal, rule_id, body)
    request.app.state.alert_engine.rules_changed()
    return rule


@router.delete("/api/alert_rules/{rule_id}", status_code=204, summary="Retire an alert rule")
async def delete_rule(rule_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Response:
    await service.delete_rule(session, principal, rule_id)
    return Response(status_code=204)


def _collection(
    request: Request, features: list[str], next_before: int | None, principal: Principal
) -> Response:
    links: list[dict[str, str]] = [{"href": str(request.url), "rel": "self", "type": GEOJSON}]
    if next_before is not None:
        # A number only to who sees every alert: others would count the hidden ones.
        before = str(next_before) if sees_every_alert(principal) else event_token(next_before)
        href = str(request.url.include_query_params(before=before))
        links.append({"href": href, "rel": "next", "type": GEOJSON})
    body = (
        '{"type":"FeatureCollection","features":['
        + ",".join(features)
        + '],"links":'
        + json.dumps(links)
        + ',"numberReturned":'
        + str(len(features))
        + "}"
    )
    return Response(body, media_type=GEOJSON)


@router.get(
    "/api/alerts",
    summary="Alerts, newest first (also the GeoJSON feed of alerts)",
    response_class=Response,
    responses=_answer(GEOJSON, "A FeatureCollection of alerts, with a `next` link"),
)
async def list_alerts(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    status: Annotated[str | None, Query(description="new, acknowledged, closed")] = None,
    kind: Annotated[str | None, Query(description="Rule kinds, comma-separated")] = None,
    rule_id: uuid.UUID | None = None,
    min_severity: Annotated[int | None, Query(ge=1, le=5)] = None,
    since: Annotated[Instant | None, Query(description="Raised at or after (RFC 3339)")] = None,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")] = None,
    sector: uuid.UUID | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    before: Annotated[
        str | None, Query(max_length=64, description="From a `next` link, as given")
    ] = None,
) -> Response:
    settings = get_settings()
    after = None if before is None else cursor_of(before)
    if before is not None and after is None and sees_every_alert(principal):
        after = int(before) if before.isdigit() and 1 <= int(before) <= BIGINT_MAX else None
    if before is not None and after is None:
        raise InvalidInput(["query", "before"], _("use the next link as it was given"))
    query = service.AlertQuery(
        status=_values(status, AlertStatus, "status"),
        kind=_values(kind, RuleKind, "kind"),
        rule_id=rule_id,
        min_severity=min_severity,
        since=since,
        bbox=parse_bbox(bbox),
        sector=sector,
        limit=min(limit or settings.page_default, settings.page_max),
        before=after,
    )
    features, next_before = await service.list_alerts(session, principal, query)
    return _collection(request, features, next_before, principal)


@router.get(
    "/api/alerts/feed.atom",
    summary="The newest alerts as an Atom feed",
    response_class=Response,
    responses=_answer("application/atom+xml", "An Atom feed, one entry per alert"),
)
async def alerts_atom(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    settings = get_settings()
    query = service.AlertQuery(limit=min(limit or settings.page_default, settings.page_max))
    features, _next = await service.list_alerts(session, principal, query)
    alert_url = str(request.url_for("get_alert", alert_id="ALERT")).replace("ALERT", "{id}")
    document = atom_feed([json.loads(f) for f in features], str(request.url), alert_url)
    return Response(document, media_type="application/atom+xml")


@router.get(
    "/api/alerts/{alert_id}",
    summary="One alert",
    response_class=Response,
    responses=_answer(GEOJSON, "The alert as a GeoJSON Feature"),
)
async def get_alert(alert_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Response:
    return Response(await service.get_alert(session, principal, alert_id), media_type=GEOJSON)


@router.get(
    "/api/alerts/{alert_id}/cap",
    summary="One alert as CAP 1.2 XML",
    response_class=Response,
    responses=_answer(CAP, "A CAP 1.2 alert message"),
)
async def get_alert_cap(
    request: Request, alert_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    row = await service.get_alert_row(session, principal, alert_id)
    url = str(request.url_for("get_alert", alert_id=alert_id))
    place = await area_description(session, principal, row)
    settings = get_settings()
    document = cap_document(
        row, settings.alert_cap_sender, url, place, languages=settings.alert_languages
    )
    return Response(document, media_type=CAP)


@router.post(
    "/api/alerts/{alert_id}/acknowledge",
    summary="Acknowledge an alert (officers)",
    response_class=Response,
    responses=_answer(GEOJSON, "The acknowledged alert as a GeoJSON Feature"),
)
async def acknowledge(
    alert_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    return Response(await service.acknowledge(session, principal, alert_id), media_type=GEOJSON)


@router.post(
    "/api/alerts/{alert_id}/close",
    summary="Close an alert (officers)",
    response_class=Response,
    responses=_answer(GEOJSON, "The closed alert as a GeoJSON Feature"),
)
async def close(alert_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Response:
    return Response(await service.close(session, principal, alert_id), media_type=GEOJSON)


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assigned_to: str | None = Field(
        None, max_length=200, description="The officer's username; null to unassign."
    )


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=5_000)


@router.post(
    "/api/alerts/{alert_id}/assign",
    summary="Assign an open alert to an officer (officers)",
    response_class=Response,
    responses=_answer(GEOJSON, "The alert as a GeoJSON Feature"),
)
async def assign(
    alert_id: uuid.UUID, body: AssignmentIn, session: SessionDep, principal: PrincipalDep
) -> Response:
    feature = await service.assign(session, principal, alert_id, body.assigned_to)
    return Response(feature, media_type=GEOJSON)


@router.get("/api/alerts/{alert_id}/notes", summary="The notes on an alert (analysts and above)")
async def list_notes(
    alert_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    return await service.notes(session, principal, alert_id)


@router.post(
    "/api/alerts/{alert_id}/notes",
    summary="Write a note on an open alert (officers)",
    status_code=201,
)
async def write_note(
    alert_id: uuid.UUID, body: NoteIn, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return await service.annotate(session, principal, alert_id, body.note)


@router.get(
    "/api/stream",
    summary="Live stream of changed features and alerts (server-sent events)",
    response_class=StreamingResponse,
    responses=_answer("text/event-stream", "Server-sent events: `feature`, `alert`, `reset`"),
)
async def live_stream(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    collections: Annotated[
        str | None, Query(description="Comma-separated; all collections and alerts when absent")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
    since: Annotated[
        str | None,
        Query(max_length=64, description="Resume after this event id (as the stream gave it)"),
    ] = None,
) -> StreamingResponse:
    wanted = set(STREAMS)
    if collections:
        wanted = {c.strip() for c in collections.split(",") if c.strip()}
        unknown = wanted - set(STREAMS)
        if unknown:
            raise InvalidInput(
                ["query", "collections"],
                _(
                    "unknown {unknown}; allowed: {allowed}",
                    unknown=sorted(unknown),
                    allowed=list(STREAMS),
                ),
            )
    # The stream takes a short session per batch: the request's (used to find the principal)
    # must not hold a pooled connection for as long as the client stays connected.
    await session.close()
    body = stream(
        request.app.state.sessionmaker,
        request.app.state.live_events,
        principal,
        last_event_id if last_event_id is not None else since,
        wanted,
        request.is_disconnected,
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class WebhookIn(BaseModel):
    name: str = Field(max_length=200)
    url: str = Field(max_length=2000)
    language: str | None = Field(
        None,
        max_length=16,
        examples=["fr"],
        description="The language of the deliveries' title and description (a language civop "
        "speaks); English when absent. Every published language is in `texts` whatever it is.",
    )


class WebhookOut(BaseModel):
    id: uuid.UUID
    name: str
    url: str
    language: str | None = None
    created_at: datetime
    created_by: str


class WebhookTried(BaseModel):
    ok: bool
    outcome: str = Field(description="The HTTP status the receiver answered, or why none.")


@router.get("/api/alert_webhooks", response_model=list[WebhookOut], summary="Alert webhooks")
async def list_webhooks(session: SessionDep, principal: PrincipalDep) -> list[WebhookOut]:
    found = await webhooks.listed(session, principal)
    return [WebhookOut.model_validate(w, from_attributes=True) for w in found]


@router.post(
    "/api/alert_webhooks",
    response_model=WebhookOut,
    status_code=201,
    summary="Add an alert webhook (admins)",
)
async def add_webhook(body: WebhookIn, session: SessionDep, principal: PrincipalDep) -> WebhookOut:
    added = await webhooks.add(
        session, principal, name=body.name, url=body.url, language=body.language
    )
    return WebhookOut.model_validate(added, from_attributes=True)


@router.post(
    "/api/alert_webhooks/{webhook_id}/test",
    response_model=WebhookTried,
    summary="POST a test message to an alert webhook (admins)",
)
async def test_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> WebhookTried:
    tried = await webhooks.test(session, principal, webhook_id)
    return WebhookTried(ok=tried.ok, outcome=tried.outcome)


@router.delete(
    "/api/alert_webhooks/{webhook_id}", status_code=204, summary="Remove an alert webhook"
)
async def remove_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    await webhooks.remove(session, principal, webhook_id)
    return Response(status_code=204)
