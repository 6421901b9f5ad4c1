"""OGC API - Features items of every collection and of its single-geometry-type variants:
the Part 1 list with Part 3 filters (``filter``, ``filter-lang``, ``filter-crs``) and Part 5
sorting (``sortby``), the schema, queryables and sortables of each. Every query selects from
the principal's view of the table (``service.access.sql.view``)."""

import dataclasses
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.actions import collection_actions
from service.access.policy import Principal
from service.access.sql import view
from service.auth.deps import PrincipalDep
from service.core import crs, records
from service.core.params import ListQuery
from service.core.records import COUNT_BOUND, Page, feature_json
from service.core.routes import (
    CRS_MAX_LENGTH,
    GEOJSON,
    GeoJSONResponse,
    list_query_dependency,
    page_response,
    with_links,
)
from service.core.schemas import FeatureCollectionOut, FeatureOut
from service.db import without_parallel_workers
from service.errors import InvalidInput, NotFound, shown
from service.i18n import _
from service.layers import cql2
from service.layers import queryables as documents
from service.layers.queryables import Layer, property_schemas, sortable_names
from service.read_replicas import ReadSessionDep

JSON_SCHEMA_TYPE = "application/schema+json"
#: The furthest ``offset`` a sorted list pages to: beyond, narrow the filter instead.
MAX_OFFSET = 100_000


@dataclasses.dataclass(frozen=True)
class SortKey:
    name: str
    descending: bool


def parse_sortby(layer: Layer, text: str | None) -> tuple[SortKey, ...]:
    """``sortby=-severity,+occurred_at`` as Part 5 writes it; ``400`` for a name that is not
    one of the collection's sortables."""
    if not text:
        return ()
    allowed = sortable_names(layer.collection)
    keys: list[SortKey] = []
    for part in (p.strip() for p in text.split(",")):
        descending = part.startswith("-")
        name = part.lstrip("+-").strip()
        if " " in name:  # "name DESC", as some clients write it
            name, _blank, direction = name.partition(" ")
            descending = direction.strip().upper() == "DESC"
        if name not in allowed:
            raise InvalidInput(
                ["query", "sortby"],
                _(
                    "cannot sort on {name!r}; the collection's sortables are: {allowed}",
                    name=shown(name),
                    allowed=", ".join(allowed),
                ),
            )
        keys.append(SortKey(name, descending))
    return tuple(keys)


def filtered_query(
    layer: Layer,
    principal: Principal,
    query: ListQuery,
    filter_text: str | None,
    filter_lang: str | None,
    filter_crs: str | None,
) -> ListQuery:
    """The list query with the layer's geometry type and the CQL2 filter added; the filter is
    checked at once (on the principal's view), so a bad one answers 400 before any query."""
    where: list[Any] = []
    if layer.variant is not None:
        where.append(layer.condition)
    if filter_text:
        document = cql2.parse(filter_text, filter_lang)
        given = crs.parse(filter_crs, "filter-crs")
        schemas = property_schemas(layer.collection.name)
        cql2.condition(view(layer.collection.table, principal), document, schemas, given)
        where.append(lambda v: cql2.condition(v, document, schemas, given))
    elif filter_lang is not None or filter_crs is not None:
        crs.parse(filter_crs, "filter-crs")
        if filter_lang not in (None, *cql2.LANGUAGES):
            cql2.parse("true", filter_lang)
    return dataclasses.replace(query, where=(*query.where, *where))


async def sorted_page(
    session: AsyncSession,
    layer: Layer,
    principal: Principal,
    query: ListQuery,
    keys: tuple[SortKey, ...],
    offset: int,
) -> tuple[Page, bool]:
    """A page in the order ``keys`` ask (then by id), from ``offset``; and whether more follow."""
    collection = layer.collection
    v = view(collection.table, principal)
    conditions = records.apply_filters(v, collection, query)
    order: list[Any] = []
    for key in keys:
        column = v.column(key.name)
        order.append(column.desc().nulls_last() if key.descending else column.asc().nulls_last())
    if not keys:
        order.append(v.table.c[collection.order].desc())
    order.append(v.table.c.id.asc())
    await without_parallel_workers(session)
    rows = (
        v.select()
        .where(*conditions)
        .order_by(*order)
        .offset(offset)
        .limit(query.limit + 1)
        .subquery("r")
    )
    fetched = list((await session.scalars(select(feature_json(rows, crs=query.crs)))).all())
    more = len(fetched) > query.limit
    fetched = fetched[: query.limit]
    matched = None
    if offset == 0 and not more:
        matched = len(fetched)
    elif offset == 0:
        counted = (
            select(literal(1))
            .select_from(v.table)
            .where(v.where, *conditions)
            .limit(COUNT_BOUND + 1)
            .subquery("matched")
        )
        found = int(await session.scalar(select(func.count()).select_from(counted)) or 0)
        matched = found if found <= COUNT_BOUND else None
    return Page(fetched, None, None, matched), more


async def one_feature(
    session: AsyncSession, layer: Layer, principal: Principal, record_id: uuid.UUID, output: Any
) -> str:
    """One feature of a geometry-type layer; 404 when it is of another type, hidden or unknown."""
    v = view(layer.collection.table, principal)
    condition = layer.condition(v)
    statement = v.select().where(v.table.c.id == record_id)
    if condition is not None:
        statement = statement.where(condition)
    rows = statement.subquery("r")
    found = (await session.execute(select(feature_json(rows, crs=output)))).scalar_one_or_none()
    if found is None:
        raise NotFound(_("no such record in {collection}", collection=layer.id))
    return str(found)


def _collection_link(request: Request, layer: Layer) -> dict[str, str]:
    url = str(request.url_for("ogc_collection", collection_id=layer.id))
    return {"href": url, "rel": "collection", "type": "application/json"}


def _json_schema(layer: Layer, build: Callable[[Layer, str], dict[str, Any]]) -> Any:
    async def described(request: Request, _: PrincipalDep) -> JSONResponse:
        here = str(request.url.remove_query_params(list(request.query_params)))
        return JSONResponse(build(layer, here), media_type=JSON_SCHEMA_TYPE)

    return described


def items_router(layer: Layer) -> APIRouter:
    """``/collections/{id}/items`` (filters, sorting), its schema, queryables and sortables;
    and for a geometry-type layer, its features one by one."""
    name = layer.id
    here = f"/collections/{name}"
    router = APIRouter(prefix=here, tags=["OGC API - Features"])
    list_query = list_query_dependency(layer.collection)

    @router.get(
        "/items",
        summary=f"{layer.title}: features",
        description=layer.collection.description
        + " Filter with CQL2 (`filter`), sort with `sortby`; see the queryables and sortables.",
        operation_id=f"ogc_list_{name}",
        response_class=GeoJSONResponse,
        responses={200: {"model": FeatureCollectionOut}},
    )
    async def list_items(
        request: Request,
        session: ReadSessionDep,
        principal: PrincipalDep,
        query: Annotated[ListQuery, Depends(list_query)],
        filter_text: Annotated[
            str | None,
            Query(
                alias="filter",
                max_length=cql2.MAX_LENGTH,
                description="A CQL2 filter on the queryables, e.g. "
                "`severity >= 4 AND S_INTERSECTS(geom, BBOX(24,4,25,5))`.",
            ),
        ] = None,
        filter_lang: Annotated[
            str | None,
            Query(alias="filter-lang", description="`cql2-text` (default) or `cql2-json`."),
        ] = None,
        filter_crs: Annotated[
            str | None,
            Query(
                alias="filter-crs",
                max_length=CRS_MAX_LENGTH,
                description="The CRS of the filter's geometries (a URI), default CRS84.",
            ),
        ] = None,
        sortby: Annotated[
            str | None,
            Query(
                max_length=500,
                description="Sort on sortables: `-severity,occurred_at` (`-` descending).",
            ),
        ] = None,
        offset: Annotated[
            int,
            Query(ge=0, le=MAX_OFFSET, description="Skip this many (sorted lists' next links)."),
        ] = 0,
    ) -> Response:
        query = filtered_query(layer, principal, query, filter_text, filter_lang, filter_crs)
        keys = parse_sortby(layer, sortby)
        links = [_collection_link(request, layer)]
        if keys or offset:
            page, more = await sorted_page(session, layer, principal, query, keys, offset)
            url = request.url.remove_query_params("cursor")
            if more:
                links.append(
                    {
                        "href": str(url.include_query_params(offset=offset + query.limit)),
                        "rel": "next",
                        "type": GEOJSON,
                    }
                )
            if offset:
                previous = max(0, offset - query.limit)
                links.append(
                    {
                        "href": str(url.include_query_params(offset=previous)),
                        "rel": "prev",
                        "type": GEOJSON,
                    }
                )
        else:
            page = await records.list_features(session, layer.collection, principal, query)
        may = collection_actions(principal, layer.collection.name)
        response = page_response(request, page, links, may)
        response.headers["Content-Crs"] = crs.content_crs(query.crs)
        return response

    if layer.variant is not None:

        @router.get(
            "/items/{record_id}",
            summary=f"{layer.title}: one feature",
            operation_id=f"ogc_get_{name}",
            name=f"ogc_get_{name}",
            response_class=GeoJSONResponse,
            responses={200: {"model": FeatureOut}},
        )
        async def get_item(
            request: Request,
            record_id: uuid.UUID,
            session: ReadSessionDep,
            principal: PrincipalDep,
            crs_text: Annotated[
                str | None,
                Query(alias="crs", max_length=CRS_MAX_LENGTH, description="The CRS (a URI)."),
            ] = None,
        ) -> Response:
            output = crs.parse(crs_text, "crs")
            feature = await one_feature(session, layer, principal, record_id, output)
            url = str(request.url_for(f"ogc_get_{name}", record_id=record_id))
            links = [
                {"href": url, "rel": "self", "type": GEOJSON},
                _collection_link(request, layer),
            ]
            response = GeoJSONResponse(with_links(feature, links))
            response.headers["Content-Crs"] = crs.content_crs(output)
            return response

    for kind, build in (
        ("schema", documents.schema),
        ("queryables", documents.queryables),
        ("sortables", documents.sortables),
    ):
        router.add_api_route(
            f"/{kind}",
            _json_schema(layer, build),
            methods=["GET"],
            summary=f"{layer.title}: {kind}",
            operation_id=f"ogc_{kind}_{name}",
            name=f"ogc_{kind}_{name}",
            response_class=Response,
            responses={
                200: {
                    "description": "A JSON Schema (2020-12)",
                    "content": {JSON_SCHEMA_TYPE: {"schema": {"type": "object"}}},
                }
            },
        )
    return router
