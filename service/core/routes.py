"""Routes for every collection, made by one factory: list, read, create, replace, change,
delete, as GeoJSON under ``/api/<collection>``."""

import inspect
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, create_model
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.actions import collection_actions
from service.access.policy import Principal
from service.auth.deps import PrincipalDep
from service.config import get_settings
from service.core import crs as crs_of
from service.core import records
from service.core.collection import Collection
from service.core.params import ListQuery, parse_bbox
from service.core.params import list_query as build_list_query
from service.core.schemas import (
    FeatureCollectionOut,
    FeatureIn,
    FeatureOut,
    FeaturePatch,
    partial,
)
from service.db import SessionDep, get_session
from service.errors import InvalidInput
from service.i18n import _
from service.idempotency import IdempotentRoute
from service.read_replicas import get_read_session

GEOJSON = "application/geo+json"
#: Longest accepted filter values: enough for any real one, and a bound on what is parsed.
FILTER_MAX_LENGTH = 1000
BBOX_MAX_LENGTH = 200
DATETIME_MAX_LENGTH = 100


CRS_MAX_LENGTH = 200
CrsParameter = Annotated[
    str | None,
    Query(
        max_length=CRS_MAX_LENGTH,
        description="The CRS of the features (a URI), default CRS84: EPSG:4326, "
        "EPSG:3857 and the mission's UTM zones, e.g. "
        "`http://www.opengis.net/def/crs/EPSG/0/32635`; see the collection's `crs`.",
    ),
]


def bbox_in_crs84(
    bbox: str | None, bbox_crs: str | None
) -> tuple[float, float, float, float] | None:
    """``bbox`` as longitude/latitude, from the CRS ``bbox-crs`` names (Part 2)."""
    given = crs_of.parse(bbox_crs, "bbox-crs")
    if given is crs_of.CRS84 or bbox is None or bbox == "":
        return parse_bbox(bbox)
    try:
        numbers = [float(p) for p in bbox.split(",")]
    except ValueError as error:
        raise InvalidInput(["query", "bbox"], _("bbox must be four numbers")) from error
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or any(n != n for n in numbers):
        raise InvalidInput(["query", "bbox"], _("bbox must be four numbers"))
    box = crs_of.bbox_to_crs84((numbers[0], numbers[1], numbers[2], numbers[3]), given)
    return parse_bbox(",".join(repr(n) for n in box))


class GeoJSONResponse(Response):
    media_type = GEOJSON


def _filters_dependency(collection: Collection) -> Any:
    """Query parameters for the collection's enumerated columns, documented in OpenAPI."""
    parameters = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=Query(
                None,
                max_length=FILTER_MAX_LENGTH,
                description=f"Only these {name} values (comma-separated).",
            ),
            annotation=str | None,
        )
        for name in collection.filters
    ]

    async def filters(**raw: str | None) -> dict[str, str | None]:
        return raw  # checked with the other list parameters, by ``list_query``

    filters.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return filters


def list_query_dependency(collection: Collection) -> Any:
    filters_dependency = _filters_dependency(collection)
    time_doc = (
        "RFC 3339 instant or interval `start/end` (`..` for open), e.g. `2026-01-01T00:00:00Z/..`"
        if collection.time
        else "Not used: this collection has no time dimension."
    )

    settings = get_settings()

    async def list_query(
        filters: Annotated[dict[str, str | None], Depends(filters_dependency)],
        bbox: Annotated[
            str | None,
            Query(max_length=BBOX_MAX_LENGTH, description="minLon,minLat,maxLon,maxLat (WGS 84)"),
        ] = None,
        datetime: Annotated[
            str | None, Query(max_length=DATETIME_MAX_LENGTH, description=time_doc)
        ] = None,
        sector: Annotated[
            uuid.UUID | None, Query(description="Within this sector and its sub-areas.")
        ] = None,
        q: Annotated[str | None, Query(max_length=200, description="Text search.")] = None,
        limit: Annotated[
            int,
            Query(
                ge=1,
                description="Page size; a larger value is served as the maximum.",
                json_schema_extra={"maximum": settings.page_max},
            ),
        ] = settings.page_default,
        cursor: Annotated[
            str | None, Query(max_length=500, description="From a `next` link.")
        ] = None,
        crs: CrsParameter = None,
        bbox_crs: Annotated[
            str | None,
            Query(
                alias="bbox-crs",
                max_length=CRS_MAX_LENGTH,
                description="The CRS of `bbox` (a URI), default CRS84; e.g. "
                "`http://www.opengis.net/def/crs/EPSG/0/3857`.",
            ),
        ] = None,
    ) -> ListQuery:
        query = build_list_query(
            collection.properties,
            collection.filters,
            datetime=datetime,
            sector=sector,
            q=q,
            filters=filters,
            limit=min(limit or settings.page_default, settings.page_max),
            cursor=cursor,
        )
        return replace(query, bbox=bbox_in_crs84(bbox, bbox_crs), crs=crs_of.parse(crs, "crs"))

    return list_query


def page_response(
    request: Request,
    page: records.Page,
    extra_links: list[dict[str, str]] | None = None,
    actions: list[str] | None = None,
) -> Response:
    """A FeatureCollection assembled from features PostgreSQL already serialised; with
    ``actions``, what the reader may do with the collection (``create``, ``import``)."""
    links: list[dict[str, str]] = [{"href": str(request.url), "rel": "self", "type": GEOJSON}]
    for rel, cursor in (("next", page.next_cursor), ("prev", page.prev_cursor)):
        if cursor:
            href = str(request.url.include_query_params(cursor=cursor))
            links.append({"href": href, "rel": rel, "type": GEOJSON})
    links.extend(extra_links or [])
    matched = "" if page.matched is None else f',"numberMatched":{page.matched}'
    body = (
        '{"type":"FeatureCollection","features":['
        + ",".join(page.features)
        + '],"links":'
        + json.dumps(links)
        + ',"numberReturned":'
        + str(len(page.features))
        + matched
        + ("" if actions is None else ',"actions":' + json.dumps(actions))
        + "}"
    )
    return Response(body, media_type=GEOJSON)


def announce(request: Request, collection: Collection, principal: Principal) -> None:
    """This process's caches follow its own writes at once (others hear it from PostgreSQL),
    and the writer's next reads go to the primary, which already has the write."""
    request.app.state.changes.announce(collection.name)
    request.app.state.reads.wrote(principal.username)


def _with_body(endpoint: Callable[..., Awaitable[Response]], body: type[BaseModel]) -> Any:
    """Give a route its collection's own body model (built at start-up) for parsing and docs."""
    endpoint.__annotations__["body"] = body
    return endpoint


def with_links(feature: str, links: list[dict[str, str]]) -> str:
    """Add a links member to a feature PostgreSQL serialised."""
    return feature[:-1] + ',"links":' + json.dumps(links) + "}"


@dataclass(frozen=True)
class Flavour:
    """Where a collection's routes live: the domain API or OGC API - Features."""

    prefix: str
    tag: str
    ids: str  # prefix of operation ids and route names
    #: The session dependency of the read routes (map layers may read from a replica).
    read_session: Callable[..., Any] = get_session
    #: False when the list route comes from elsewhere (OGC API items: ``service.layers.items``,
    #: with filters, sorting and the collections of one geometry type).
    list_route: bool = True

    def links(self, request: Request, collection: Collection) -> list[dict[str, str]]:
        if self.ids == "":
            return []
        url = str(request.url_for("ogc_collection", collection_id=collection.name))
        return [{"href": url, "rel": "collection", "type": "application/json"}]


DOMAIN_API = Flavour(prefix="/api/{name}", tag="", ids="")
OGC_ITEMS = Flavour(
    prefix="/collections/{name}/items",
    tag="OGC API - Features",
    ids="ogc_",
    read_session=get_read_session,
    list_route=False,
)


def collection_router(collection: Collection, flavour: Flavour = DOMAIN_API) -> APIRouter:
    """The routes of one collection: list, read, create, replace, change, delete."""
    name, title = collection.name, collection.title.lower()
    router = APIRouter(
        prefix=flavour.prefix.format(name=name),
        tags=[flavour.tag or collection.title],
        route_class=IdempotentRoute,
    )
    ids = flavour.ids
    stem = collection.properties.__name__.removesuffix("Properties")
    create_base: Any = FeatureIn[collection.properties]  # type: ignore[name-defined]
    patch_base: Any = FeaturePatch[partial(collection.properties)]  # type: ignore[misc]
    create_body: type[BaseModel] = create_model(f"{stem}Feature", __base__=create_base)
    patch_body: type[BaseModel] = create_model(f"{stem}FeaturePatch", __base__=patch_base)
    list_query = list_query_dependency(collection)
    one_feature: dict[int | str, dict[str, Any]] = {200: {"model": FeatureOut}}

    def feature_response(
        request: Request, feature: str, record_id: Any, status: int = 200
    ) -> Response:
        if not ids:
            return GeoJSONResponse(feature, status_code=status)
        url = str(request.url_for(f"{ids}get_{name}", record_id=record_id))
        links = [{"href": url, "rel": "self", "type": GEOJSON}, *flavour.links(request, collection)]
        return GeoJSONResponse(with_links(feature, links), status_code=status)

    ReadSession = Annotated[AsyncSession, Depends(flavour.read_session)]

    async def list_records(
        request: Request,
        session: ReadSession,
        principal: PrincipalDep,
        query: Annotated[ListQuery, Depends(list_query)],
    ) -> Response:
        page = await records.list_features(session, collection, principal, query)
        may = collection_actions(principal, collection.name)
        response = page_response(request, page, flavour.links(request, collection), may)
        response.headers["Content-Crs"] = crs_of.content_crs(query.crs)
        return response

    async def get_record(
        request: Request,
        record_id: uuid.UUID,
        session: ReadSession,
        principal: PrincipalDep,
        crs: CrsParameter = None,
    ) -> Response:
        output = crs_of.parse(crs, "crs")
        feature = await records.get_feature(session, collection, principal, record_id, output)
        response = feature_response(request, feature, record_id)
        response.headers["Content-Crs"] = crs_of.content_crs(output)
        return response

    async def create_record(
        request: Request, body: FeatureIn[Any], session: SessionDep, principal: PrincipalDep
    ) -> Response:
        record_id, feature = await records.create_feature(
            session, collection, principal, body.properties, body.geometry
        )
        announce(request, collection, principal)
        response = feature_response(request, feature, record_id, status=201)
        response.headers["Location"] = str(request.url_for(f"{ids}get_{name}", record_id=record_id))
        return response

    async def replace_record(
        request: Request,
        record_id: uuid.UUID,
        body: FeatureIn[Any],
        session: SessionDep,
        principal: PrincipalDep,
    ) -> Response:
        feature = await records.update_feature(
            session, collection, principal, record_id, body.properties, body.geometry, replace=True
        )
        announce(request, collection, principal)
        return feature_response(request, feature, record_id)

    async def update_record(
        request: Request,
        record_id: uuid.UUID,
        body: FeaturePatch[Any],
        session: SessionDep,
        principal: PrincipalDep,
    ) -> Response:
        feature = await records.update_feature(
            session, collection, principal, record_id, body.properties, body.geometry, replace=False
        )
        announce(request, collection, principal)
        return feature_response(request, feature, record_id)

    async def delete_record(
        request: Request, record_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
    ) -> Response:
        await records.delete_feature(session, collection, principal, record_id)
        announce(request, collection, principal)
        return Response(status_code=204)

    geojson: dict[str, Any] = {"response_class": GeoJSONResponse}
    if flavour.list_route:
        router.add_api_route(
            "",
            list_records,
            methods=["GET"],
            summary=f"List {title}",
            description=collection.description,
            responses={200: {"model": FeatureCollectionOut}},
            operation_id=f"{ids}list_{name}",
            **geojson,
        )
    router.add_api_route(
        "/{record_id}",
        get_record,
        methods=["GET"],
        summary=f"One of the {title}",
        responses=one_feature,
        operation_id=f"{ids}get_{name}",
        name=f"{ids}get_{name}",
        **geojson,
    )
    router.add_api_route(
        "",
        _with_body(create_record, create_body),
        methods=["POST"],
        status_code=201,
        summary=f"Create one of the {title}",
        responses={201: {"model": FeatureOut}},
        operation_id=f"{ids}create_{name}",
        **geojson,
    )
    router.add_api_route(
        "/{record_id}",
        _with_body(replace_record, create_body),
        methods=["PUT"],
        summary=f"Replace one of the {title}",
        responses=one_feature,
        operation_id=f"{ids}replace_{name}",
        **geojson,
    )
    router.add_api_route(
        "/{record_id}",
        _with_body(update_record, patch_body),
        methods=["PATCH"],
        summary=f"Change some fields of one of the {title}",
        responses=one_feature,
        operation_id=f"{ids}update_{name}",
        **geojson,
    )
    router.add_api_route(
        "/{record_id}",
        delete_record,
        methods=["DELETE"],
        status_code=204,
        summary=f"Delete one of the {title} (its history stays in the audit log)",
        operation_id=f"{ids}delete_{name}",
    )
    return router
