"""Where a thing is, in the reader's words: the site, the nearest named place and the sector.

Alerts and reports name where something happened instead of giving coordinates:

- the **site** concerned, when it is one of the records the text is about;
- the **nearest place** of the gazetteer ("3 km NE of Dorosa"): the ``places`` collection,
  read through the reader's view (``service.places.service.nearest_place``);
- the **sector**: the smallest area of responsibility that holds the point, as the reader
  sees its boundary.

Every lookup goes through :func:`service.access.sql.view` with the reader's principal, so a
name the reader may not see is never written for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text

from service.access.policy import Principal
from service.access.sql import view
from service.places.service import nearest_place
from service.sectors.models import Sector

#: Smaller areas of responsibility first.
LEVELS = ("battalion", "sector", "force")


@dataclass(frozen=True)
class Whereabouts:
    """Where a point is, in words; any part may be unknown (None)."""

    site: str | None = None
    place: str | None = None
    sector: str | None = None

    @property
    def text(self) -> str:
        """``"Kalembe camp, 3.1 km NE of Dorosa (Sector North)"``; empty when nothing is
        known."""
        head = ", ".join(p for p in (self.site, self.place) if p)
        if self.sector:
            return f"{head} ({self.sector})" if head else self.sector
        return head

    def as_dict(self) -> dict[str, Any]:
        return {"site": self.site, "place": self.place, "sector": self.sector, "text": self.text}


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _point(lon: float, lat: float) -> Any:
    return func.ST_SetSRID(func.ST_MakePoint(literal(lon), literal(lat)), 4326)


def _classified(table: Table, classifications: Sequence[str] | None) -> list[Any]:
    if classifications is None:
        return []
    return [table.c.classification.in_(list(classifications))]


async def sector_of(
    session: AsyncSession,
    principal: Principal,
    lon: float,
    lat: float,
    classifications: Sequence[str] | None = None,
) -> str | None:
    """The name of the smallest sector (battalion area, sector, force area) holding the
    point, among those whose boundary the principal sees (and, given ``classifications``,
    only sectors of those)."""
    v = view(_table(Sector), principal)
    levels = bindparam(None, list(LEVELS), type_=ARRAY(Text), unique=True)
    level = func.array_position(levels, v.column("level"))
    name = await session.scalar(
        select(v.column("name"))
        .where(
            v.where,
            v.exact,
            *_classified(v.table, classifications),
            func.ST_Intersects(v.column("geom"), _point(lon, lat)),
        )
        .order_by(level, func.ST_Area(v.column("geom")))
        .limit(1)
    )
    return str(name) if name else None


async def where_is(
    session: AsyncSession,
    principal: Principal,
    lon: float,
    lat: float,
    *,
    site: str | None = None,
    classifications: Sequence[str] | None = None,
) -> Whereabouts:
    """The point in words for ``principal``: the site (given by the caller, who knows it is
    one of the records concerned), the nearest place and the sector.

    Text written once for many readers (an alert, as the service) passes the
    ``classifications`` every one of those readers is cleared for: no place or sector more
    restricted than that is named."""
    place = await nearest_place(session, principal, lon, lat, classifications)
    return Whereabouts(
        site=site,
        place=place.phrase if place else None,
        sector=await sector_of(session, principal, lon, lat, classifications),
    )
