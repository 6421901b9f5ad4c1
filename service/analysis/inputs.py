"""The inputs of the analyses, read through the principal's views and returned as arrays.

Every input is selected from the principal's view of a table (:func:`service.access.sql.view`):
hidden records never enter a computation, generalised ones enter only with their generalised
location."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    SmallInteger,
    bindparam,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text

from geo.analysis import proximity
from service.access.policy import Principal
from service.access.sql import view
from service.analysis.geojson import round_km
from service.analysis.scope import CATEGORIES, Scope, inside_conditions, near_conditions, table_of
from service.incidents.models import Incident
from service.incidents.verification import counted
from service.outlines import workable_geometry
from service.patrols.models import Patrol
from service.sites.models import IdpSite

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
    #: Shown at a generalised location (a distance to it is not the incident's), when the ids
    #: are asked for.
    generalised: npt.NDArray[np.bool_] | None = None

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
    v = view(table_of(Incident), principal)
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
        columns.append(packed(func.boolsend(v.column("generalised"))))
    conditions = [
        v.where,
        occurred >= (start or scope.start),
        occurred <= scope.end,
        *near_conditions(v, scope.area, margin_km),
    ]
    if scope.categories:
        conditions.append(v.column("category").in_(scope.categories))
    conditions += counted(v, principal, verified_only=scope.verified_only)
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
            np.empty(0, dtype=bool) if with_ids else None,
        )
    return IncidentArrays(
        lon=np.frombuffer(row[0], dtype=">f8").astype(np.float64),
        lat=np.frombuffer(row[1], dtype=">f8").astype(np.float64),
        severity=np.frombuffer(row[2], dtype=">i2").astype(np.int64),
        category=np.frombuffer(row[3], dtype=">i2").astype(np.int64) - 1,
        at=np.frombuffer(row[4], dtype=">f8").astype(np.float64),
        id_bytes=bytes(row[5]) if with_ids else None,
        generalised=np.frombuffer(row[6], dtype=np.uint8).astype(bool) if with_ids else None,
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
    v = view(table_of(model), principal)
    where = [v.where, *conditions]
    where += (
        inside_conditions(v, area) if margin_km is None else near_conditions(v, area, margin_km)
    )
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
    v = view(table_of(IdpSite), principal)
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
    v = view(table_of(Patrol), principal)
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
            *near_conditions(v, scope.area, margin_km),
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
        else {
            "id": places.ids[i],
            "name": places.properties[i][name],
            "distance_km": round_km(d),
            # Measured to a generalised location: not the distance to the record itself.
            "generalised": bool(places.properties[i].get("generalised")),
        }
        for i, d in zip(index.tolist(), km.tolist(), strict=True)
    ]


def site_properties(sites: Places, k: int) -> dict[str, Any]:
    props = sites.properties[k]
    population = props["population_individuals"]
    return {
        "collection": "idp_sites",
        "name": props["name"],
        "site_type": props["site_type"],
        "population": population,
        "generalised": props["generalised"],
    }
