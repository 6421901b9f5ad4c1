"""The basemap's tiles, read from the basemap file (signed-in users only)."""

from __future__ import annotations

import gzip
from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from service.auth.deps import PrincipalDep
from service.basemap import service
from service.config import get_settings
from service.errors import NotFound
from service.i18n import _

router = APIRouter(prefix="/basemap", tags=["Basemap"])


@router.get(
    "",
    summary="The basemap: what it holds",
    responses={
        404: {"description": "The service has no basemap: the map draws a plain background."}
    },
)
async def basemap(principal: PrincipalDep) -> dict[str, Any]:
    info = service.basemap_info(get_settings())
    if info is None:
        raise NotFound(_("the service has no basemap: the map draws a plain background"))
    return {
        "name": info.name,
        "format": info.format,
        "vector": info.vector,
        "minzoom": info.minzoom,
        "maxzoom": info.maxzoom,
        "bounds": info.bounds,
        "attribution": info.attribution,
        "tiles": ["/basemap/tiles/{z}/{x}/{y}"],
    }


@router.get(
    "/tiles/{z}/{x}/{y}",
    summary="A basemap tile",
    description="A tile of the basemap file (XYZ numbering), as the file holds it: PNG, JPEG "
    "or WebP for a raster basemap, a Mapbox Vector Tile for a vector one. 204 (no content) "
    "where the file has no tile; 404 when the service has no basemap.",
    responses={
        200: {"content": {"image/png": {}}},
        204: {"description": "The file has no tile there."},
        404: {"description": "The service has no basemap."},
    },
)
async def basemap_tile(z: int, x: int, y: int, principal: PrincipalDep) -> Response:
    info = service.basemap_info(get_settings())
    if info is None:
        raise NotFound(_("the service has no basemap"))
    data = await run_in_threadpool(service.tile, info, z, x, y)
    headers = {"Cache-Control": "private, max-age=86400"}
    if data is None:
        # Outside what the file covers: nothing to draw there, which is no error.
        return Response(status_code=204, headers=headers)
    if info.vector and data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return Response(data, media_type=info.media_type, headers=headers)
