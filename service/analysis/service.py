"""Protection-of-civilians analysis over what a principal may see.

Every input of every analysis is selected from the principal's view of a table
(:func:`service.access.sql.view`): hidden records never enter a computation, generalised ones
enter only with their generalised location, and every location used or returned is the one
the principal sees (``v.column("geom")``). PostgreSQL filters by window and area on its
indexes, finds nearest neighbours (KNN ``<->`` in LATERAL joins) and measures on the
spheroid (geography); the maths (radius joins on a million incidents, decay, grids, Gi*,
false-discovery control) is :mod:`geo.analysis`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import shapely
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Float,
    LargeBinary,
    SmallInteger,
    Table,
    bindparam,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text

from geo.analysis import coverage, deconfliction, exposure, grid, hotspots, proximity, risk
from geo.analysis.geodesy import degree_margin
from service.access.policy import Principal
from service.access.sql import View, view
from service.actors.models import Actor
from service.enums import IncidentCategory
from service.errors import Forbidden, InvalidInput, NotFound
from service.incidents.models import Incident
from service.outlines import workable_geometry
from service.patrols.models import OperatingBase, Patrol
from service.projects.models import Project
from service.sectors.models import Sector
from service.sites.models import IdpSite

CATEGORIES: tuple[str, ...] = tuple(c.value for c in IncidentCategory)
SECONDS_PER_DAY = 86_400.0
#: Grids larger than this many cells are refused: ask for a smaller area or resolution.
MAX_CELLS = 400_000


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


# ---------------------------------------------------------------------------------------------
# Where and when
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The area (``None``: all the principal sees), the time window and incident categories."""

    area: BaseGeometry | None
    start: datetime
    end: datetime
    categories: tuple[str, ...] | None = None
    sector: uuid.UUID | None = None
    bbox: tuple[float, float, float, float] | None = None

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / SECONDS_PER_DAY

    def age_days(self, epoch_seconds: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray((self.end.timestamp() - epoch_seconds) / SECONDS_PER_DAY)

    def describe(self) -> dict[str, Any]:
        return {
            "sector": str(self.sector) if self.sector else None,
            "bbox": list(self.bbox) if self.bbox is not None else None,
            "datetime": f"{_iso(self.start)}/{_iso(self.end)}",
            "category": list(self.categories) if self.categories else None,
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def resolve_scope(
    session: AsyncSession,
    principal: Principal,
    *,
    sector: uuid.UUID | None,
    bbox: tuple[float, float, float, float] | None,
    interval: tuple[datetime | None, datetime | None] | None,
    categories: Sequence[str] | None,
    default_days: float = 90.0,
    require_area: bool = False,
) -> Scope:
    """The area from a sector (as the principal sees its boundary) and/or a bbox, and the
    window (default: the ``default_days`` before the end, which defaults to now)."""
    area: BaseGeometry | None = box(*bbox) if bbox is not None else None
    if sector is not None:
        v = view(_table(Sector), principal)
        row = (
            await session.execute(
                select(func.ST_AsBinary(v.column("geom")), v.exact).where(
                    v.where, v.table.c.id == sector
                )
            )
        ).one_or_none()
        if row is None:
            raise NotFound("no such sector")
        if not row[1]:
            raise Forbidden("the boundary of this sector is not available to you; use bbox")
        boundary = shapely.from_wkb(bytes(row[0]))
        area = boundary if area is None else boundary.intersection(area)
        if area.is_empty:
            raise InvalidInput(["query", "bbox"], "bbox does not overlap the sector")
    if require_area and area is None:
        raise InvalidInput(["query", "sector"], "give a sector or a bbox for this analysis")
    start, end = interval if interval is not None else (None, None)
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=default_days)
    unknown = sorted(set(categories or ()) - set(CATEGORIES))
    if unknown:
        raise InvalidInput(
            ["query", "category"],
            f"unknown category {unknown[0]!r}; use one of: {', '.join(CATEGORIES)}",
        )
    return Scope(area, start, end, tuple(categories) if categories else None, sector, bbox)


def _geometry_literal(shape: BaseGeometry) -> ColumnElement[Any]:
    return func.ST_GeomFromWKB(literal(shapely.to_wkb(shape), LargeBinary()), 4326)


def _near(v: View, area: BaseGeometry | None, margin_km: float) -> list[ColumnElement[bool]]:
    """Records whose shown geometry lies in the area's box grown by ``margin_km``.

    The shown geometry decides (a generalised record is never found by its exact place); a
    condition on the stored geometry, grown by the generalisation tolerance, lets the
    spatial index work."""
    if area is None:
        return []
    x0, y0, x1, y1 = area.bounds
    dlon, dlat = degree_margin(margin_km, max(abs(y0), abs(y1)))
    envelope = func.ST_MakeEnvelope(x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat, 4326)
    conditions: list[ColumnElement[bool]] = [v.column("geom").op("&&")(envelope)]
    if v.tolerance_deg:
        conditions.append(v.table.c.geom.op("&&")(func.ST_Expand(envelope, v.tolerance_deg)))
    return conditions


def _inside(v: View, area: BaseGeometry | None) -> list[ColumnElement[bool]]:
    """Records whose shown geometry intersects the area."""
    if area is None:
        return []
    return [*_near(v, area, 0.0), func.ST_Intersects(v.column("geom"), _geometry_literal(area))]


# ---------------------------------------------------------------------------------------------
# Inputs, as arrays
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentArrays:
    """Incidents in a window, one array per column (what the principal sees)."""

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    severity: npt.NDArray[np.int64]
    category: npt.NDArray[np.int64]  # index into CATEGORIES
    at: npt.NDArray[np.float64]  # seconds since the epoch
    #: The ids, 16 bytes each, when asked for; read one with :meth:`id`.
    id_bytes: bytes | None = None

    def __len__(self) -> int:
        return int(self.lon.size)

    def id(self, k: int) -> uuid.UUID:
        assert self.id_bytes is not None, "fetch_incidents(..., with_ids=True)"
        return uuid.UUID(bytes=self.id_bytes[16 * k : 16 * k + 16])


async def fetch_incidents(
    session: AsyncSession,
    principal: Principal,
    scope: Scope,
    *,
    margin_km: float,
    start: datetime | None = None,
    with_ids: bool = False,
    times: bool = True,
) -> IncidentArrays:
    """Incidents in the window (from ``start`` if given) near the area, as arrays.

    Each column comes back as one byte string of binary values (``float8send`` ...
    aggregated with ``string_agg``) that numpy reads without a Python object per value:
    a million-row table answers in a fraction of a second."""
    v = view(_table(Incident), principal)
    geom, occurred = v.column("geom"), v.column("occurred_at")
    categories = bindparam(None, list(CATEGORIES), type_=ARRAY(Text), unique=True)
    other = CATEGORIES.index("other") + 1
    code = func.coalesce(func.array_position(categories, v.column("category")), other)

    def packed(value: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.string_agg(value, literal(b"", LargeBinary()))

    columns: list[ColumnElement[Any]] = [
        packed(func.float8send(func.ST_X(geom))),
        packed(func.float8send(func.ST_Y(geom))),
        packed(func.int2send(cast(v.column("severity"), SmallInteger))),
        packed(func.int2send(cast(code, SmallInteger))),
        packed(
            func.float8send(func.date_part("epoch", occurred))
            if times
            else literal(b"", LargeBinary())
        ),
    ]
    if with_ids:
        columns.append(packed(func.uuid_send(v.column("id"))))
    conditions = [
        v.where,
        occurred >= (start or scope.start),
        occurred <= scope.end,
        *_near(v, scope.area, margin_km),
    ]
    if scope.categories:
        conditions.append(v.column("category").in_(scope.categories))
    row = (await session.execute(select(*columns).where(*conditions))).one()
    if row[0] is None:
        empty = np.empty(0)
        return IncidentArrays(
            empty,
            empty,
            empty.astype(np.int64),
            empty.astype(np.int64),
            empty,
            b"" if with_ids else None,
        )
    return IncidentArrays(
        lon=np.frombuffer(row[0], dtype=">f8").astype(np.float64),
        lat=np.frombuffer(row[1], dtype=">f8").astype(np.float64),
        severity=np.frombuffer(row[2], dtype=">i2").astype(np.int64),
        category=np.frombuffer(row[3], dtype=">i2").astype(np.int64) - 1,
        at=np.frombuffer(row[4], dtype=">f8").astype(np.float64),
        id_bytes=bytes(row[5]) if with_ids else None,
    )


@dataclass(frozen=True)
class Places:
    """Records with a location (sites, actors, projects): ids, shapes as seen, properties."""

    ids: list[uuid.UUID]
    shapes: list[BaseGeometry]
    properties: list[dict[str, Any]]
    lon: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    lat: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def area_shapes(self) -> list[BaseGeometry | None]:
        return [None if s.geom_type == "Point" else s for s in self.shapes]


def _places(rows: Sequence[Any], names: Sequence[str]) -> Places:
    ids = [row[0] for row in rows]
    shapes = [shapely.from_wkb(bytes(row[1])) for row in rows]
    properties = [dict(zip(names, row[2:], strict=True)) for row in rows]
    points = shapely.point_on_surface(np.array(shapes, dtype=object)) if shapes else []
    lon = np.asarray(shapely.get_x(points), dtype=np.float64) if shapes else np.empty(0)
    lat = np.asarray(shapely.get_y(points), dtype=np.float64) if shapes else np.empty(0)
    return Places(ids, shapes, properties, lon, lat)


SITE_FIELDS = ("name", "site_type", "status", "population_individuals", "generalised")
ACTOR_FIELDS = ("name", "acronym", "category", "humanitarian", "generalised")
PROJECT_FIELDS = ("title", "kind", "status", "generalised")


async def fetch_places(
    session: AsyncSession,
    principal: Principal,
    model: type[Any],
    names: Sequence[str],
    conditions: Sequence[ColumnElement[bool]] = (),
    *,
    area: BaseGeometry | None = None,
    margin_km: float | None = None,
) -> Places:
    """Records of a collection in (or, with ``margin_km``, near) the area, as seen."""
    v = view(_table(model), principal)
    where = [v.where, *conditions]
    where += _inside(v, area) if margin_km is None else _near(v, area, margin_km)
    statement = (
        select(
            v.column("id"),
            func.ST_AsBinary(workable_geometry(v)),
            *(v.column(name) for name in names),
        )
        .where(*where)
        .order_by(v.table.c.id)
    )
    return _places((await session.execute(statement)).all(), names)


async def fetch_sites(session: AsyncSession, principal: Principal, scope: Scope) -> Places:
    """Open IDP sites in the area."""
    v = view(_table(IdpSite), principal)
    return await fetch_places(
        session,
        principal,
        IdpSite,
        SITE_FIELDS,
        [v.column("status") == "open"],
        area=scope.area,
    )


@dataclass(frozen=True)
class PatrolRoutes:
    ids: list[uuid.UUID]
    routes: npt.NDArray[np.object_]
    start: npt.NDArray[np.float64]  # seconds since the epoch

    def __len__(self) -> int:
        return len(self.ids)


async def fetch_patrols(
    session: AsyncSession,
    principal: Principal,
    scope: Scope,
    *,
    since: datetime,
    margin_km: float,
) -> PatrolRoutes:
    """Conducted patrols that started between ``since`` and the end of the window."""
    v = view(_table(Patrol), principal)
    start = v.column("start_at")
    statement = (
        select(
            v.column("id"), func.ST_AsBinary(workable_geometry(v)), func.date_part("epoch", start)
        )
        .where(
            v.where,
            v.column("state") == "conducted",
            start >= since,
            start <= scope.end,
            *_near(v, scope.area, margin_km),
        )
        .order_by(v.table.c.id)
    )
    rows = (await session.execute(statement)).all()
    return PatrolRoutes(
        ids=[row[0] for row in rows],
        routes=np.array([shapely.from_wkb(bytes(row[1])) for row in rows], dtype=object),
        start=np.array([float(row[2]) for row in rows], dtype=np.float64),
    )


def site_population(sites: Places) -> npt.NDArray[np.float64]:
    """Each site's population in individuals; NaN where it is not known."""
    return np.array(
        [
            np.nan if p["population_individuals"] is None else float(p["population_individuals"])
            for p in sites.properties
        ],
        dtype=np.float64,
    )


def nearest_to(sites: Places, places: Places, name: str = "name") -> list[dict[str, Any] | None]:
    """For each site, the nearest of ``places`` (as seen) and its geodesic distance."""
    index, km = proximity.nearest(
        sites.lon,
        sites.lat,
        places.lon,
        places.lat,
        source_shapes=sites.area_shapes,
        target_shapes=places.area_shapes,
    )
    return [
        None
        if i < 0
        else {"id": places.ids[i], "name": places.properties[i][name], "distance_km": _km(d)}
        for i, d in zip(index.tolist(), km.tolist(), strict=True)
    ]


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def _km(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 3)


def _num(value: Any, digits: int = 6) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else round(float(value), digits)
    return value


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):  # asyncpg's own UUID type, which orjson does not know
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _geojson(shape: BaseGeometry) -> dict[str, Any]:
    if shape.geom_type == "Point":  # most features: skip the general (slower) path
        return {"type": "Point", "coordinates": [shape.x, shape.y]}
    return dict(mapping(shape))


def feature(
    feature_id: Any, geometry: BaseGeometry | dict[str, Any] | None, properties: dict[str, Any]
) -> dict[str, Any]:
    shape = _geojson(geometry) if isinstance(geometry, BaseGeometry) else geometry
    return {
        "type": "Feature",
        "id": str(feature_id) if feature_id is not None else None,
        "geometry": shape,
        "properties": properties,
    }


def feature_collection(
    features: list[dict[str, Any]], summary: dict[str, Any], parameters: dict[str, Any]
) -> str:
    """The answer: a GeoJSON FeatureCollection with ``summary`` and ``parameters``."""
    body = {
        "type": "FeatureCollection",
        "features": features,
        "summary": summary,
        "parameters": parameters,
    }
    encoded: bytes = orjson.dumps(
        body,
        default=_default,
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z,
    )
    return encoded.decode()


def _site_properties(sites: Places, k: int) -> dict[str, Any]:
    props = sites.properties[k]
    population = props["population_individuals"]
    return {
        "collection": "idp_sites",
        "name": props["name"],
        "site_type": props["site_type"],
        "population": population,
        "generalised": props["generalised"],
    }


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
    actors = view(_table(Actor), principal)
    armed_groups = await fetch_places(
        session, principal, Actor, ("name",), [actors.column("category") == "armed_group"]
    )
    bases = await fetch_places(session, principal, OperatingBase, ("name",))

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
                    **_site_properties(sites, k),
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
                        "days_before_end": _num(last.age_days[k], 2),
                        "distance_km": _km(last.distance_km[k]),
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
    pairs = await asyncio.to_thread(
        proximity.pairs_within,
        sites.lon,
        sites.lat,
        incidents.lon,
        incidents.lat,
        parameters.radius_km,
        source_shapes=sites.area_shapes,
    )
    ages = scope.age_days(incidents.at)
    population = site_population(sites)
    result = await asyncio.to_thread(
        exposure.site_exposure, pairs, incidents.severity, ages, population, parameters
    )
    features = []
    for k in np.argsort(result.rank).tolist()[: limit or None]:
        hazard = float(result.hazard[k])
        reasons = []
        for at in result.top[k].tolist():
            incident = int(pairs.target[at])
            reasons.append(
                {
                    "incident_id": incidents.id(incident),
                    "category": CATEGORIES[int(incidents.category[incident])],
                    "severity": int(incidents.severity[incident]),
                    "occurred_at": datetime.fromtimestamp(float(incidents.at[incident]), UTC),
                    "distance_km": _km(pairs.distance_km[at]),
                    "age_days": _num(ages[incident], 2),
                    "contribution": _num(result.contribution[at]),
                    "share": _num(result.contribution[at] / hazard if hazard else 0.0, 4),
                }
            )
        features.append(
            feature(
                sites.ids[k],
                sites.shapes[k],
                {
                    **_site_properties(sites, k),
                    "rank": int(result.rank[k]),
                    "exposure": _num(result.exposure[k]),
                    "hazard": _num(hazard),
                    "population_used": _num(result.population[k]),
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
        "total_exposure": _num(float(result.exposure.sum())),
    }
    return feature_collection(features, summary, {**scope.describe(), **asdict(parameters)})


# ---------------------------------------------------------------------------------------------
# Risk overlay
# ---------------------------------------------------------------------------------------------


def _area_cells(hex_grid: grid.HexGrid, area: BaseGeometry) -> npt.NDArray[np.uint64]:
    estimate = shapely.area(area) * 111.32**2 / hex_grid.cell_area_km2
    if estimate > MAX_CELLS:
        raise InvalidInput(
            ["query", "resolution"],
            f"the area holds about {int(estimate):,} cells at resolution {hex_grid.resolution}; "
            "use a lower resolution or a smaller area (at most "
            f"{MAX_CELLS:,} cells)",
        )
    if area.geom_type not in ("Polygon", "MultiPolygon"):
        area = area.buffer(1e-9)
    return hex_grid.cells_of_area(area)


async def compute_risk(
    session: AsyncSession,
    principal: Principal,
    scope: Scope,
    parameters: risk.RiskParameters,
) -> tuple[risk.RiskOverlay, grid.HexGrid, int]:
    """The risk overlay over the scope's area, and the number of incidents used."""
    assert scope.area is not None
    hex_grid = grid.HexGrid(parameters.resolution)
    cells = _area_cells(hex_grid, scope.area)
    margin = 2.5 * hex_grid.edge_km  # one ring of cells around the area
    incidents = await fetch_incidents(session, principal, scope, margin_km=margin)
    site_scope = Scope(scope.area, scope.start, scope.end)
    v = view(_table(IdpSite), principal)
    sites = await fetch_places(
        session,
        principal,
        IdpSite,
        SITE_FIELDS,
        [v.column("status") == "open"],
        area=site_scope.area,
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
    return overlay, hex_grid, len(incidents)


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


def _cell_rows(overlay: risk.RiskOverlay, keep: npt.NDArray[np.bool_]) -> list[dict[str, Any]]:
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
    overlay, hex_grid, n_incidents = await compute_risk(session, principal, scope, parameters)
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
        for cell, ring, row in zip(ids, rings, _cell_rows(overlay, keep), strict=True)
    ]
    features.sort(key=lambda f: -f["properties"]["risk"])
    summary = {
        "cells": int(overlay.cells.size),
        "cells_returned": len(features),
        "cell_area_km2": round(hex_grid.cell_area_km2, 3),
        "incidents_in_window": n_incidents,
        "max_risk": _num(float(overlay.risk.max(initial=0.0))),
        "cells_with_hazard": int((overlay.hazard > 0).sum()),
    }
    return feature_collection(
        features,
        summary,
        {**scope.describe(), **asdict(parameters), "include_empty": include_empty},
    )


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Longitude/latitude bounds of a WebMercatorQuad tile."""
    import math

    n = 2.0**z

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


async def risk_tile(
    session: AsyncSession,
    principal: Principal,
    scope: Scope,
    parameters: risk.RiskParameters,
    z: int,
    x: int,
    y: int,
) -> bytes:
    """One Mapbox vector tile of the risk overlay (layer ``risk``), built by PostGIS."""
    overlay, hex_grid, _ = await compute_risk(session, principal, scope, parameters)
    keep = (overlay.risk > 0) | (overlay.vulnerability > 0)
    cells = overlay.cells[keep]
    polygons = [shapely.Polygon(ring) for ring in hex_grid.polygons(cells)]
    rows = _cell_rows(overlay, keep)
    wkbs = [shapely.to_wkb(p) for p in polygons]
    arrays: dict[str, Any] = {
        name: [row[name] for row in rows]
        for name in ("risk", "hazard", "vulnerability", "coverage")
    }
    u = (
        func.unnest(
            bindparam(None, wkbs, type_=ARRAY(LargeBinary), unique=True),
            bindparam(None, hex_grid.to_strings(cells), type_=ARRAY(Text), unique=True),
            *(
                bindparam(
                    None, [float(v or 0.0) for v in arrays[n]], type_=ARRAY(Float()), unique=True
                )
                for n in ("risk", "hazard", "vulnerability", "coverage")
            ),
        )
        .table_valued("wkb", "cell", "risk", "hazard", "vulnerability", "coverage")
        .render_derived()
    )
    envelope = func.ST_TileEnvelope(z, x, y)
    rows_sql = (
        select(
            func.ST_AsMVTGeom(
                func.ST_Transform(func.ST_GeomFromWKB(u.c.wkb, 4326), 3857),
                envelope,
                4096,
                64,
                True,
            ).label("geom"),
            u.c.cell,
            u.c.risk,
            u.c.hazard,
            u.c.vulnerability,
            u.c.coverage,
        )
        .where(
            func.ST_Intersects(
                func.ST_Transform(func.ST_GeomFromWKB(u.c.wkb, 4326), 3857), envelope
            )
        )
        .subquery("t")
    )
    tile = select(func.ST_AsMVT(rows_sql.table_valued(), "risk", 4096, "geom"))
    data = (await session.execute(tile)).scalar_one()
    return bytes(data or b"")


# ---------------------------------------------------------------------------------------------
# Hot spots
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HotspotOptions:
    resolution: int = 6
    alpha: float = 0.05
    include_all: bool = False


async def _window_counts(
    session: AsyncSession,
    principal: Principal,
    scope: Scope,
    hex_grid: grid.HexGrid,
    cells: npt.NDArray[np.uint64],
    starts: Sequence[datetime],
) -> npt.NDArray[np.float64]:
    """Incident counts per cell in each window ``[starts[k], starts[k+1])`` (the last ends at
    the scope's end); only incidents inside the area's cells count."""
    incidents = await fetch_incidents(session, principal, scope, margin_km=0.0, start=starts[0])
    at = risk._index_of(cells, hex_grid.cells_of_points(incidents.lon, incidents.lat))
    edges = [s.timestamp() for s in starts] + [scope.end.timestamp() + 1e-6]
    window = np.searchsorted(np.asarray(edges), incidents.at, side="right") - 1
    ok = (at >= 0) & (window >= 0) & (window < len(starts))
    flat = np.bincount(window[ok] * cells.size + at[ok], minlength=len(starts) * cells.size)
    return flat.reshape(len(starts), cells.size).astype(np.float64)


async def hotspot_layer(
    session: AsyncSession, principal: Principal, scope: Scope, options: HotspotOptions
) -> str:
    """Getis-Ord Gi* on incident counts per cell, with FDR-adjusted p-values."""
    assert scope.area is not None
    hex_grid = grid.HexGrid(options.resolution)
    cells = _area_cells(hex_grid, scope.area)
    if cells.size < 3:
        raise InvalidInput(
            ["query", "resolution"], "the area holds fewer than 3 cells; use a higher resolution"
        )
    counts = (await _window_counts(session, principal, scope, hex_grid, cells, [scope.start]))[0]
    neighbours = hex_grid.neighbour_pairs(cells)
    result = hotspots.getis_ord_gi_star(counts, neighbours, alpha=options.alpha)
    keep = (
        np.ones(cells.size, dtype=bool)
        if options.include_all
        else (counts > 0) | result.hot | result.cold
    )
    ids = hex_grid.to_strings(cells[keep])
    rings = hex_grid.polygons(cells[keep])
    features = []
    for cell, ring, k in zip(ids, rings, np.nonzero(keep)[0].tolist(), strict=True):
        kind = "hot" if result.hot[k] else "cold" if result.cold[k] else None
        features.append(
            feature(
                cell,
                {"type": "Polygon", "coordinates": [ring]},
                {
                    "cell": cell,
                    "incidents": int(counts[k]),
                    "z": _num(result.z[k], 4),
                    "p": _num(result.p[k], 6),
                    "q": _num(result.q[k], 6),
                    "hotspot": kind,
                    "confidence": int(result.confidence[k]),
                },
            )
        )
    features.sort(key=lambda f: -(f["properties"]["z"] or 0.0))
    summary = {
        "cells": int(cells.size),
        "cells_returned": len(features),
        "cell_area_km2": round(hex_grid.cell_area_km2, 3),
        "incidents": int(counts.sum()),
        "mean_per_cell": _num(float(counts.mean()), 4),
        "hot_spots": int(result.hot.sum()),
        "cold_spots": int(result.cold.sum()),
        "uncorrected_p_below_alpha": int((result.p < options.alpha).sum()),
    }
    return feature_collection(features, summary, {**scope.describe(), **asdict(options)})


@dataclass(frozen=True)
class EmergingOptions:
    resolution: int = 6
    alpha: float = 0.05
    windows: int = 4
    z_change: float = 1.0


async def emerging_layer(
    session: AsyncSession, principal: Principal, scope: Scope, options: EmergingOptions
) -> str:
    """Gi* in the current window and the ``windows - 1`` equal windows before it; the trend
    of each cell that was a hot spot in any of them."""
    assert scope.area is not None
    hex_grid = grid.HexGrid(options.resolution)
    cells = _area_cells(hex_grid, scope.area)
    if cells.size < 3:
        raise InvalidInput(
            ["query", "resolution"], "the area holds fewer than 3 cells; use a higher resolution"
        )
    length = scope.end - scope.start
    starts = [scope.start - length * (options.windows - 1 - k) for k in range(options.windows)]
    counts = await _window_counts(session, principal, scope, hex_grid, cells, starts)
    neighbours = hex_grid.neighbour_pairs(cells)
    result = hotspots.emerging_hotspots(
        counts, neighbours, alpha=options.alpha, z_change=options.z_change
    )
    keep = np.array([t is not None for t in result.trend], dtype=bool)
    ids = hex_grid.to_strings(cells[keep])
    rings = hex_grid.polygons(cells[keep])
    features = []
    for cell, ring, k in zip(ids, rings, np.nonzero(keep)[0].tolist(), strict=True):
        features.append(
            feature(
                cell,
                {"type": "Polygon", "coordinates": [ring]},
                {
                    "cell": cell,
                    "trend": result.trend[k],
                    "hot_now": bool(result.current.hot[k]),
                    "z": [_num(w.z[k], 4) for w in result.windows],
                    "q": [_num(w.q[k], 6) for w in result.windows],
                    "incidents": [int(c) for c in counts[:, k]],
                },
            )
        )
    order = {t: i for i, t in enumerate(hotspots.TRENDS)}
    features.sort(key=lambda f: (order[f["properties"]["trend"]], -(f["properties"]["z"][-1] or 0)))
    summary = {
        "cells": int(cells.size),
        "windows": [
            {"start": s, "end": starts[k + 1] if k + 1 < len(starts) else scope.end}
            for k, s in enumerate(starts)
        ],
        "incidents": [int(c) for c in counts.sum(axis=1)],
        "hot_spots": [int(w.hot.sum()) for w in result.windows],
        "trend": {t: int(sum(1 for x in result.trend if x == t)) for t in hotspots.TRENDS},
    }
    return feature_collection(features, summary, {**scope.describe(), **asdict(options)})


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
                    **_site_properties(sites, k),
                    "gap": bool(gaps.gap[k]),
                    "last_patrol": None
                    if patrol < 0
                    else {
                        "id": patrols.ids[patrol],
                        "start_at": datetime.fromtimestamp(float(patrols.start[patrol]), UTC),
                        "days_before_end": _num(gaps.last.age_days[k], 2),
                        "distance_km": _km(gaps.last.distance_km[k]),
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
    overlay, hex_grid, _ = await compute_risk(session, principal, scope, parameters)
    positive = overlay.risk[overlay.risk > 0]
    threshold = float(np.quantile(positive, options.risk_quantile)) if positive.size else np.inf
    projects = await fetch_places(
        session,
        principal,
        Project,
        PROJECT_FIELDS,
        [
            view(_table(Project), principal)
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
                    "risk": _num(overlay.risk[at[k]]),
                    "hazard": _num(overlay.hazard[at[k]]),
                    "coverage": _num(overlay.coverage[at[k]]),
                },
            )
        )
    n_projects = len(features)
    sites = await fetch_sites(session, principal, scope)
    actors = view(_table(Actor), principal)
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
                    **_site_properties(sites, k),
                    "nearest_partner": nearest_partner,
                },
            )
        )
    summary = {
        "projects_in_high_risk_cells": n_projects,
        "sites_without_partner": len(features) - n_projects,
        "risk_threshold": _num(threshold),
        "projects": len(projects),
        "sites": len(sites),
    }
    return feature_collection(
        features, summary, {**scope.describe(), **asdict(parameters), **asdict(options)}
    )


# ---------------------------------------------------------------------------------------------
# De-confliction and "what is near"
# ---------------------------------------------------------------------------------------------


async def stored_route(
    session: AsyncSession, principal: Principal, patrol_id: uuid.UUID
) -> BaseGeometry:
    """A patrol's route as the principal sees it; hidden and unknown patrols are alike."""
    v = view(_table(Patrol), principal)
    found = await session.scalar(
        select(func.ST_AsBinary(v.column("geom"))).where(v.where, v.table.c.id == patrol_id)
    )
    if found is None:
        raise NotFound("no such record in patrols")
    route = shapely.from_wkb(bytes(found))
    if route.geom_type != "LineString":  # shown generalised: the route itself is not yours
        raise Forbidden("you are not cleared for this patrol's route; post the route instead")
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
    actors = view(_table(Actor), principal)
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
                        "distance_km": _km(conflict.distance_km),
                        "along_km": _km(conflict.along_km),
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
    target = _geometry_literal(place)
    features: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for name, (model, fields, time_column) in NEAR_FIELDS.items():
        v = view(_table(model), principal)
        shown = v.column("geom")
        distance = func.ST_Distance(func.geography(shown), func.geography(target)) / 1000.0
        conditions = [
            v.where,
            *_near(v, place, radius_km),
            func.ST_DWithin(func.geography(shown), func.geography(target), radius_km * 1000.0),
        ]
        if time_column is not None:
            conditions += [v.column(time_column) >= scope.start, v.column(time_column) <= scope.end]
        if name == "incidents" and scope.categories:
            conditions.append(v.column("category").in_(scope.categories))
        conditions += _inside(v, scope.area)  # a sector or bbox narrows it further
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
                "distance_km": _km(row[2]),
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
