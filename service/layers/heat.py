"""Heat tiles: incident counts on a coarse grid per WebMercatorQuad tile, for the zoomed-out
heat view of the analysts' map. Counted in PostgreSQL through the principal's view of the
table, so a heat map never counts what its reader may not see, and a generalised record counts
only at its generalised place."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from service.auth.deps import PrincipalDep
from service.collections.registry import COLLECTIONS
from service.core.params import ListQuery
from service.core.routes import list_query_dependency
from service.layers.tiles import HEAT_GRID, build_heat_tile, serve_tile
from service.read_replicas import ReadSessionDep

__all__ = ["HEAT_GRID", "HEAT_MAX_ZOOM", "build_heat_tile", "router"]

#: Heat is for the whole picture; closer in, the map draws the incidents themselves.
HEAT_MAX_ZOOM = 14

INCIDENTS = COLLECTIONS["incidents"]

router = APIRouter(prefix="/layers/heat", tags=["OGC API - Tiles"])


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
