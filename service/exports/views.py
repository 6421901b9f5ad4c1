"""``GET /api/<collection>/export``: the list, with its filters, as a file.

Registered before the collection routers, so ``/export`` is not taken for a record id.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from service.auth.deps import PrincipalDep
from service.collections.registry import COLLECTIONS, Collection
from service.config import get_settings
from service.core.params import ListQuery, query_params
from service.core.routes import list_query_dependency
from service.db import SessionDep
from service.exports import service
from service.i18n import SOURCE_LANGUAGE, in_language
from service.jobs import service as jobs
from service.jobs import views as jobs_views
from service.request_language import asked_language

FormatName = Literal["geojson", "gpkg", "shapefile", "shp", "kml", "csv", "hxl"]


def _route(collection: Collection) -> Any:
    list_query = list_query_dependency(collection)

    async def export(
        request: Request,
        session: SessionDep,
        principal: PrincipalDep,
        query: Annotated[ListQuery, Depends(list_query)],
        format: Annotated[
            FormatName,
            Query(description="geojson, gpkg, shapefile (zipped), kml, or csv (with an HXL row)."),
        ] = "geojson",
        lang: Annotated[
            str | None,
            Query(
                description="A language (fr, ar...): beside each enumerated column (category, "
                "status...), `<column>_label` gives its label in that language; the codes stay. "
                "Not for GeoJSON, which keeps the API's properties.",
                max_length=16,
            ),
        ] = None,
    ) -> Response:
        language = asked_language(lang, SOURCE_LANGUAGE)
        settings = get_settings()
        most = settings.jobs_export_inline_rows
        count = await service.count_at_most(session, collection, principal, query, most)
        if count > most:
            # Large: written by a worker process, as the user, and fetched from the job.
            job = await jobs.submit(
                session,
                principal,
                "export",
                {
                    "collection": collection.name,
                    "format": format,
                    "query": query_params(query),
                    "language": language,
                },
            )
            return jobs_views.accepted(request, job, principal)
        with in_language(language):
            exported = await service.export(session, collection, principal, query, format)
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
                "not apply), generalised where the access policy says so. Up to "
                "`CIVOP_JOBS_EXPORT_INLINE_ROWS` records (10,000 by default) the file is the "
                "answer; a larger export is written by a worker: `202 Accepted` with the job "
                "(`Location: /api/jobs/{id}`), whose `result` link gives the file when it is done."
            ),
            operation_id=f"export_{collection.name}",
            response_class=Response,
            responses={
                200: {"content": {f.media_type: {} for f in service.FORMATS.values()}},
                202: {"description": "A large export: follow the job at `Location`."},
                429: {"description": "Too many jobs queued (`Retry-After` given)."},
            },
        )
    return router


router = export_router()
