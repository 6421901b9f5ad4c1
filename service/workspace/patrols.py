"""Patrol routes and bases in the workspace. A route being drawn is checked against
humanitarian locations as it changes (the de-confliction of ``service.analysis``, with the
reader's access rules), so its conflicts show before it is saved."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response

from geo.validation import GeometryProblem, check_geometry
from service.analysis.nearby import deconfliction_layer
from service.auth.deps import PrincipalDep
from service.config import get_settings
from service.db import SessionDep
from service.enums import BaseKind, PatrolState, PatrolType
from service.i18n import N_, _
from service.patrols.collection import BASES, PATROLS
from service.workspace.drawing import (
    COORDINATES,
    DrawnArea,
    Field,
    FieldProblem,
    drawn_router,
    parse_coordinates,
)
from service.workspace.nav import NavEntry
from service.workspace.pages import fragment

#: How close (km) to a humanitarian location a route is a conflict, as the analysis defaults.
BUFFER_KM = 2.0

PATROL_TYPES = (
    (PatrolType.foot.value, N_("Foot")),
    (PatrolType.mobile.value, N_("Mobile")),
    (PatrolType.air.value, N_("Air")),
    (PatrolType.riverine.value, N_("Riverine")),
)
PATROL_STATES = (
    (PatrolState.planned.value, N_("Planned")),
    (PatrolState.conducted.value, N_("Conducted")),
)
BASE_KINDS = (
    (BaseKind.headquarters.value, N_("Headquarters")),
    (BaseKind.company_base.value, N_("Company base")),
    (BaseKind.team_site.value, N_("Team site")),
    (BaseKind.temporary_operating_base.value, N_("Temporary operating base")),
)
#: What a conflict is, by the collection it comes from.
CONFLICT_KINDS = {
    "idp_sites": N_("IDP site"),
    "actors": N_("Humanitarian actor"),
    "projects": N_("Project"),
}

PATROLS_AREA = DrawnArea(
    collection=PATROLS,
    path="patrols",
    title=N_("Patrol routes"),
    one=N_("Patrol"),
    create_label=N_("Draw a new patrol route"),
    label_title=N_("Unit"),
    coordinates_label=N_("Route"),
    label="unit",
    shapes="line",
    fields=(
        Field("unit", N_("Unit")),
        Field("patrol_type", N_("Type of patrol"), "select", PATROL_TYPES),
        Field("state", N_("State"), "select", PATROL_STATES),
        Field("start_at", N_("Start"), "datetime"),
        Field("end_at", N_("End"), "datetime"),
        Field("description", N_("Description"), "textarea"),
    ),
    listed=(("patrol_type", N_("Type")), ("state", N_("State")), ("start_at", N_("Start"))),
    checks_route=True,
)

BASES_AREA = DrawnArea(
    collection=BASES,
    path="bases",
    title=N_("Bases"),
    one=N_("Base"),
    create_label=N_("Place a new base"),
    label_title=N_("Name"),
    coordinates_label=N_("Location"),
    label="name",
    shapes="point",
    fields=(
        Field("name", N_("Name")),
        Field("unit", N_("Unit")),
        Field("base_kind", N_("Kind of base"), "select", BASE_KINDS),
    ),
    listed=(("unit", N_("Unit")), ("base_kind", N_("Kind"))),
)

patrol_pages = drawn_router(PATROLS_AREA)
NAV = [
    NavEntry(N_("Patrol routes"), PATROLS_AREA.base, action="create", collection=PATROLS.name),
    NavEntry(N_("Bases"), BASES_AREA.base, action="create", collection=BASES.name),
]


@patrol_pages.post("/check")
async def check_route(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    """The conflicts of the route in the coordinates field, as it stands (nothing is saved)."""
    form = await request.form()
    text = str(form.get(COORDINATES) or "")
    context: dict[str, Any] = {
        "area": PATROLS_AREA,
        "kinds": CONFLICT_KINDS,
        "layer": None,
        "conflicts": [],
        "problem": None,
        "buffer_km": BUFFER_KM,
    }
    if not text.strip():
        return fragment(request, "patrols/conflicts.html", context)
    try:
        raw = parse_coordinates(text, "line")
        settings = get_settings()
        route = check_geometry(
            raw, ("LineString",), settings.mission_bbox, settings.size_limits("analysis")
        )
    except FieldProblem as problem:
        return fragment(request, "patrols/conflicts.html", context | {"problem": problem.message})  # fmt: skip
    except GeometryProblem as problem:
        return fragment(request, "patrols/conflicts.html", context | {"problem": _(str(problem))})  # fmt: skip
    layer = await deconfliction_layer(session, principal, route, BUFFER_KM)
    conflicts = [f for f in json.loads(layer)["features"] if f["properties"]["role"] == "conflict"]
    context |= {"layer": layer, "conflicts": conflicts, "buffer_km": BUFFER_KM}
    return fragment(request, "patrols/conflicts.html", context)


#: The area's pages: patrols (with the route check) and bases.
router = APIRouter()
router.include_router(patrol_pages)
router.include_router(drawn_router(BASES_AREA))
