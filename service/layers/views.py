"""OGC API - Features (Part 1 core, GeoJSON, OpenAPI; Part 4 create/replace/update/delete) and
OGC API - Tiles vector tiles for every collection, at the root of the service."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse

from service.auth.deps import PrincipalDep
from service.collections.registry import COLLECTIONS, Collection
from service.config import get_settings
from service.core import crs
from service.core.params import ListQuery
from service.core.routes import OGC_ITEMS, collection_router, list_query_dependency
from service.errors import NotFound
from service.i18n import _
from service.layers import apidoc, lowzoom, service
from service.layers import tiles as tile_path
from service.layers.items import items_router
from service.layers.protocol import known_parameters
from service.layers.queryables import Layer, layers, property_schemas
from service.layers.tiles import TMS, serve_tile
from service.read_replicas import ReadSessionDep

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
MVT = "application/vnd.mapbox-vector-tile"
JSON = "application/json"
OPENAPI_30_PATH = "/openapi-3.0.json"
SCHEMA = "application/schema+json"
OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0"
VECTOR_TILESETS = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/core-roles-features",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/sortables",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]

router = APIRouter(tags=["OGC API"])


def _layer(collection_id: str) -> Layer:
    layer = layers().get(collection_id)
    if layer is None:
        raise NotFound(
            _("no collection {collection!r}; see /collections", collection=collection_id)
        )
    return layer


def _link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": media_type}
    if title:
        link["title"] = title
    return link


@router.get("/", summary="Landing page", operation_id="ogc_landing")
async def landing(request: Request, _: PrincipalDep) -> JSONResponse:
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "title": "civop: civilian operational picture",
            "description": "Actors, IDP sites, projects, incidents, patrols, bases and sectors "
            "as OGC API - Features and vector tiles, with the mission's access rules applied.",
            "links": [
                _link(f"{base}/", "self", JSON, "This document"),
                _link(
                    f"{base}{OPENAPI_30_PATH}",
                    "service-desc",
                    "application/vnd.oai.openapi+json;version=3.0",
                    "The API definition (OpenAPI 3.0)",
                ),
                _link(
                    f"{base}/openapi.json",
                    "service-desc",
                    "application/vnd.oai.openapi+json;version=3.1",
                    "The API definition (OpenAPI 3.1)",
                ),
                _link(f"{base}/docs", "service-doc", "text/html", "The API documentation"),
                _link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
                _link(f"{base}/collections", "data", JSON, "The collections"),
                _link(
                    f"{base}/tileMatrixSets",
                    "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
                    JSON,
                    "Tiling schemes",
                ),
            ],
        }
    )


@router.get(OPENAPI_30_PATH, include_in_schema=False)
async def openapi_30(request: Request) -> JSONResponse:
    """The API definition as OpenAPI 3.0, for clients and validators of Part 1's ``oas30``."""
    document = getattr(request.app.state, "openapi_30", None)
    if document is None:
        document = apidoc.as_openapi_30(request.app.openapi())
        request.app.state.openapi_30 = document
    return JSONResponse(document, media_type="application/vnd.oai.openapi+json;version=3.0")


@router.get("/conformance", summary="Conformance classes", operation_id="ogc_conformance")
async def conformance(_: PrincipalDep) -> JSONResponse:
    return JSONResponse({"conformsTo": CONFORMANCE})


async def _describe(
    request: Request, session: ReadSessionDep, principal: Any, layer: Layer
) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    here = f"{base}/collections/{layer.id}"
    collection = layer.collection
    found = await service.extent(session, collection, principal, request.app.state.layer_versions)
    bbox = list(found.bbox) if found.bbox else list(get_settings().mission_bbox)
    links = [
        _link(here, "self", JSON),
        _link(f"{here}/items", "items", GEOJSON, f"{layer.title} as GeoJSON"),
        _link(f"{here}/schema", f"{OGC_REL}/schema", SCHEMA, "Schema of the features"),
        _link(f"{here}/schema", "describedby", SCHEMA, "Schema of the features"),
        _link(f"{here}/queryables", f"{OGC_REL}/queryables", SCHEMA, "What filters may name"),
        _link(f"{here}/sortables", f"{OGC_REL}/sortables", SCHEMA, "What sortby may name"),
    ]
    if layer.variant is None:
        links += [
            _link(f"{here}/tiles", VECTOR_TILESETS, JSON, "Vector tiles"),
            _link(f"{here}/tiles/WebMercatorQuad/tilejson.json", "tilejson", JSON, "TileJSON"),
        ]
    described: dict[str, Any] = {
        "id": layer.id,
        "title": layer.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": [c.uri for c in crs.supported()],
        "storageCrs": CRS84,
        "extent": {"spatial": {"bbox": [bbox], "crs": CRS84}},
        "links": links,
    }
    if found.interval is not None:
        start, end = found.interval
        described["extent"]["temporal"] = {
            "interval": [[start.isoformat() if start else None, end.isoformat() if end else None]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    return described


@router.get("/collections", summary="The collections", operation_id="ogc_collections")
async def collections(
    request: Request, session: ReadSessionDep, principal: PrincipalDep
) -> JSONResponse:
    base = str(request.base_url).rstrip("/")
    described = [await _describe(request, session, principal, c) for c in layers().values()]
    return JSONResponse(
        {"collections": described, "links": [_link(f"{base}/collections", "self", JSON)]}
    )


@router.get(
    "/collections/{collection_id}",
    summary="One collection",
    operation_id="ogc_collection",
    name="ogc_collection",
)
async def one_collection(
    collection_id: str, request: Request, session: ReadSessionDep, principal: PrincipalDep
) -> JSONResponse:
    return JSONResponse(await _describe(request, session, principal, _layer(collection_id)))


@router.get(
    "/layers/versions",
    summary="Data version of every collection",
    description="A counter per collection that changes with every committed change to the "
    "records you may see, and with no other: a map polls this and redraws a layer when its "
    "version moves (tiles revalidate with ETags).",
    operation_id="layer_versions",
)
async def versions(
    request: Request, session: ReadSessionDep, principal: PrincipalDep
) -> JSONResponse:
    cache = request.app.state.layer_versions
    found = {
        c.name: await service.seen_version(session, c, principal, cache)
        for c in COLLECTIONS.values()
    }
    return JSONResponse(found, headers={"Cache-Control": "no-store"})


@router.get("/tileMatrixSets", summary="Tiling schemes", operation_id="ogc_tile_matrix_sets")
async def tile_matrix_sets(request: Request, _: PrincipalDep) -> JSONResponse:
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "tileMatrixSets": [
                {
                    "id": "WebMercatorQuad",
                    "title": "Google Maps Compatible for the World",
                    "links": [_link(f"{base}/tileMatrixSets/WebMercatorQuad", "self", JSON)],
                }
            ]
        }
    )


@router.get(
    "/tileMatrixSets/WebMercatorQuad",
    summary="The WebMercatorQuad tiling scheme",
    operation_id="ogc_web_mercator_quad",
)
async def web_mercator_quad(_: PrincipalDep) -> Response:
    return Response(TMS.model_dump_json(exclude_none=True, by_alias=True), media_type=JSON)


def tile_field_type(collection: Collection, name: str) -> str:
    """A tile attribute's TileJSON type (Number, Boolean, String), as the tiles carry it."""
    kind = property_schemas(collection.name).get(name, {}).get("type")
    return {"integer": "Number", "number": "Number", "boolean": "Boolean"}.get(str(kind), "String")


def tiles_router(collection: Collection) -> APIRouter:
    """Vector tiles, the tileset description and TileJSON of one collection."""
    tiles = APIRouter(prefix=f"/collections/{collection.name}/tiles", tags=["OGC API - Tiles"])
    name = collection.name
    list_query = list_query_dependency(collection)

    @tiles.get("", summary=f"Vector tilesets of {name}", operation_id=f"ogc_tilesets_{name}")
    async def tilesets(request: Request, _: PrincipalDep) -> JSONResponse:
        here = str(request.url_for(f"ogc_tilejson_{name}")).removesuffix("/tilejson.json")
        return JSONResponse(
            {
                "tilesets": [
                    {
                        "title": f"{collection.title} vector tiles",
                        "dataType": "vector",
                        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
                        "tileMatrixSetURI": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
                        "links": [
                            _link(here + "/{tileMatrix}/{tileCol}/{tileRow}", "item", MVT, "Tiles"),
                            _link(here + "/tilejson.json", "describedby", JSON, "TileJSON"),
                        ],
                    }
                ]
            }
        )

    @tiles.get(
        "/WebMercatorQuad/tilejson.json",
        summary=f"TileJSON of {name}",
        operation_id=f"ogc_tilejson_{name}",
        name=f"ogc_tilejson_{name}",
    )
    async def tilejson(
        request: Request,
        session: ReadSessionDep,
        principal: PrincipalDep,
        _filters: Annotated[ListQuery, Depends(list_query)],
    ) -> JSONResponse:
        # The tiles' filters are declared (and checked) here too: they are passed on to the
        # tile URL template.
        here = str(request.url_for(f"ogc_tilejson_{name}")).removesuffix("/tilejson.json")
        query = f"?{request.url.query}" if request.url.query else ""
        found = await service.extent(
            session, collection, principal, request.app.state.layer_versions
        )
        bounds = list(found.bbox) if found.bbox else list(get_settings().mission_bbox)
        fields = {"id": "String", "generalised": "Boolean"}
        fields.update({f: tile_field_type(collection, f) for f in collection.tile_fields})
        if collection.geometry_types == ("Point",):
            # Below zoom 8, points on one cell of the tile grid are one feature.
            fields["count"] = "Number"
        return JSONResponse(
            {
                "tilejson": "3.0.0",
                "name": name,
                "description": collection.description,
                "tiles": [here + "/{z}/{x}/{y}" + query],
                "minzoom": 0,
                "maxzoom": 22,
                "bounds": bounds,
                "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 6],
                "vector_layers": [{"id": name, "fields": fields, "minzoom": 0, "maxzoom": 22}],
            }
        )

    # A tile also answers with the file extension GDAL's MVT driver and tile caches
    # expect (``MVT:https://.../8/140/120.pbf``); registered first (decorators apply from the bottom),
    # as ``{y}`` would take it.
    @tiles.get(
        "/WebMercatorQuad/{z}/{x}/{y}",
        summary=f"A vector tile of {name}",
        operation_id=f"ogc_tile_{name}",
        response_class=Response,
        responses={200: {"content": {MVT: {}}, "description": "Mapbox Vector Tile"}, 304: {}},
    )
    @tiles.get(
        "/WebMercatorQuad/{z}/{x}/{y}.pbf",
        summary=f"A vector tile of {name} (as a .pbf file)",
        operation_id=f"ogc_tile_pbf_{name}",
        response_class=Response,
        responses={200: {"content": {MVT: {}}, "description": "Mapbox Vector Tile"}, 304: {}},
    )
    async def tile(
        request: Request,
        session: ReadSessionDep,
        principal: PrincipalDep,
        query: Annotated[ListQuery, Depends(list_query)],
        z: Annotated[int, Path(ge=0, le=24)],
        x: Annotated[int, Path(ge=0)],
        y: Annotated[int, Path(ge=0)],
    ) -> Response:
        return await serve_tile(
            request,
            session,
            collection,
            principal,
            (z, x, y),
            query,
            kind="mvt",
            media_type=MVT,
            build=lambda: (
                lowzoom.build_grouped_tile(session, collection, principal, z, x, y, query)
                if lowzoom.groups_points(collection, z)
                else tile_path.build_tile(session, collection, principal, z, x, y, query)
            ),
        )

    return tiles


def layer_routers() -> list[APIRouter]:
    """The OGC routes: tiles of each collection, landing, collections, items (Part 1 and 4).
    Tiles come first: they are most of the requests, and routes are matched in order."""
    routers = [tiles_router(collection) for collection in COLLECTIONS.values()]
    routers.append(router)
    routers.extend(items_router(layer) for layer in layers().values())
    routers.extend(collection_router(collection, OGC_ITEMS) for collection in COLLECTIONS.values())
    strict = []
    for inner in routers:
        outer = APIRouter(dependencies=[Depends(known_parameters)])
        outer.include_router(inner)
        strict.append(outer)
    return strict
