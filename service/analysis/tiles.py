"""The risk overlay as Mapbox vector tiles, built by PostGIS."""

from __future__ import annotations

from typing import Any

import shapely
from sqlalchemy import (
    Float,
    LargeBinary,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text

from geo.analysis import risk
from service.access.policy import Principal
from service.analysis.risk import cell_rows, compute_risk
from service.analysis.scope import Scope


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
    computed = await compute_risk(session, principal, scope, parameters)
    overlay, hex_grid = computed.overlay, computed.grid
    keep = (overlay.risk > 0) | (overlay.vulnerability > 0)
    cells = overlay.cells[keep]
    polygons = [shapely.Polygon(ring) for ring in hex_grid.polygons(cells)]
    rows = cell_rows(overlay, keep)
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
