"""Where and when an analysis looks: the area (a sector as the principal sees it and/or a
bbox), the time window and the incident categories, and the SQL conditions that select
records near or inside that area."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Table,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from geo.analysis import grid
from geo.analysis.geodesy import degree_margin
from service.access.policy import Principal
from service.access.sql import View, view
from service.enums import IncidentCategory
from service.errors import Forbidden, InvalidInput, NotFound
from service.i18n import _, format_number
from service.sectors.models import Sector

CATEGORIES: tuple[str, ...] = tuple(c.value for c in IncidentCategory)
SECONDS_PER_DAY = 86_400.0
#: Grids larger than this many cells are refused: ask for a smaller area or resolution.
MAX_CELLS = 400_000


def table_of(model: type[Any]) -> Table:
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
    #: Count verified incidents only; else field reports not yet judged count too (never a
    #: discredited one nor a merged duplicate: ``service.incidents.verification``).
    verified_only: bool = True

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
            "verified_only": self.verified_only,
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
    verified_only: bool = True,
) -> Scope:
    """The area from a sector (as the principal sees its boundary) and/or a bbox, and the
    window (default: the ``default_days`` before the end, which defaults to now)."""
    area: BaseGeometry | None = box(*bbox) if bbox is not None else None
    if sector is not None:
        v = view(table_of(Sector), principal)
        row = (
            await session.execute(
                select(func.ST_AsBinary(v.column("geom")), v.exact).where(
                    v.where, v.table.c.id == sector
                )
            )
        ).one_or_none()
        if row is None:
            raise NotFound(_("no such sector"))
        if not row[1]:
            raise Forbidden(_("the boundary of this sector is not available to you; use bbox"))
        boundary = shapely.from_wkb(bytes(row[0]))
        area = boundary if area is None else boundary.intersection(area)
        if area.is_empty:
            raise InvalidInput(["query", "bbox"], _("bbox does not overlap the sector"))
    if require_area and area is None:
        raise InvalidInput(["query", "sector"], _("give a sector or a bbox for this analysis"))
    start, end = interval if interval is not None else (None, None)
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=default_days)
    unknown = sorted(set(categories or ()) - set(CATEGORIES))
    if unknown:
        raise InvalidInput(
            ["query", "category"],
            _(
                "unknown category {category!r}; use one of: {allowed}",
                category=unknown[0],
                allowed=", ".join(CATEGORIES),
            ),
        )
    return Scope(
        area, start, end, tuple(categories) if categories else None, sector, bbox, verified_only
    )


def geometry_literal(shape: BaseGeometry) -> ColumnElement[Any]:
    return func.ST_GeomFromWKB(literal(shapely.to_wkb(shape), LargeBinary()), 4326)


def near_conditions(
    v: View, area: BaseGeometry | None, margin_km: float
) -> list[ColumnElement[bool]]:
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


def inside_conditions(v: View, area: BaseGeometry | None) -> list[ColumnElement[bool]]:
    """Records whose shown geometry intersects the area."""
    if area is None:
        return []
    return [
        *near_conditions(v, area, 0.0),
        func.ST_Intersects(v.column("geom"), geometry_literal(area)),
    ]


def area_cells(hex_grid: grid.HexGrid, area: BaseGeometry) -> npt.NDArray[np.uint64]:
    estimate = shapely.area(area) * 111.32**2 / hex_grid.cell_area_km2
    if estimate > MAX_CELLS:
        raise InvalidInput(
            ["query", "resolution"],
            _(
                "the area holds about {cells} cells at resolution {resolution}; use a lower "
                "resolution or a smaller area (at most {most} cells)",
                cells=format_number(int(estimate)),
                resolution=hex_grid.resolution,
                most=format_number(MAX_CELLS),
            ),
        )
    if area.geom_type not in ("Polygon", "MultiPolygon"):
        area = area.buffer(1e-9)
    return hex_grid.cells_of_area(area)
