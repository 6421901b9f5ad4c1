"""Point layers' vector tiles at low zooms: points that fall on the same cell of the tile's
grid (one cell per pixel of a 256-pixel tile) with the same drawn attributes are one
feature, with their ``count`` and the id of one of them. 20,000 incidents made a 1.8 MB tile
at zoom 0 of points drawn on top of each other; grouped, the tile holds what can be seen.

Built from the principal's view of the table, with the same filters as every tile
(``service.layers.tiles.build_tile``), so a group counts only what the principal may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer, Text, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.access.sql import view
from service.collections.registry import Collection
from service.config import get_settings
from service.core.params import ListQuery
from service.core.records import apply_filters
from service.db import without_parallel_workers
from service.layers.tiles import (
    EARTH_RADIUS_M,
    M_PER_DEGREE,
    MVT_BUFFER,
    MVT_EXTENT,
    WORLD_M,
    rfc3339,
    tile_bounds,
)

#: Zooms below this one group points.
GROUP_BELOW_ZOOM = 8
#: Points are grouped on the cells of a 256 x 256 grid (one per screen pixel of a 256-pixel
#: tile: at zoom 0 some 150 km, at zoom 7 about 1.2 km), snapped in the tile's own 4096 grid
#: so that clients read it as every other tile.
GROUP_CELL = MVT_EXTENT // 256


def groups_points(collection: Collection, z: int) -> bool:
    return collection.geometry_types == ("Point",) and z < GROUP_BELOW_ZOOM


async def build_grouped_tile(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    z: int,
    x: int,
    y: int,
    query: ListQuery,
) -> bytes:
    """A Mapbox Vector Tile of the collection's points, grouped by tile-grid cell and drawn
    attributes (instants are not drawn: the group carries its latest)."""
    v = view(collection.table, principal)
    conditions = apply_filters(
        v, collection, ListQuery(**{**query.__dict__, "bbox": tile_bounds(z, x, y)})
    )
    # The point's cell on the tile's 4096 grid by formula (Web Mercator of a WGS 84 point, as
    # ST_Transform and ST_AsMVTGeom place it, then snapped to the grouping grid): a few
    # arithmetic operations per point instead of a transformed and clipped geometry each,
    # which on a million incidents was most of a tile's seconds.
    tile_m = WORLD_M / 2**z
    left, top = -WORLD_M / 2 + x * tile_m, WORLD_M / 2 - y * tile_m
    per_m = literal(MVT_EXTENT / tile_m / GROUP_CELL, Float())
    shown = v.column("geom")
    mercator_x = func.ST_X(shown) * M_PER_DEGREE
    mercator_y = func.ln(func.tan(func.radians(45.0 + func.ST_Y(shown) / 2.0))) * EARTH_RADIUS_M
    column = cast(func.round((mercator_x - literal(left, Float())) * per_m), Integer) * GROUP_CELL
    row = cast(func.round((literal(top, Float()) - mercator_y) * per_m), Integer) * GROUP_CELL
    drawn = [name for name in collection.tile_fields if not name.endswith("_at")]
    instants = [name for name in collection.tile_fields if name.endswith("_at")]
    points = (
        select(
            column.label("px"),
            row.label("py"),
            cast(v.column("id"), Text).label("id"),
            v.column("generalised").label("generalised"),
            *(v.column(name).label(name) for name in collection.tile_fields),
        )
        .where(v.where, *conditions)
        .subquery("points")
    )
    inside = [
        points.c.px.between(-MVT_BUFFER, MVT_EXTENT + MVT_BUFFER),
        points.c.py.between(-MVT_BUFFER, MVT_EXTENT + MVT_BUFFER),
    ]
    keys: list[Any] = [points.c.px, points.c.py, points.c.generalised]
    keys += [points.c[n] for n in drawn]
    grouped = (
        select(
            func.ST_MakePoint(points.c.px, points.c.py).label("geom"),
            *keys[2:],
            func.min(points.c.id).label("id"),
            func.count().label("count"),
            *(rfc3339(func.max(points.c[n])).label(n) for n in instants),
        )
        .where(*inside)
        .group_by(*keys)
        # At most ``tile_max_features`` groups, as every other tile.
        .limit(get_settings().tile_max_features)
        .subquery("t")
    )
    tile = select(func.ST_AsMVT(grouped.table_valued(), collection.name, MVT_EXTENT, "geom"))
    await without_parallel_workers(session)
    content = await session.scalar(tile)
    return bytes(content or b"")
