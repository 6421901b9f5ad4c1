"""Routes of the protection-of-civilians analysis, under ``/api/analysis``.

Every route takes the area (``sector`` and/or ``bbox``) and the window (``datetime``, as in
the list API) and answers with a GeoJSON FeatureCollection carrying ``summary`` and
``parameters``. Any role may run an analysis: it is computed only from what the caller sees.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from shapely.geometry import box

from geo.analysis.exposure import ExposureParameters
from geo.analysis.grid import HexGrid
from geo.analysis.risk import RiskParameters
from geo.validation import GeometryProblem, check_geometry
from service.access.policy import Principal
from service.analysis import service
from service.analysis.schemas import AnalysisResult, PlaceIn, RouteIn
from service.auth.deps import PrincipalDep
from service.config import get_settings
from service.core.params import interval_params, parse_bbox, parse_datetime
from service.core.routes import BBOX_MAX_LENGTH, DATETIME_MAX_LENGTH, FILTER_MAX_LENGTH
from service.enums import IncidentCategory
from service.errors import InvalidInput
from service.i18n import _
from service.read_replicas import ReadSessionDep

router = APIRouter(prefix="/api/analysis", tags=["Protection-of-civilians analysis"])

GEOJSON = "application/geo+json"
MVT = "application/vnd.mapbox-vector-tile"
DOCUMENTED: dict[int | str, dict[str, Any]] = {200: {"model": AnalysisResult}}
#: Analyses that hand a large area to the job worker.
DOCUMENTED_OR_JOB: dict[int | str, dict[str, Any]] = {
    **DOCUMENTED,
    202: {
        "description": "A large area: the analysis runs in a job worker; the answer is the job "
        "(`Location`: where to follow it), whose `result` is this GeoJSON once it succeeded."
    },
}


class GeoJSONResponse(Response):
    media_type = GEOJSON


@dataclass(frozen=True)
class AreaQuery:
    """Where, when and which incidents, as given in the query string."""

    sector: uuid.UUID | None
    bbox: tuple[float, float, float, float] | None
    interval: Any
    categories: list[str] | None
    verified_only: bool = True

    async def scope(
        self,
        session: Any,
        principal: Principal,
        *,
        require_area: bool = False,
        default_days: float = 90.0,
    ) -> service.Scope:
        return await service.resolve_scope(
            session,
            principal,
            sector=self.sector,
            bbox=self.bbox,
            interval=self.interval,
            categories=self.categories,
            require_area=require_area,
            default_days=default_days,
            verified_only=self.verified_only,
        )


def area_query(
    sector: Annotated[
        uuid.UUID | None, Query(description="Analyse this sector (its boundary, as you see it).")
    ] = None,
    bbox: Annotated[
        str | None,
        Query(
            max_length=BBOX_MAX_LENGTH,
            description="minLon,minLat,maxLon,maxLat (WGS 84); with `sector`, both apply.",
        ),
    ] = None,
    datetime: Annotated[
        str | None,
        Query(
            max_length=DATETIME_MAX_LENGTH,
            description="Window: RFC 3339 interval `start/end` (`..` open). Default: the 90 days "
            "before the end, which defaults to now. Time decay is counted back from the end.",
        ),
    ] = None,
    category: Annotated[
        str | None,
        Query(
            max_length=FILTER_MAX_LENGTH,
            description="Only these incident categories (comma-separated), e.g. "
            "`sexual_violence` for gender-specific risk areas.",
        ),
    ] = None,
    verified_only: Annotated[
        bool,
        Query(
            description="Count verified incidents only (the default); `false` counts field "
            "reports not yet judged too. Discredited reports and merged duplicates never count."
        ),
    ] = True,
) -> AreaQuery:
    categories = [c.strip() for c in category.split(",") if c.strip()] if category else None
    known = {c.value for c in IncidentCategory}
    for unknown in [c for c in categories or [] if c not in known]:
        raise InvalidInput(
            ["query", "category"],
            _(
                "unknown category {category!r}; use one of: {allowed}",
                category=unknown,
                allowed=", ".join(known),
            ),
        )
    return AreaQuery(sector, parse_bbox(bbox), parse_datetime(datetime), categories, verified_only)


AreaDep = Annotated[AreaQuery, Depends(area_query)]
Radius = Query(gt=0, le=200, description="Search radius in km.")


def _weights(text: str) -> tuple[float, ...]:
    try:
        weights = tuple(float(w) for w in text.split(","))
    except ValueError as error:
        raise InvalidInput(
            ["query", "severity_weights"],
            _("severity_weights must be five numbers, e.g. 1,2,3,4,5"),
        ) from error
    if len(weights) != 5 or any(not math.isfinite(w) or w < 0 for w in weights):
        raise InvalidInput(
            ["query", "severity_weights"],
            _("severity_weights must be five finite numbers >= 0, e.g. 1,2,3,4,5"),
        )
    return weights


def risk_parameters(
    resolution: Annotated[
        int, Query(ge=4, le=10, description="H3 resolution (7: about 5 km² cells, town scale).")
    ] = 7,
    half_life_days: Annotated[
        float, Query(gt=0, le=3650, description="Age (days) at which an incident counts half.")
    ] = 30.0,
    severity_weights: Annotated[
        str, Query(max_length=100, description="Weights of severity 1..5, comma-separated.")
    ] = "1,2,3,4,5",
    neighbour_weight: Annotated[
        float, Query(ge=0, le=1, description="Hazard smoothing: weight of each neighbour cell.")
    ] = 0.5,
    population_unit: Annotated[
        float, Query(gt=0, le=1e9, description="People per unit of vulnerability (log scale).")
    ] = 1000.0,
    site_weight: Annotated[
        float,
        Query(ge=0, le=100, description="Vulnerability added per IDP site in or next to a cell."),
    ] = 0.25,
    coverage_half_life_days: Annotated[
        float,
        Query(gt=0, le=3650, description="Age (days) at which a patrol counts half for coverage."),
    ] = 7.0,
    coverage_reduction: Annotated[
        float, Query(ge=0, le=1, description="Largest share of risk patrol coverage removes.")
    ] = 0.5,
) -> RiskParameters:
    return RiskParameters(
        resolution=resolution,
        half_life_days=half_life_days,
        severity_weights=_weights(severity_weights),
        neighbour_weight=neighbour_weight,
        population_unit=population_unit,
        site_weight=site_weight,
        coverage_half_life_days=coverage_half_life_days,
        coverage_reduction=coverage_reduction,
    )


RiskDep = Annotated[RiskParameters, Depends(risk_parameters)]


def _answer(body: str) -> Response:
    return GeoJSONResponse(body)


async def _as_job(
    request: Request,
    principal: Principal,
    kind: str,
    params: dict[str, Any],
    total: int,
    unit: str,
) -> Response:
    """A large analysis runs in a worker process, as the user (``service.jobs``): ``202
    Accepted`` with the job, whose ``result`` is the GeoJSON the route would have answered."""
    from service.jobs import service as jobs
    from service.jobs import views as jobs_views

    async with request.app.state.sessionmaker() as own:
        job = await jobs.submit(own, principal, kind, params, total=total, unit=unit)
    return jobs_views.accepted(request, job, principal)


def _inline(cells: int) -> bool:
    """Whether a grid analysis over ``cells`` cells answers at once (else it becomes a job)."""
    return cells <= get_settings().jobs_analysis_inline_cells


@router.get(
    "/proximity",
    summary="Proximity of IDP sites to incidents, armed groups, bases and patrols",
    response_class=GeoJSONResponse,
    responses=DOCUMENTED,
)
async def proximity(
    session: ReadSessionDep,
    principal: PrincipalDep,
    area: AreaDep,
    radius_km: Annotated[float, Radius] = 10.0,
) -> Response:
    """For each open IDP site in the area: incidents within `radius_km` in the window, by
    category and severity; the nearest armed group and base and their distance; the last
    conducted patrol in the window whose route came within `radius_km`, and when."""
    scope = await area.scope(session, principal)
    options = service.ProximityOptions(radius_km=radius_km)
    return _answer(await service.proximity_layer(session, principal, scope, options))


@router.get(
    "/exposure",
    summary="IDP sites ranked by exposure, with the incidents that explain it",
    response_class=GeoJSONResponse,
    responses=DOCUMENTED_OR_JOB,
)
async def exposure(
    request: Request,
    session: ReadSessionDep,
    principal: PrincipalDep,
    area: AreaDep,
    radius_km: Annotated[float, Radius] = 20.0,
    half_distance_km: Annotated[
        float, Query(gt=0, le=500, description="Distance at which an incident counts half.")
    ] = 5.0,
    half_life_days: Annotated[
        float, Query(gt=0, le=3650, description="Age (days) at which an incident counts half.")
    ] = 30.0,
    severity_weights: Annotated[
        str, Query(max_length=100, description="Weights of severity 1..5, comma-separated.")
    ] = "1,2,3,4,5",
    population_unit: Annotated[
        float, Query(gt=0, le=1e9, description="Exposure is hazard per this many residents.")
    ] = 1000.0,
    unknown_population: Annotated[
        float, Query(ge=0, le=1e9, description="Residents assumed where a site has no figure.")
    ] = 1000.0,
    top: Annotated[int, Query(ge=0, le=50, description="Reasons listed per site.")] = 3,
    limit: Annotated[
        int | None, Query(ge=1, le=10_000, description="Only the most exposed sites.")
    ] = None,
) -> Response:
    """contribution = w(severity) x 0.5^(distance / half_distance) x 0.5^(age / half_life);
    hazard = sum over incidents within `radius_km`; exposure = hazard x population /
    `population_unit`. Each site lists its `top` contributing incidents (`why`).

    Over more than `CIVOP_JOBS_EXPOSURE_INLINE_SITES` open IDP sites (500) the analysis runs
    in a job worker: `202 Accepted` with the job, whose `result` is the GeoJSON."""
    scope = await area.scope(session, principal)
    parameters = ExposureParameters(
        radius_km=radius_km,
        half_distance_km=half_distance_km,
        half_life_days=half_life_days,
        severity_weights=_weights(severity_weights),
        population_unit=population_unit,
        unknown_population=unknown_population,
        top=top,
    )
    sites = len(await service.fetch_sites(session, principal, scope))
    if sites > get_settings().jobs_exposure_inline_sites:
        params = {"area": area_params(area), "parameters": asdict(parameters), "limit": limit}
        return await _as_job(request, principal, "exposure", params, sites, "sites")
    return _answer(await service.exposure_layer(session, principal, scope, parameters, limit))


@router.get(
    "/risk",
    summary="Risk overlay on a hexagonal grid, with its components per cell",
    response_class=GeoJSONResponse,
    responses=DOCUMENTED_OR_JOB,
)
async def risk(
    request: Request,
    session: ReadSessionDep,
    principal: PrincipalDep,
    area: AreaDep,
    parameters: RiskDep,
    include_empty: Annotated[
        bool, Query(description="Also return cells with no risk and nobody living there.")
    ] = False,
) -> Response:
    """risk = hazard x (1 + vulnerability) x (1 - coverage_reduction x coverage), per H3 cell
    of the sector or bbox; see the parameters for each component. For a map of large areas,
    `/api/analysis/risk/tiles/{z}/{x}/{y}` draws the same cells tile by tile.

    Over more than `CIVOP_JOBS_ANALYSIS_INLINE_CELLS` cells (50,000) the overlay is computed
    in a job worker: `202 Accepted` with the job, whose `result` is the GeoJSON."""
    scope = await area.scope(session, principal, require_area=True)
    assert scope.area is not None
    cells = service.area_cells(HexGrid(parameters.resolution), scope.area).size
    if not _inline(cells):
        params = {
            "area": area_params(area),
            "parameters": asdict(parameters),
            "include_empty": include_empty,
        }
        return await _as_job(request, principal, "risk", params, cells, "cells")
    return _answer(await service.risk_layer(session, principal, scope, parameters, include_empty))


@router.get(
    "/risk/tiles/{z}/{x}/{y}",
    summary="Risk overlay as Mapbox vector tiles (layer `risk`)",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}},
)
async def risk_tile(
    session: ReadSessionDep,
    principal: PrincipalDep,
    area: AreaDep,
    parameters: RiskDep,
    z: Annotated[int, Path(ge=0, le=22)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
) -> Response:
    """The overlay of the cells in one WebMercatorQuad tile (and the sector, if given); each
    feature carries `cell`, `risk`, `hazard`, `vulnerability` and `coverage`."""
    if x >= 2**z or y >= 2**z:
        raise InvalidInput(
            ["path", "x"], _("x and y must be below {limit} at zoom {zoom}", limit=2**z, zoom=z)
        )
    tile = service.tile_bounds(z, x, y)
    bounded = AreaQuery(
        area.sector, _intersect(area.bbox, tile), area.interval, area.categories, area.verified_only
    )
    try:
        scope = await bounded.scope(session, principal, require_area=True)
    except InvalidInput as outside:
        if outside.loc != ["query", "bbox"]:
            raise
        return Response(b"", media_type=MVT)  # the tile lies outside the sector
    body = await service.risk_tile(session, principal, scope, parameters, z, x, y)
    return Response(body, media_type=MVT)


def _intersect(
    bbox: tuple[float, float, float, float] | None, tile: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    if bbox is None:
        return tile
    both = box(*bbox).intersection(box(*tile))
    if both.is_empty:
        return tile[0], tile[1], tile[0], tile[1]
    x0, y0, x1, y1 = both.bounds
    return x0, y0, x1, y1


PERMUTATIONS = Query(
    ge=99,
    le=9999,
    description="Random draws of each neighbourhood in the conditional permutation test "
    "(seeded: the same data gives the same answer).",
)


@router.get(
    "/hotspots",
    summary="Hot spots: Getis-Ord Gi* with permutation inference and false-discovery control",
    response_class=GeoJSONResponse,
    responses=DOCUMENTED_OR_JOB,
)
async def hotspots(
    request: Request,
    session: ReadSessionDep,
    principal: PrincipalDep,
    area: AreaDep,
    resolution: Annotated[
        int, Query(ge=3, le=9, description="H3 resolution (6: about 36 km² cells).")
    ] = 6,
    alpha: Annotated[
        float, Query(gt=0, lt=1, description="False-discovery rate (Benjamini-Hochberg).")
    ] = 0.05,
    include_all: Annotated[
        bool, Query(description="Return every cell, not only those with incidents or significant.")
    ] = False,
    permutations: Annotated[int, PERMUTATIONS] = 999,
) -> Response:
    """Gi* z-score of the incident count of every cell with its six neighbours against the
    area's mean; p the two-sided pseudo p-value of a conditional permutation test (each
    cell keeps its count, its neighbours are drawn from the other cells); q the
    Benjamini-Hochberg adjusted p; `hotspot` is `hot` or `cold` where q < alpha. Each cell
    counts every incident in its whole hexagon, whatever the edge of the box or sector. With
    fewer than 30 incidents nothing is tested: `summary.tested` is false, `summary.reason`
    says why, and no cell is returned.

    Over more than `CIVOP_JOBS_ANALYSIS_INLINE_CELLS` cells (50,000) the analysis runs in a
    job worker: `202 Accepted` with the job, whose `result` is the GeoJSON."""
    scope = await area.scope(session, principal, require_area=True)
    options = service.HotspotOptions(
        resolution=resolution, alpha=alpha, include_all=include_all, permutations=permutations
    )
    assert scope.area is not None
    cells = service.area_cells(HexGrid(resolution), scope.area).size
    if not _inline(cells):
        params = {"area": area_params(area), "options": asdict(options)}
        return await _as_job(request, principal, "hotspots", params, cells, "cells")
    return _answer(await service.hotspot_layer(session, principal, scope, options))


@router.get(
    "/emerging-hotspots",
    summary="Emerging hot spots: ESRI's patterns (new, consecutive, intensifying, persistent, "
    "diminishing, sporadic, oscillating, historical; hot and cold)",
    response_class=GeoJSONResponse,
    responses=DOCUMENTED_OR_JOB,
)
async def emerging_hotspots(
    request: Request,
    session: ReadSessionDep,
    principal: PrincipalDep,
    area: AreaDep,
    resolution: Annotated[int, Query(ge=3, le=9, description="H3 resolution.")] = 6,
    alpha: Annotated[
        float,
        Query(gt=0, lt=1, description="False-discovery rate, and significance of the trend."),
    ] = 0.05,
    windows: Annotated[
        int,
        Query(
            ge=2,
            le=30,
            description="Time steps: the current window and the ones before it (10 or more "
            "for a Mann-Kendall trend to be able to reach significance).",
        ),
    ] = 10,
    permutations: Annotated[int, PERMUTATIONS] = 999,
) -> Response:
    """Gi* in the current window (`datetime`, default the last 30 days) and `windows - 1`
    equal windows before it; each cell's pattern as ESRI's Emerging Hot Spot Analysis
    defines it, from the steps where it was a significant hot or cold spot and the
    Mann-Kendall trend of its z-scores (`trend`). Cells with no pattern are not returned.
    With fewer than 30 incidents over all the steps nothing is tested.

    Over more than `CIVOP_JOBS_EMERGING_INLINE_CELLS` cell-steps (cells x `windows`: 50,000)
    the analysis runs in a job worker: `202 Accepted` with the job, whose `result` is the
    GeoJSON."""
    scope = await area.scope(session, principal, require_area=True, default_days=30.0)
    options = service.EmergingOptions(
        resolution=resolution, alpha=alpha, windows=windows, permutations=permutations
    )
    assert scope.area is not None
    steps = service.area_cells(HexGrid(resolution), scope.area).size * windows
    if steps > get_settings().jobs_emerging_inline_cells:
        params = {"area": area_params(area), "options": asdict(options)}
        return await _as_job(request, principal, "emerging_hotspots", params, windows, "time steps")
    return _answer(await service.emerging_layer(session, principal, scope, options))


@router.get(
    "/coverage-gaps",
    summary="IDP sites with no patrol within r km in the last N days",
    response_class=GeoJSONResponse,
    responses=DOCUMENTED,
)
async def coverage_gaps(
    session: ReadSessionDep,
    principal: PrincipalDep,
    area: AreaDep,
    radius_km: Annotated[float, Radius] = 5.0,
    days: Annotated[
        float, Query(gt=0, le=3650, description="Days before the end of the window.")
    ] = 14.0,
    include_covered: Annotated[bool, Query(description="Also return covered sites.")] = False,
) -> Response:
    """A site is a gap when no conducted patrol's route came within `radius_km` in the `days`
    before the end of the window; each lists its last pass (up to 180 days back)."""
    scope = await area.scope(session, principal)
    options = service.CoverageOptions(
        radius_km=radius_km, days=days, include_covered=include_covered
    )
    return _answer(await service.coverage_gap_layer(session, principal, scope, options))


@router.get(
    "/opportunities",
    summary="Risks and opportunities: projects in high-risk cells, sites without partners",
    response_class=GeoJSONResponse,
    responses=DOCUMENTED,
)
async def opportunities(
    session: ReadSessionDep,
    principal: PrincipalDep,
    area: AreaDep,
    parameters: RiskDep,
    partner_radius_km: Annotated[
        float, Query(gt=0, le=200, description="A humanitarian partner this close counts.")
    ] = 10.0,
    risk_quantile: Annotated[
        float, Query(gt=0, lt=1, description="High risk: at or above this quantile of the area.")
    ] = 0.9,
) -> Response:
    """Active projects (proposed, approved, ongoing) in cells whose risk is at or above the
    `risk_quantile` of the area's cells with risk; open IDP sites with no humanitarian actor
    within `partner_radius_km`. With `category=sexual_violence` the risk is gender-specific."""
    scope = await area.scope(session, principal, require_area=True)
    options = service.OpportunityOptions(
        partner_radius_km=partner_radius_km, risk_quantile=risk_quantile
    )
    return _answer(
        await service.opportunities_layer(session, principal, scope, parameters, options)
    )


BUFFER = Query(gt=0, le=50, description="How close (km) to a humanitarian location is a conflict.")


@router.get(
    "/deconfliction",
    summary="Check a stored patrol route against humanitarian sites and actors",
    response_class=GeoJSONResponse,
    responses=DOCUMENTED,
)
async def deconfliction_stored(
    session: ReadSessionDep,
    principal: PrincipalDep,
    patrol: Annotated[uuid.UUID, Query(description="The planned (or any) patrol to check.")],
    buffer_km: Annotated[float, BUFFER] = 2.0,
) -> Response:
    """IDP sites, humanitarian actors and projects within `buffer_km` of the route, nearest
    first, with the distance and how far along the route the closest approach is."""
    route = await service.stored_route(session, principal, patrol)
    return _answer(await service.deconfliction_layer(session, principal, route, buffer_km, patrol))


def _geometry(body: RouteIn | PlaceIn, allowed: tuple[str, ...]) -> Any:
    raw = body.model_dump(exclude_none=True)
    geometry = raw.get("geometry") if raw.get("type") == "Feature" else raw
    loc = ["body", "geometry"] if raw.get("type") == "Feature" else ["body"]
    if not isinstance(geometry, dict):
        raise InvalidInput(loc, _("send a GeoJSON geometry or a Feature with one"))
    try:
        settings = get_settings()
        return check_geometry(
            geometry, allowed, settings.mission_bbox, settings.size_limits("analysis")
        )
    except GeometryProblem as problem:
        raise InvalidInput(loc, str(problem)) from problem


@router.post(
    "/deconfliction",
    summary="Check a posted route (GeoJSON LineString) against humanitarian sites and actors",
    response_class=GeoJSONResponse,
    responses=DOCUMENTED,
)
async def deconfliction_posted(
    session: ReadSessionDep,
    principal: PrincipalDep,
    body: Annotated[RouteIn, Body(description="A GeoJSON LineString or a Feature with one.")],
    buffer_km: Annotated[float, BUFFER] = 2.0,
) -> Response:
    """As the GET route, for a route that is not stored."""
    route = _geometry(body, ("LineString",))
    return _answer(await service.deconfliction_layer(session, principal, route, buffer_km))


@router.get(
    "/near",
    summary="What is near a point",
    response_class=GeoJSONResponse,
    responses=DOCUMENTED,
)
async def near_point(
    session: ReadSessionDep,
    principal: PrincipalDep,
    point: Annotated[str, Query(max_length=100, description="lon,lat (WGS 84)")],
    area: AreaDep,
    radius_km: Annotated[float, Radius] = 10.0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Records per collection.")] = 100,
) -> Response:
    """Sites, actors, projects and bases, and incidents and patrols in the window, within
    `radius_km` of the point, nearest first (geodesic distances)."""
    try:
        lon, lat = (float(v) for v in point.split(","))
    except ValueError as error:
        raise InvalidInput(["query", "point"], _("point must be lon,lat, e.g. 25.1,6.2")) from error
    place = _geometry(PlaceIn(type="Point", coordinates=[lon, lat]), ("Point",))
    scope = await area.scope(session, principal)
    return _answer(await service.near_layer(session, principal, place, radius_km, scope, limit))


@router.post(
    "/near",
    summary="What is near a point or polygon (GeoJSON)",
    response_class=GeoJSONResponse,
    responses=DOCUMENTED,
)
async def near_place(
    session: ReadSessionDep,
    principal: PrincipalDep,
    body: Annotated[PlaceIn, Body(description="A GeoJSON Point or Polygon, or a Feature.")],
    area: AreaDep,
    radius_km: Annotated[float, Radius] = 10.0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Records per collection.")] = 100,
) -> Response:
    """As the GET route, around a posted point or polygon (distance from its edge)."""
    place = _geometry(body, ("Point", "Polygon", "MultiPolygon"))
    scope = await area.scope(session, principal)
    return _answer(await service.near_layer(session, principal, place, radius_km, scope, limit))


def area_params(area: Any) -> dict[str, Any]:
    """An analysis's area query (``service.analysis.views.AreaQuery``) as JSON."""
    return {
        "sector": str(area.sector) if area.sector else None,
        "bbox": list(area.bbox) if area.bbox else None,
        "interval": interval_params(area.interval),
        "categories": area.categories,
    }
