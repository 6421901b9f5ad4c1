"""Point layers' vector tiles at low zooms: points that fall in the same cell of the tile's
32 x 32 grid (8 pixels of a 256-pixel tile) with the same drawn texts are one feature at the
cell's centre, with their ``count``, the id of one of them, the highest of their drawn numbers
(an incident group's worst severity) and the latest of their instants. 20,000 incidents made
a 1.8 MB tile at zoom 0 of points drawn on top of each other; grouped, the tile holds what can
be seen, and a dense tile is every point counted, not a sample.

Read from the counts kept per zoom (``service.layers.groups``) where they may be, otherwise
counted from the principal's view of the table with the same filters as every tile
(``service.layers.tiles.build_tile``). Either way a group counts only what the principal may
see, and the two give the same groups."""

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
from service.layers import groups
from service.layers.groups import GRID, GROUP_BELOW_ZOOM, cell_of, drawn
from service.layers.tiles import MVT_EXTENT, rfc3339, tile_bounds

#: Units of the tile's 4096 grid per group cell.
GROUP_CELL = MVT_EXTENT // GRID


def groups_points(collection: Collection, z: int) -> bool:
    return collection.geometry_types == ("Point",) and z < GROUP_BELOW_ZOOM


def counted_groups(
    collection: Collection, principal: Principal, z: int, x: int, y: int, query: ListQuery
) -> Any:
    """The groups of tile z/x/y counted from the principal's view of the table."""
    v = view(collection.table, principal)
    conditions = apply_filters(
        v, collection, ListQuery(**{**query.__dict__, "bbox": tile_bounds(z, x, y)})
    )
    shown = drawn(collection)
    geom = v.column("geom")
    column, row = cell_of(func.ST_X(geom), func.ST_Y(geom), z)
    points = (
        select(
            column.label("cx"),
            row.label("cy"),
            cast(v.column("id"), Text).label("id"),
            v.column("generalised").label("generalised"),
            *(v.column(name).label(name) for name in collection.tile_fields),
        )
        .where(v.where, *conditions)
        .subquery("points")
    )
    p = points.c
    keys = [p.cx, p.cy, p.generalised, *(p[n] for n in shown.keys)]
    return (
        select(
            p.cx,
            p.cy,
            p.generalised,
            *(p[n] for n in shown.keys),
            func.min(p.id).label("id"),
            cast(func.count(), Integer).label("count"),
            *(func.max(p[n]).label(n) for n in shown.highest),
            *(func.max(p[n]).label(n) for n in shown.latest),
        )
        .where(
            p.cx.between(GRID * x, GRID * x + GRID - 1), p.cy.between(GRID * y, GRID * y + GRID - 1)
        )
        .group_by(*keys)
        .limit(get_settings().tile_max_features)
    )


async def build_grouped_tile(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    z: int,
    x: int,
    y: int,
    query: ListQuery,
) -> bytes:
    """A Mapbox Vector Tile of the collection's points, grouped by cell and drawn texts."""
    limit = get_settings().tile_max_features
    if groups.readable(collection, principal, query) and await groups.current(session, collection):
        found = groups.tile_groups(collection, principal, z, x, y, limit).subquery("found")
    else:
        found = counted_groups(collection, principal, z, x, y, query).subquery("found")
    shown = drawn(collection)
    half = literal(GROUP_CELL / 2, Float())
    grouped = select(
        func.ST_MakePoint(
            (found.c.cx - GRID * x) * GROUP_CELL + half, (found.c.cy - GRID * y) * GROUP_CELL + half
        ).label("geom"),
        found.c.generalised,
        *(found.c[n] for n in shown.keys),
        found.c.id,
        found.c.count,
        *(found.c[n] for n in shown.highest),
        *(rfc3339(found.c[n]).label(n) for n in shown.latest),
    ).subquery("t")
    tile = select(func.ST_AsMVT(grouped.table_valued(), collection.name, MVT_EXTENT, "geom"))
    await without_parallel_workers(session)
    content = await session.scalar(tile)
    return bytes(content or b"")
