"""Incidents in the browser, for the UN-CIMIC officer and the JOC duty officer: report one
(where by a click on the map, decimal degrees, an MGRS reference or a place), correct it,
list the latest. Every write goes through the same schema (``FeatureIn`` of the incidents'
properties) and service (``service.core.records``) as ``/api/incidents``; a report sent
again with the same ``Idempotency-Key`` (the browser's outbox) is written once."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from service.access.actions import collection_actions
from service.access.policy import Principal
from service.actors.collection import ACTORS
from service.auth.deps import PrincipalDep
from service.core import records
from service.core.params import ListQuery
from service.core.schemas import FeatureIn
from service.db import SessionDep
from service.enums import Classification, IncidentCategory, LocationPrecision, SourceReliability
from service.errors import Forbidden, InvalidInput
from service.i18n import N_, _
from service.idempotency import IdempotentRoute
from service.incidents.collection import INCIDENTS
from service.incidents.schemas import IncidentProperties
from service.viewer.styles import label as value_label
from service.workspace import pages
from service.workspace.forms import FormErrors, from_local_input, local_input
from service.workspace.nav import NavEntry
from service.workspace.times import local_text

router = APIRouter(include_in_schema=False, route_class=IdempotentRoute)

NAV = [
    NavEntry(N_("Report an incident"), "/workspace/incidents/new", "create", "incidents"),
    NavEntry(N_("Incidents"), "/workspace/incidents"),
]
PAGES = {("incidents", "edit"): "/workspace/incidents/{id}/edit"}

#: The form's fields, in the order it shows them (the error summary follows it).
FIELDS = (
    "category",
    "geometry",
    "latitude",
    "longitude",
    "mgrs",
    "location_precision",
    "occurred_at",
    "reported_at",
    "severity",
    "killed",
    "injured",
    "displaced",
    "perpetrator_actor_id",
    "source",
    "source_reliability",
    "source_credibility",
    "classification",
    "description",
)
LABELS = {
    "category": N_("What happened"),
    "geometry": N_("Where"),
    "latitude": N_("Latitude"),
    "longitude": N_("Longitude"),
    "mgrs": N_("MGRS grid reference"),
    "location_precision": N_("How precise the location is"),
    "occurred_at": N_("When it happened"),
    "reported_at": N_("When it was reported"),
    "severity": N_("Severity"),
    "killed": N_("Killed"),
    "injured": N_("Injured"),
    "displaced": N_("Displaced"),
    "perpetrator_actor_id": N_("Perpetrator"),
    "source": N_("Source"),
    "source_reliability": N_("Reliability of the source"),
    "source_credibility": N_("Credibility of the information"),
    "classification": N_("Who may see it"),
    "description": N_("Description"),
}
SEVERITIES = [
    (1, N_("1: minor")),
    (2, N_("2: moderate")),
    (3, N_("3: serious")),
    (4, N_("4: severe")),
    (5, N_("5: mass casualties")),
]
RELIABILITY = {
    "A": N_("A: completely reliable"),
    "B": N_("B: usually reliable"),
    "C": N_("C: fairly reliable"),
    "D": N_("D: not usually reliable"),
    "E": N_("E: unreliable"),
    "F": N_("F: reliability cannot be judged"),
}
CREDIBILITY = [
    (1, N_("1: confirmed by other sources")),
    (2, N_("2: probably true")),
    (3, N_("3: possibly true")),
    (4, N_("4: doubtful")),
    (5, N_("5: improbable")),
    (6, N_("6: truth cannot be judged")),
]
PRECISION = {
    "exact": N_("Exact: seen or measured on the spot"),
    "approximate": N_("Approximate: within a few kilometres"),
    "area": N_("An area only: the village or locality"),
}
CLASSIFICATION = {
    "public": N_("Public: partners may see it"),
    "mission": N_("Mission: mission staff only"),
    "restricted": N_("Restricted: cleared staff only"),
}
#: Counts that are 0 when left empty, as in the API.
COUNTS = ("killed", "injured", "displaced")

Body: Any = FeatureIn[IncidentProperties]


async def _actors(session: SessionDep, principal: Principal) -> list[tuple[str, str]]:
    """The actors the user may see, by name, for the perpetrator list."""
    page = await records.list_features(session, ACTORS, principal, ListQuery(limit=1000))
    found = []
    for text in page.features:
        feature = json.loads(text)
        name = (feature.get("properties") or {}).get("name")
        if name:
            found.append((str(feature["id"]), str(name)))
    return sorted(found, key=lambda pair: pair[1].casefold())


def _options(principal: Principal) -> dict[str, Any]:
    cleared = principal.cleared_for
    return {
        "categories": [(c.value, _(value_label(c.value))) for c in IncidentCategory],
        "severities": [(v, _(t)) for v, t in SEVERITIES],
        "reliability": [(r.value, _(RELIABILITY[r.value])) for r in SourceReliability],
        "credibility": [(v, _(t)) for v, t in CREDIBILITY],
        "precision": [(p.value, _(PRECISION[p.value])) for p in LocationPrecision],
        "classifications": [
            (c.value, _(CLASSIFICATION[c.value])) for c in Classification if c in cleared
        ],
        "labels": {name: _(text) for name, text in LABELS.items()},
    }


def _blank(principal: Principal) -> dict[str, Any]:
    cleared = principal.cleared_for
    return {
        "category": "",
        "latitude": "",
        "longitude": "",
        "mgrs": "",
        "location_precision": "exact",
        "occurred_at": local_input(datetime.now().astimezone()),
        "reported_at": "",
        "severity": "",
        "killed": 0,
        "injured": 0,
        "displaced": 0,
        "perpetrator_actor_id": "",
        "source": "",
        "source_reliability": "",
        "source_credibility": "",
        "classification": "mission" if Classification.mission in cleared else "public",
        "description": "",
    }


def _from_feature(feature: Mapping[str, Any]) -> dict[str, Any]:
    p = dict(feature.get("properties") or {})
    lon, lat = (feature.get("geometry") or {}).get("coordinates") or ("", "")
    values = {name: p.get(name) for name in FIELDS if name in p}
    values.update(
        latitude=lat,
        longitude=lon,
        mgrs="",
        occurred_at=local_input(p.get("occurred_at")),
        reported_at=local_input(p.get("reported_at")),
    )
    return {k: "" if v is None else v for k, v in values.items()}


def _read(form: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], FormErrors]:
    """The form as typed (to show again) and as the API's body, with what could not be read
    before the schema checks it."""
    typed = {name: str(form.get(name, "")).strip() for name in FIELDS if name != "geometry"}
    errors = FormErrors()
    properties: dict[str, Any] = {}
    for name in FIELDS:
        if name in ("geometry", "latitude", "longitude", "mgrs"):
            continue
        value = typed[name]
        if name in ("occurred_at", "reported_at"):
            try:
                properties[name] = from_local_input(value)
            except ValueError:
                errors.add(name, _("Enter a date and time, such as 2026-10-01 14:30."))
                continue
            if properties[name] is None and name == "occurred_at":
                del properties[name]  # missing: the schema says so
            continue
        if value == "":
            if name in COUNTS:
                properties[name] = 0
            elif name not in ("category", "severity", "classification", "location_precision"):
                properties[name] = None
            continue
        properties[name] = value
    geometry: dict[str, Any] | None = None
    try:
        if typed["latitude"] == "" and typed["longitude"] == "":
            errors.add(
                "geometry",
                _(
                    "Give the place: click on the map, type coordinates or an MGRS reference, or choose a place."
                ),
            )
        else:
            point = [float(typed["longitude"]), float(typed["latitude"])]
            if not all(math.isfinite(v) for v in point):
                raise ValueError("not a finite number")
            geometry = {"type": "Point", "coordinates": point}
    except ValueError:
        errors.add(
            "geometry", _("Enter latitude and longitude as decimal degrees, such as 4.3612.")
        )
    return typed, {"type": "Feature", "geometry": geometry, "properties": properties}, errors


def _form_page(
    request: Request,
    principal: Principal,
    values: dict[str, Any],
    actors: list[tuple[str, str]],
    *,
    record_id: uuid.UUID | None,
    errors: FormErrors | None = None,
    typed: bool = False,
) -> Response:
    template = "incidents/edit.html" if record_id else "incidents/new.html"
    return pages.render(
        request,
        template,
        {
            **_options(principal),
            "values": values,
            "actors": actors,
            "errors": errors or FormErrors(),
            "typed": typed,
            "record_id": record_id,
        },
        status_code=422 if errors else 200,
    )


async def _write(
    request: Request,
    session: SessionDep,
    principal: Principal,
    record_id: uuid.UUID | None,
) -> Response:
    typed, body, errors = _read(await request.form())
    feature: Any = None
    try:
        feature = Body.model_validate({**body, "geometry": body["geometry"] or None})
    except ValidationError as invalid:
        for name, message in FormErrors.of(invalid.errors(), FIELDS, "geometry").fields.items():
            errors.add(name, message)
    if not errors and feature is not None:
        try:
            if record_id is None:
                record_id, _written = await records.create_feature(
                    session, INCIDENTS, principal, feature.properties, feature.geometry
                )
                return pages.fragment(
                    request, "incidents/reported.html", {"record_id": record_id, "new": True}
                )
            await records.update_feature(
                session,
                INCIDENTS,
                principal,
                record_id,
                feature.properties,
                feature.geometry,
                replace=False,
            )
            return pages.fragment(
                request, "incidents/reported.html", {"record_id": record_id, "new": False}
            )
        except InvalidInput as invalid:
            errors = FormErrors.of(invalid.detail(), FIELDS, "geometry")
    actors = await _actors(session, principal)
    return _form_page(
        request,
        principal,
        typed,
        actors,
        record_id=record_id,
        errors=errors.ordered(FIELDS),
        typed=True,
    )


@router.get("/workspace/incidents/new")
async def new_incident(
    request: Request, principal: pages.PagePrincipal, session: SessionDep
) -> Response:
    if principal is None:
        return pages.shell(request, "incidents/new.html")
    if "create" not in collection_actions(principal, INCIDENTS.name):
        raise Forbidden(_("your role may not report incidents; officers and admins may"))
    values = _blank(principal)
    for name in ("latitude", "longitude"):  # a point given by the link (from a map)
        values[name] = request.query_params.get(name, "")
    return _form_page(request, principal, values, await _actors(session, principal), record_id=None)


@router.post("/workspace/incidents")
async def report_incident(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> Response:
    return await _write(request, session, principal, None)


@router.get("/workspace/incidents/{record_id}/edit")
async def edit_incident(
    request: Request, record_id: uuid.UUID, principal: pages.PagePrincipal, session: SessionDep
) -> Response:
    if principal is None:
        return pages.shell(request, "incidents/edit.html", {"record_id": record_id})
    feature = json.loads(await records.get_feature(session, INCIDENTS, principal, record_id))
    if "edit" not in feature.get("actions", []):
        raise Forbidden(_("you may not change this incident"))
    return _form_page(
        request,
        principal,
        _from_feature(feature),
        await _actors(session, principal),
        record_id=record_id,
    )


@router.post("/workspace/incidents/{record_id}")
async def correct_incident(
    request: Request, record_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Response:
    return await _write(request, session, principal, record_id)


def incident_row(feature: Mapping[str, Any]) -> dict[str, Any]:
    """What a list of incidents shows of one, in the reader's words: its id, category, time and
    severity."""
    p = feature.get("properties") or {}
    return {
        "id": feature["id"],
        "category": _(value_label(str(p.get("category", "")))),
        "occurred": local_text(p.get("occurred_at")),
        "severity": p.get("severity", ""),
    }


@router.get("/workspace/incidents")
async def incident_list(
    request: Request, principal: pages.PagePrincipal, session: SessionDep
) -> Response:
    if principal is None:
        return pages.shell(request, "incidents/list.html")
    page = await records.list_features(session, INCIDENTS, principal, ListQuery(limit=50))
    rows = []
    for text in page.features:
        feature = json.loads(text)
        p = feature.get("properties") or {}
        rows.append({**incident_row(feature), "generalised": bool(p.get("generalised"))})
    may_report = "create" in collection_actions(principal, INCIDENTS.name)
    return pages.render(request, "incidents/list.html", {"rows": rows, "may_report": may_report})
