"""Point layers' vector tiles at low zooms: points that fall on the same cell of the tile's
grid (one cell per pixel of a 256-pixel tile) with the same drawn attributes are one
feature, with their ``count`` and the id of one of them. 20,000 incidents made a 1.8 MB tile
at zoom 0 of points drawn on top of each other; grouped, the tile holds what can be seen.

Built from the principal's view of the table, with the same filters as every tile
(``service.layers.tiles.build_tile``), so a group counts only what the principal may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.access.sql import view
from service.collections.registry import Collection
from service.core.params import ListQuery
from service.core.records import apply_filters
from service.db import without_parallel_workers
from service.layers.tiles import MVT_BUFFER, MVT_EXTENT, rfc3339, tile_bounds

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
    envelope = func.ST_TileEnvelope(z, x, y)
    geometry = func.ST_SnapToGrid(
        func.ST_AsMVTGeom(
            func.ST_Transform(v.column("geom"), 3857), envelope, MVT_EXTENT, MVT_BUFFER, True
        ),
        GROUP_CELL,
    ).label("geom")
    drawn = [name for name in collection.tile_fields if not name.endswith("_at")]
    instants = [name for name in collection.tile_fields if name.endswith("_at")]
    points = (
        select(
            geometry,
            cast(v.column("id"), Text).label("id"),
            v.column("generalised").label("generalised"),
            *(v.column(name).label(name) for name in collection.tile_fields),
        )
        .where(v.where, *conditions)
        .subquery("points")
    )
    keys: list[Any] = [points.c.geom, points.c.generalised, *(points.c[n] for n in drawn)]
    grouped = (
        select(
            *keys,
            func.min(points.c.id).label("id"),
            func.count().label("count"),
            *(rfc3339(func.max(points.c[n])).label(n) for n in instants),
        )
        .where(points.c.geom.is_not(None))
        .group_by(*keys)
        .subquery("t")
    )
    tile = select(func.ST_AsMVT(grouped.table_valued(), collection.name, MVT_EXTENT, "geom"))
    await without_parallel_workers(session)
    content = await session.scalar(tile)
    return bytes(content or b"")
