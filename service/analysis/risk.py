"""The risk overlay per H3 cell, and the risks and opportunities read from it."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession

from geo.analysis import grid, risk
from service.access.policy import Principal
from service.access.sql import view
from service.actors.models import Actor
from service.analysis.geojson import feature, feature_collection, rounded
from service.analysis.inputs import (
    PROJECT_FIELDS,
    SITE_FIELDS,
    IncidentArrays,
    Places,
    fetch_incidents,
    fetch_patrols,
    fetch_places,
    fetch_sites,
    nearest_to,
    site_population,
    site_properties,
)
from service.analysis.scope import Scope, area_cells, table_of
from service.projects.models import Project
from service.sites.models import IdpSite

# ---------------------------------------------------------------------------------------------
# Risk overlay
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputedRisk:
    """The risk overlay and what it was computed from (as the principal sees it)."""

    overlay: risk.RiskOverlay
    grid: grid.HexGrid
    incidents: IncidentArrays
    sites: Places


async def compute_risk(
    session: AsyncSession,
    principal: Principal,
    scope: Scope,
    parameters: risk.RiskParameters,
    *,
    cells: npt.NDArray[np.uint64] | None = None,
    with_ids: bool = False,
) -> ComputedRisk:
    """The risk overlay over the scope's area (or over ``cells``, e.g. the cells of watched
    sites, with the scope's area holding them), with the incidents and sites it used."""
    assert scope.area is not None
    hex_grid = grid.HexGrid(parameters.resolution)
    if cells is None:
        cells = area_cells(hex_grid, scope.area)
    margin = 2.5 * hex_grid.edge_km  # one ring of cells around the area
    incidents = await fetch_incidents(
        session, principal, scope, margin_km=margin, with_ids=with_ids
    )
    v = view(table_of(IdpSite), principal)
    sites = await fetch_places(
        session,
        principal,
        IdpSite,
        SITE_FIELDS,
        [v.column("status") == "open"],
        area=scope.area,
        margin_km=margin,
    )
    patrols = await fetch_patrols(session, principal, scope, since=scope.start, margin_km=margin)
    population = site_population(sites)
    # Heavy maths runs in a worker thread: the service keeps answering meanwhile.
    overlay = await asyncio.to_thread(
        risk.risk_overlay,
        hex_grid,
        cells,
        incidents.lon,
        incidents.lat,
        incidents.severity,
        scope.age_days(incidents.at),
        sites.lon,
        sites.lat,
        population,
        patrols.routes,
        scope.age_days(patrols.start),
        parameters,
    )
    return ComputedRisk(overlay, hex_grid, incidents, sites)


RISK_COMPONENTS = (
    "risk",
    "hazard",
    "hazard_raw",
    "incidents",
    "vulnerability",
    "population",
    "sites",
    "patrol_presence",
    "coverage",
)


def cell_rows(overlay: risk.RiskOverlay, keep: npt.NDArray[np.bool_]) -> list[dict[str, Any]]:
    columns = [np.round(getattr(overlay, name)[keep], 6).tolist() for name in RISK_COMPONENTS]
    return [dict(zip(RISK_COMPONENTS, row, strict=True)) for row in zip(*columns, strict=True)]


async def risk_layer(
    session: AsyncSession,
    principal: Principal,
    scope: Scope,
    parameters: risk.RiskParameters,
    include_empty: bool = False,
) -> str:
    """The risk overlay as hexagons with their components."""
    computed = await compute_risk(session, principal, scope, parameters)
    overlay, hex_grid, n_incidents = computed.overlay, computed.grid, len(computed.incidents)
    keep = (
        np.ones(overlay.cells.size, dtype=bool)
        if include_empty
        else (overlay.risk > 0) | (overlay.vulnerability > 0)
    )
    cells = overlay.cells[keep]
    ids = hex_grid.to_strings(cells)
    rings = hex_grid.polygons(cells)
    features = [
        feature(cell, {"type": "Polygon", "coordinates": [ring]}, {"cell": cell, **row})
        for cell, ring, row in zip(ids, rings, cell_rows(overlay, keep), strict=True)
    ]
    features.sort(key=lambda f: -f["properties"]["risk"])
    summary = {
        "cells": int(overlay.cells.size),
        "cells_returned": len(features),
        "cell_area_km2": round(hex_grid.cell_area_km2, 3),
        "incidents_in_window": n_incidents,
        "max_risk": rounded(float(overlay.risk.max(initial=0.0))),
        "cells_with_hazard": int((overlay.hazard > 0).sum()),
    }
    return feature_collection(
        features,
        summary,
        {**scope.describe(), **asdict(parameters), "include_empty": include_empty},
    )


# ---------------------------------------------------------------------------------------------
# Risks and opportunities
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpportunityOptions:
    partner_radius_km: float = 10.0
    risk_quantile: float = 0.9


async def opportunities_layer(
    session: AsyncSession,
    principal: Principal,
    scope: Scope,
    parameters: risk.RiskParameters,
    options: OpportunityOptions,
) -> str:
    """Projects in high-risk cells and IDP sites with no humanitarian partner within r km."""
    computed = await compute_risk(session, principal, scope, parameters)
    overlay, hex_grid = computed.overlay, computed.grid
    positive = overlay.risk[overlay.risk > 0]
    threshold = float(np.quantile(positive, options.risk_quantile)) if positive.size else np.inf
    projects = await fetch_places(
        session,
        principal,
        Project,
        PROJECT_FIELDS,
        [
            view(table_of(Project), principal)
            .column("status")
            .in_(["proposed", "approved", "ongoing"])
        ],
        area=scope.area,
    )
    project_cells = hex_grid.cells_of_points(projects.lon, projects.lat)
    at = risk._index_of(overlay.cells, project_cells)
    features: list[dict[str, Any]] = []
    for k in range(len(projects)):
        if at[k] < 0 or overlay.risk[at[k]] < threshold or overlay.risk[at[k]] <= 0:
            continue
        props = projects.properties[k]
        features.append(
            feature(
                projects.ids[k],
                projects.shapes[k],
                {
                    "finding": "project_in_high_risk_cell",
                    "collection": "projects",
                    "title": props["title"],
                    "kind": props["kind"],
                    "status": props["status"],
                    "generalised": props["generalised"],
                    "cell": hex_grid.to_strings(project_cells[k : k + 1])[0],
                    "risk": rounded(overlay.risk[at[k]]),
                    "hazard": rounded(overlay.hazard[at[k]]),
                    "coverage": rounded(overlay.coverage[at[k]]),
                },
            )
        )
    n_projects = len(features)
    sites = await fetch_sites(session, principal, scope)
    actors = view(table_of(Actor), principal)
    humanitarian = await fetch_places(
        session, principal, Actor, ("name",), [actors.column("humanitarian").is_(True)]
    )
    partners = nearest_to(sites, humanitarian)
    for k in range(len(sites)):
        nearest_partner = partners[k]
        if (
            nearest_partner is not None
            and nearest_partner["distance_km"] is not None
            and (nearest_partner["distance_km"] <= options.partner_radius_km)
        ):
            continue
        features.append(
            feature(
                sites.ids[k],
                sites.shapes[k],
                {
                    "finding": "site_without_humanitarian_partner",
                    **site_properties(sites, k),
                    "nearest_partner": nearest_partner,
                },
            )
        )
    summary = {
        "projects_in_high_risk_cells": n_projects,
        "sites_without_partner": len(features) - n_projects,
        "risk_threshold": rounded(threshold),
        "projects": len(projects),
        "sites": len(sites),
    }
    return feature_collection(
        features, summary, {**scope.describe(), **asdict(parameters), **asdict(options)}
    )
