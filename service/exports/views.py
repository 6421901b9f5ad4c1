"""``GET /api/<collection>/export``: the list, with its filters, as a file.

Registered before the collection routers, so ``/export`` is not taken for a record id.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from service.access.deps import PrincipalDep
from service.collections.params import ListQuery
from service.collections.registry import COLLECTIONS, Collection
from service.collections.views import list_query_dependency
from service.config import get_settings
from service.db import SessionDep
from service.exports import service

FormatName = Literal["geojson", "gpkg", "shapefile", "shp", "kml", "csv", "hxl"]


def _route(collection: Collection) -> Any:
    list_query = list_query_dependency(collection)

    async def export(
        session: SessionDep,
        principal: PrincipalDep,
        query: Annotated[ListQuery, Depends(list_query)],
        format: Annotated[
            FormatName,
            Query(description="geojson, gpkg, shapefile (zipped), kml, or csv (with an HXL row)."),
        ] = "geojson",
    ) -> Response:
        exported = await service.export(
            session, collection, principal, query, format, get_settings().import_dir
        )
        return FileResponse(
            exported.path,
            media_type=exported.media_type,
            filename=exported.filename,
            background=BackgroundTask(exported.discard),
        )

    return export


def export_router() -> APIRouter:
    """One export route per collection, each documenting its own filters."""
    router = APIRouter()
    for collection in COLLECTIONS.values():
        router.add_api_route(
            f"/api/{collection.name}/export",
            _route(collection),
            methods=["GET"],
            tags=[collection.title],
            summary=f"Export {collection.title.lower()} as a file",
            description=(
                "Every record you may see that matches the list filters (limit and cursor do "
                "not apply), generalised where the access policy says so."
            ),
            operation_id=f"export_{collection.name}",
            response_class=Response,
            responses={200: {"content": {f.media_type: {} for f in service.FORMATS.values()}}},
        )
    return router


router = export_router()
