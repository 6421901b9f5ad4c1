"""The gazetteer as other parts of the service use it: the place nearest a point, among those
the caller may see in full, and the phrase that names the point by it ("3 km NE of Dorosa")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from geo.places import Relation, relation, to_mgrs
from service.access.policy import Principal
from service.access.sql import view
from service.enums import PlaceClass
from service.places.models import Place

#: A point farther than this from every place is named by its coordinates only.
NEAR_KM = 50.0
#: Small places name a point only when they are much closer than a town would be: a report
#: speaks of "2 km N of a hamlet" but of "15 km SE of Dorosa" rather than of a far hamlet.
REACH_KM: dict[str, float] = {
    PlaceClass.city: NEAR_KM,
    PlaceClass.town: 30.0,
    PlaceClass.village: 10.0,
    PlaceClass.hamlet: 5.0,
}
#: How many of the nearest places are weighed against each other.
CANDIDATES = 12


@dataclass(frozen=True)
class NearestPlace:
    """A point named by a place: the place, where the point lies from it, and its MGRS."""

    place_id: str
    place_class: str
    relation: Relation
    mgrs: str

    @property
    def phrase(self) -> str:
        return self.relation.phrase

    def as_dict(self) -> dict[str, Any]:
        return {
            "phrase": self.phrase,
            "place": {"id": self.place_id, "name": self.relation.place, "class": self.place_class},
            "distance_km": round(self.relation.distance_km, 2),
            "bearing": round(self.relation.bearing, 1),
            "compass": self.relation.compass,
            "mgrs": self.mgrs,
        }


def _table() -> Table:
    table = Place.__table__
    assert isinstance(table, Table)
    return table


async def nearest_place(
    session: AsyncSession,
    principal: Principal,
    lon: float,
    lat: float,
    classifications: Sequence[str] | None = None,
) -> NearestPlace | None:
    """The place that best names the point for ``principal``: the nearest within the reach of
    its class (a city from farther away than a hamlet), among the places they see in full
    (a place shown them generalised, or hidden, never names a point). ``None`` when none is
    within reach.

    Text written once for many readers (an alert) passes the ``classifications`` every one of
    them is cleared for: no place more restricted than that names the point."""
    v = view(_table(), principal)
    point = func.ST_SetSRID(func.ST_MakePoint(literal(lon), literal(lat)), 4326)
    geom = v.table.c.geom
    rows = (
        await session.execute(
            select(
                v.table.c.id,
                v.table.c.name,
                v.table.c.place_class,
                func.ST_X(geom).label("lon"),
                func.ST_Y(geom).label("lat"),
            )
            .where(and_(v.where, v.exact, v.table.c.name.is_not(None)))
            .where(*_classified(v.table, classifications))
            .where(
                func.ST_DWithin(
                    func.geography(geom), func.geography(point), literal(NEAR_KM * 1000.0)
                )
            )
            .order_by(geom.op("<->")(point))
            .limit(CANDIDATES)
        )
    ).all()
    best: NearestPlace | None = None
    best_score = float("inf")
    for row in rows:
        found = relation(row.name, row.lon, row.lat, lon, lat)
        reach = REACH_KM.get(row.place_class, NEAR_KM)
        if found.distance_km > reach:
            continue
        # Distance as a share of the class's reach: a town 6 km away names the point before a
        # hamlet 3 km away (0.2 against 0.6).
        score = found.distance_km / reach
        if score < best_score:
            best_score = score
            best = NearestPlace(str(row.id), row.place_class, found, to_mgrs(lon, lat))
    return best


def _classified(table: Table, classifications: Sequence[str] | None) -> list[Any]:
    if classifications is None:
        return []
    return [table.c.classification.in_(list(classifications))]


async def describe_point(
    session: AsyncSession, principal: Principal, lon: float, lat: float
) -> str:
    """How a report names the point for ``principal``: "3 km NE of Dorosa", or its MGRS
    reference when no place they may see is near."""
    found = await nearest_place(session, principal, lon, lat)
    return found.phrase if found is not None else to_mgrs(lon, lat)
