"""Heat tiles: incident counts on a coarse grid per WebMercatorQuad tile, for the zoomed-out
heat view of the analysts' map. Counted in PostgreSQL through the principal's view of the
table, so a heat map never counts what its reader may not see, and a generalised record counts
only at its generalised place."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy import Integer, Text, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.access.sql import view
from service.auth.deps import PrincipalDep
from service.collections.registry import COLLECTIONS, Collection
from service.core.params import ListQuery
from service.core.records import apply_filters
from service.core.routes import list_query_dependency
from service.layers import service
from service.layers.service import WORLD_M
from service.layers.views import serve_tile
from service.read_replicas import ReadSessionDep

#: Cells per tile side: 32 cells of 8 pixels on a 256-pixel tile.
HEAT_GRID = 32
#: Heat is for the whole picture; closer in, the map draws the incidents themselves.
HEAT_MAX_ZOOM = 14
#: Web Mercator metres per degree of longitude, and the sphere's radius (EPSG:3857).
M_PER_DEGREE = WORLD_M / 360
EARTH_RADIUS_M = 6378137.0

INCIDENTS = COLLECTIONS["incidents"]

router = APIRouter(prefix="/layers/heat", tags=["OGC API - Tiles"])


async def build_heat_tile(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    z: int,
    x: int,
    y: int,
    query: ListQuery,
) -> bytes:
    """``{"grid": 32, "cells": [[column, row, count], ...]}`` for one tile of a point
    collection, rows counted from the top, assembled by PostgreSQL; empty cells are left out."""
    v = view(collection.table, principal)
    conditions = apply_filters(
        v, collection, ListQuery(**{**query.__dict__, "bbox": service.tile_bounds(z, x, y)})
    )
    if collection.time is not None and collection.time[1] is None and query.interval:
        # The same condition as the filter's, written so the time index can serve it.
        begin = query.interval[0]
        if begin is not None:
            conditions.append(v.column(collection.time[0]) >= begin)
    tile_m = WORLD_M / 2**z
    cell_m = tile_m / HEAT_GRID
    left = -WORLD_M / 2 + x * tile_m
    top = WORLD_M / 2 - y * tile_m
    shown = v.column("geom")
    # Web Mercator by formula: what ST_Transform(geom, 3857) gives for points, and cheaper.
    mercator_x = func.ST_X(shown) * M_PER_DEGREE
    mercator_y = func.ln(func.tan(func.radians(45.0 + func.ST_Y(shown) / 2.0))) * EARTH_RADIUS_M
    column = cast(func.floor((mercator_x - literal(left)) / literal(cell_m)), Integer)
    row = cast(func.floor((literal(top) - mercator_y) / literal(cell_m)), Integer)
    counts = (
        select(column.label("i"), row.label("j"), func.count().label("n"))
        .where(v.where, *conditions)
        .group_by(column, row)
        .subquery("counts")
    )
    inside = [counts.c.i.between(0, HEAT_GRID - 1), counts.c.j.between(0, HEAT_GRID - 1)]
    cells = func.coalesce(
        func.json_agg(func.json_build_array(counts.c.i, counts.c.j, counts.c.n)),
        func.json_build_array(),
    )
    body = select(cast(func.json_build_object("grid", HEAT_GRID, "cells", cells), Text)).where(
        *inside
    )
    text = await session.scalar(body)
    return str(text).encode()


@router.get(
    "/incidents/{z}/{x}/{y}",
    summary="Heat tile of incidents: counts on a 32 x 32 grid of a WebMercatorQuad tile",
    description="For the heat view of the map when zoomed out: the incidents you may see in "
    "the tile, counted per cell of a 32 x 32 grid (8 pixels of a 256-pixel tile), with the "
    "same filters as the items and vector tiles (`datetime`, `category`, ...). Cells are "
    "`[column, row, count]`, rows counted from the top of the tile. Answers carry an `ETag` "
    "and revalidate like the vector tiles.",
    operation_id="heat_tile_incidents",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}, 304: {}},
)
async def incidents_heat_tile(
    request: Request,
    session: ReadSessionDep,
    principal: PrincipalDep,
    query: Annotated[ListQuery, Depends(list_query_dependency(INCIDENTS))],
    z: Annotated[int, Path(ge=0, le=HEAT_MAX_ZOOM)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
) -> Response:
    return await serve_tile(
        request,
        session,
        INCIDENTS,
        principal,
        (z, x, y),
        query,
        kind=f"heat{HEAT_GRID}",
        media_type="application/json",
        build=lambda: build_heat_tile(session, INCIDENTS, principal, z, x, y, query),
    )
