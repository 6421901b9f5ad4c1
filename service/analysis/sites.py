"""Analyses per IDP site: proximity, exposure and patrol coverage gaps."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from geo.analysis import coverage, exposure, proximity
from service.access.policy import Principal
from service.access.sql import view
from service.actors.models import Actor
from service.analysis.geojson import feature, feature_collection, round_km, rounded
from service.analysis.inputs import (
    fetch_incidents,
    fetch_patrols,
    fetch_places,
    fetch_sites,
    nearest_to,
    site_population,
    site_properties,
)
from service.analysis.scope import CATEGORIES, Scope, table_of
from service.patrols.models import OperatingBase

# ---------------------------------------------------------------------------------------------
# Proximity
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProximityOptions:
    radius_km: float = 10.0


async def proximity_layer(
    session: AsyncSession, principal: Principal, scope: Scope, options: ProximityOptions
) -> str:
    """For each IDP site: incidents within r km in the window by category and severity, the
    nearest armed group and base, and the last patrol that passed within r km."""
    r = options.radius_km
    sites = await fetch_sites(session, principal, scope)
    patrols = await fetch_patrols(session, principal, scope, since=scope.start, margin_km=r)
    actors = view(table_of(Actor), principal)
    armed_groups = await fetch_places(
        session,
        principal,
        Actor,
        ("name", "generalised"),
        [actors.column("category") == "armed_group"],
    )
    bases = await fetch_places(session, principal, OperatingBase, ("name", "generalised"))

    def around_sites() -> tuple[Any, ...]:
        return (
            nearest_to(sites, armed_groups),
            nearest_to(sites, bases),
            coverage.last_passes(
                sites.lon,
                sites.lat,
                patrols.routes,
                scope.age_days(patrols.start),
                r,
                site_shapes=sites.area_shapes,
            ),
        )

    # The maths on sites, groups, bases and patrols runs while the database reads incidents.
    side = asyncio.ensure_future(asyncio.to_thread(around_sites))
    try:
        incidents = await fetch_incidents(session, principal, scope, margin_km=r, times=False)
    finally:
        armed, nearest_base, last = await side
    n = len(sites)
    # One count per (category, severity) pair of codes; the two tables are its margins.
    table = await asyncio.to_thread(
        proximity.count_within,
        sites.lon,
        sites.lat,
        incidents.lon,
        incidents.lat,
        r,
        incidents.category * 5 + incidents.severity - 1,
        len(CATEGORIES) * 5,
        source_shapes=sites.area_shapes,
    )
    table = table.reshape(n, len(CATEGORIES), 5)
    by_category, by_severity = table.sum(axis=2), table.sum(axis=1)
    features = []
    for k in range(n):
        patrol = int(last.patrol[k])
        features.append(
            feature(
                sites.ids[k],
                sites.shapes[k],
                {
                    **site_properties(sites, k),
                    "incidents": int(by_category[k].sum()),
                    "by_category": {
                        CATEGORIES[c]: int(by_category[k, c]) for c in np.nonzero(by_category[k])[0]
                    },
                    "by_severity": {str(s + 1): int(by_severity[k, s]) for s in range(5)},
                    "nearest_armed_group": armed[k],
                    "nearest_base": nearest_base[k],
                    "last_patrol": None
                    if patrol < 0
                    else {
                        "id": patrols.ids[patrol],
                        "start_at": datetime.fromtimestamp(float(patrols.start[patrol]), UTC),
                        "days_before_end": rounded(last.age_days[k], 2),
                        "distance_km": round_km(last.distance_km[k]),
                    },
                    "patrols_within": int(last.passes[k]),
                },
            )
        )
    summary = {
        "sites": n,
        "incidents_in_window": len(incidents),
        "sites_with_incidents": int((by_category.sum(axis=1) > 0).sum()),
        "sites_without_patrol": int((last.patrol < 0).sum()),
        # An incident near two sites counts for each.
        "site_incidents_by_category": {
            CATEGORIES[c]: int(v) for c, v in enumerate(by_category.sum(axis=0).tolist()) if v
        },
    }
    return feature_collection(features, summary, {**scope.describe(), "radius_km": r})


# ---------------------------------------------------------------------------------------------
# Exposure
# ---------------------------------------------------------------------------------------------


async def exposure_layer(
    session: AsyncSession,
    principal: Principal,
    scope: Scope,
    parameters: exposure.ExposureParameters,
    limit: int | None = None,
) -> str:
    """IDP sites ranked by exposure, each with its top contributing incidents."""
    sites = await fetch_sites(session, principal, scope)
    incidents = await fetch_incidents(
        session, principal, scope, margin_km=parameters.radius_km, with_ids=True
    )
    ages = scope.age_days(incidents.at)
    population = site_population(sites)
    # Summed per site by a compiled loop, in a worker thread (no list of pairs).
    result = await asyncio.to_thread(
        exposure.rank_sites,
        sites.lon,
        sites.lat,
        incidents.lon,
        incidents.lat,
        incidents.severity,
        ages,
        population,
        parameters,
        site_shapes=sites.area_shapes,
    )
    features = []
    for k in np.argsort(result.rank).tolist()[: limit or None]:
        hazard = float(result.hazard[k])
        reasons = []
        for incident, distance, contribution in zip(
            result.top_incident[k].tolist(),
            result.top_distance_km[k].tolist(),
            result.top_contribution[k].tolist(),
            strict=True,
        ):
            if incident < 0:
                break
            reasons.append(
                {
                    "incident_id": incidents.id(incident),
                    "category": CATEGORIES[int(incidents.category[incident])],
                    "severity": int(incidents.severity[incident]),
                    "occurred_at": datetime.fromtimestamp(float(incidents.at[incident]), UTC),
                    "distance_km": round_km(distance),
                    # Measured to the incident's generalised location: approximate.
                    "generalised": bool(
                        incidents.generalised is not None and incidents.generalised[incident]
                    ),
                    "age_days": rounded(ages[incident], 2),
                    "contribution": rounded(contribution),
                    "share": rounded(contribution / hazard if hazard else 0.0, 4),
                }
            )
        features.append(
            feature(
                sites.ids[k],
                sites.shapes[k],
                {
                    **site_properties(sites, k),
                    "rank": int(result.rank[k]),
                    "exposure": rounded(result.exposure[k]),
                    "hazard": rounded(hazard),
                    "population_used": rounded(result.population[k]),
                    "population_known": sites.properties[k]["population_individuals"] is not None,
                    "incidents": int(result.incidents[k]),
                    "why": reasons,
                },
            )
        )
    summary = {
        "sites": len(sites),
        "incidents_in_window": len(incidents),
        "sites_exposed": int((result.hazard > 0).sum()),
        "total_exposure": rounded(float(result.exposure.sum())),
    }
    return feature_collection(features, summary, {**scope.describe(), **asdict(parameters)})


# ---------------------------------------------------------------------------------------------
# Coverage gaps
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageOptions:
    radius_km: float = 5.0
    days: float = 14.0
    lookback_days: float = 180.0
    include_covered: bool = False


async def coverage_gap_layer(
    session: AsyncSession, principal: Principal, scope: Scope, options: CoverageOptions
) -> str:
    """IDP sites with no conducted patrol within r km in the last N days before the end."""
    sites = await fetch_sites(session, principal, scope)
    since = scope.end - timedelta(days=max(options.lookback_days, options.days))
    patrols = await fetch_patrols(
        session, principal, scope, since=since, margin_km=options.radius_km
    )
    gaps = coverage.coverage_gaps(
        sites.lon,
        sites.lat,
        patrols.routes,
        scope.age_days(patrols.start),
        options.radius_km,
        options.days,
        site_shapes=sites.area_shapes,
    )
    features = []
    for k in range(len(sites)):
        if not gaps.gap[k] and not options.include_covered:
            continue
        patrol = int(gaps.last.patrol[k])
        features.append(
            feature(
                sites.ids[k],
                sites.shapes[k],
                {
                    **site_properties(sites, k),
                    "gap": bool(gaps.gap[k]),
                    "last_patrol": None
                    if patrol < 0
                    else {
                        "id": patrols.ids[patrol],
                        "start_at": datetime.fromtimestamp(float(patrols.start[patrol]), UTC),
                        "days_before_end": rounded(gaps.last.age_days[k], 2),
                        "distance_km": round_km(gaps.last.distance_km[k]),
                    },
                },
            )
        )
    people = sum(
        (p["population_individuals"] or 0)
        for p, gap in zip(sites.properties, gaps.gap.tolist(), strict=True)
        if gap
    )
    summary = {
        "sites": len(sites),
        "gaps": int(gaps.gap.sum()),
        "people_in_gaps": int(people),
        "patrols_considered": len(patrols),
    }
    parameters = {**scope.describe(), **asdict(options), "end": scope.end}
    return feature_collection(features, summary, parameters)
