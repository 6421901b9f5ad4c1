"""De-confliction of a patrol route and "what is near" a place."""

from __future__ import annotations

import uuid
from typing import Any

import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from geo.analysis import deconfliction
from service.access.policy import Principal
from service.access.sql import view
from service.actors.models import Actor
from service.analysis.geojson import feature, feature_collection, round_km
from service.analysis.inputs import ACTOR_FIELDS, PROJECT_FIELDS, SITE_FIELDS, fetch_places
from service.analysis.scope import (
    Scope,
    geometry_literal,
    inside_conditions,
    near_conditions,
    table_of,
)
from service.errors import Forbidden, NotFound
from service.i18n import _
from service.incidents.models import Incident
from service.incidents.verification import counted as counted_incidents
from service.patrols.models import OperatingBase, Patrol
from service.projects.models import Project
from service.sites.models import IdpSite

# ---------------------------------------------------------------------------------------------
# De-confliction and "what is near"
# ---------------------------------------------------------------------------------------------


async def stored_route(
    session: AsyncSession, principal: Principal, patrol_id: uuid.UUID
) -> BaseGeometry:
    """A patrol's route as the principal sees it; hidden and unknown patrols are alike."""
    v = view(table_of(Patrol), principal)
    found = await session.scalar(
        select(func.ST_AsBinary(v.column("geom"))).where(v.where, v.table.c.id == patrol_id)
    )
    if found is None:
        raise NotFound(_("no such record in patrols"))
    route = shapely.from_wkb(bytes(found))
    if route.geom_type != "LineString":  # shown generalised: the route itself is not yours
        raise Forbidden(_("you are not cleared for this patrol's route; post the route instead"))
    return route


async def deconfliction_layer(
    session: AsyncSession,
    principal: Principal,
    route: BaseGeometry,
    buffer_km: float,
    patrol_id: uuid.UUID | None = None,
) -> str:
    """Humanitarian locations (IDP sites, humanitarian actors, projects) within the buffer
    of a route, each with its distance and where along the route it happens."""
    area = route.envelope if route.envelope.geom_type == "Polygon" else route.buffer(1e-6)
    actors = view(table_of(Actor), principal)
    groups = [
        ("idp_sites", IdpSite, SITE_FIELDS, []),
        ("actors", Actor, ACTOR_FIELDS, [actors.column("humanitarian").is_(True)]),
        ("projects", Project, PROJECT_FIELDS, []),
    ]
    features = [feature(patrol_id, route, {"role": "route", "patrol_id": patrol_id})]
    by_collection: dict[str, int] = {}
    for name, model, fields, conditions in groups:
        places = await fetch_places(
            session, principal, model, fields, conditions, area=area, margin_km=buffer_km
        )
        conflicts = deconfliction.route_conflicts(
            route, places.lon, places.lat, buffer_km, shapes=places.area_shapes
        )
        by_collection[name] = len(conflicts)
        for conflict in conflicts:
            k = conflict.index
            features.append(
                feature(
                    places.ids[k],
                    places.shapes[k],
                    {
                        "role": "conflict",
                        "collection": name,
                        **places.properties[k],
                        "distance_km": round_km(conflict.distance_km),
                        "along_km": round_km(conflict.along_km),
                    },
                )
            )
    conflict_features = sorted(features[1:], key=lambda f: f["properties"]["distance_km"])
    from geo.analysis.geodesy import geodesic_km

    coords = shapely.get_coordinates(route)
    length = float(geodesic_km(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1]).sum())
    summary = {
        "conflicts": len(conflict_features),
        "by_collection": by_collection,
        "route_km": round(length, 3),
    }
    return feature_collection(
        [features[0], *conflict_features],
        summary,
        {"buffer_km": buffer_km, "patrol": patrol_id},
    )


NEAR_FIELDS: dict[str, tuple[type[Any], tuple[str, ...], str | None]] = {
    "idp_sites": (IdpSite, ("name", "site_type", "status", "population_individuals"), None),
    "actors": (Actor, ("name", "category", "humanitarian"), None),
    "projects": (Project, ("title", "kind", "status"), None),
    "incidents": (Incident, ("category", "severity", "occurred_at"), "occurred_at"),
    "patrols": (Patrol, ("patrol_type", "state", "start_at"), "start_at"),
    "bases": (OperatingBase, ("name", "base_kind"), None),
}


async def near_layer(
    session: AsyncSession,
    principal: Principal,
    place: BaseGeometry,
    radius_km: float,
    scope: Scope,
    limit: int,
) -> str:
    """Everything the principal sees within ``radius_km`` of a point or polygon: sites,
    actors, projects, bases, and incidents and patrols in the window; nearest first."""
    target = geometry_literal(place)
    features: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for name, (model, fields, time_column) in NEAR_FIELDS.items():
        v = view(table_of(model), principal)
        shown = v.column("geom")
        distance = func.ST_Distance(func.geography(shown), func.geography(target)) / 1000.0
        conditions = [
            v.where,
            *near_conditions(v, place, radius_km),
            func.ST_DWithin(func.geography(shown), func.geography(target), radius_km * 1000.0),
        ]
        if time_column is not None:
            conditions += [v.column(time_column) >= scope.start, v.column(time_column) <= scope.end]
        if name == "incidents" and scope.categories:
            conditions.append(v.column("category").in_(scope.categories))
        if name == "incidents":
            conditions += counted_incidents(v, principal, verified_only=scope.verified_only)
        conditions += inside_conditions(v, scope.area)  # a sector or bbox narrows it further
        counted = await session.scalar(select(func.count()).where(*conditions).select_from(v.table))
        counts[name] = int(counted or 0)
        statement = (
            select(
                v.column("id"),
                func.ST_AsBinary(shown),
                distance,
                v.column("generalised"),
                *(v.column(f) for f in fields),
            )
            .where(*conditions)
            .order_by(distance, v.table.c.id)
            .limit(limit)
        )
        for row in (await session.execute(statement)).all():
            properties = {
                "collection": name,
                "distance_km": round_km(row[2]),
                "generalised": row[3],
                **dict(zip(fields, row[4:], strict=True)),
            }
            features.append(feature(row[0], shapely.from_wkb(bytes(row[1])), properties))
    features.sort(key=lambda f: f["properties"]["distance_km"])
    summary = {"within": counts, "returned": len(features)}
    parameters = {
        **scope.describe(),
        "radius_km": radius_km,
        "limit": limit,
        "place": mapping(place),
    }
    return feature_collection(features, summary, parameters)
