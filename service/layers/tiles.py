"""The one tile path of the map's layers: where a tile lies (bounds), what decides its content
and tag (cache key, ETag, the data version its reader may know), the tile cache, the answer
(``serve_tile``: 304, cached or built) and the builders, all through the principal's view of
the table: Mapbox Vector Tiles of every collection and heat tiles of incidents. Another kind of
tile (an analysis layer) joins with a builder of its own and ``serve_tile``."""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import morecantile
from cachetools import LRUCache
from fastapi import Request, Response
from sqlalchemy import Float, Integer, Select, Text, bindparam, cast, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.access.policy import Principal
from service.access.sql import View, data_version, view
from service.changes import ChangeAwareCache
from service.collections.registry import Collection
from service.config import get_settings
from service.core.params import ListQuery
from service.core.records import apply_filters, point_indexed
from service.db import NO_PARALLEL_WORKERS, compile_for_driver, driver_of
from service.errors import InvalidInput
from service.i18n import _
from service.outlines import workable_geometry

TMS = morecantile.tms.get("WebMercatorQuad")
MVT_EXTENT = 4096
MVT_BUFFER = 64
#: Web Mercator metres per tile at zoom 0.
WORLD_M = 2 * 20037508.342789244
#: Heat tiles: cells per tile side, 32 cells of 8 pixels on a 256-pixel tile.
HEAT_GRID = 32
#: Web Mercator metres per degree of longitude, and the sphere's radius (EPSG:3857).
M_PER_DEGREE = WORLD_M / 360
EARTH_RADIUS_M = 6378137.0


def access_key(principal: Principal) -> str:
    """What decides what a principal sees in a layer: principals with the same key may share
    cached tiles (partners share theirs; nobody shares with a more cleared principal)."""
    scope = (
        "*"
        if principal.sector_scope is None
        else ",".join(sorted(map(str, principal.sector_scope)))
    )
    cleared = ",".join(sorted(principal.cleared_for))
    return f"{principal.role.value}|{cleared}|{scope}|{principal.actor_id or '-'}"


async def layer_version(
    session: AsyncSession, collection: Collection, cache: ChangeAwareCache[str, int] | None = None
) -> int:
    """A counter bumped by every change to the collection (see the layer_versions migration);
    remembered between changes when a change listener keeps ``cache`` exact. For the service's
    own caches only: it moves with changes a user may not see, so it is never shown."""
    known = cache.get(collection.name) if cache is not None else None
    if known is not None:
        return known
    version = await session.scalar(
        text("SELECT version FROM layer_versions WHERE collection = :c"), {"c": collection.name}
    )
    found = int(version or 0)
    if cache is not None:
        cache.put(collection.name, found)
    return found


async def seen_version(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    cache: ChangeAwareCache[str, int] | None = None,
) -> int:
    """The collection's data version as ``principal`` may know it (``data_version``): it moves
    with every change the principal can see and with no other. Remembered per access key
    between changes when a change listener keeps ``cache`` exact."""
    key = f"{collection.name}|{access_key(principal)}"
    known = cache.get(key) if cache is not None else None
    if known is not None:
        return known
    found = int(await session.scalar(data_version(collection.table, principal)) or 0)
    if cache is not None:
        cache.put(key, found)
    return found


@dataclass(frozen=True)
class Tile:
    content: bytes
    etag: str
    features_limited: bool = False


class TileCache:
    """Recently built tiles, keyed by everything that decides their content, including the
    collection's data version: a change to the data makes the old tiles unreachable. Bounded
    by the bytes it holds."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.tiles: LRUCache[str, Tile] = LRUCache(
            maxsize=max(max_bytes, 1), getsizeof=lambda tile: max(len(tile.content), 1)
        )

    def get(self, key: str) -> Tile | None:
        return self.tiles.get(key)

    def put(self, key: str, tile: Tile) -> None:
        if 0 < len(tile.content) <= self.max_bytes // 8 or (not tile.content and self.max_bytes):
            self.tiles[key] = tile


def tile_key(
    collection: Collection,
    principal: Principal,
    z: int,
    x: int,
    y: int,
    query: ListQuery,
    version: int,
    *,
    kind: str = "mvt",
) -> str:
    """Everything that decides a tile's content: which kind of tile, where, the filters, what
    the requester may see and the data's version."""
    filters = repr((query.interval, sorted(query.filters.items()), query.sector, query.q))
    # ``version`` is the one the principal may know (``seen_version``), named so that no tag
    # of the former, shared counter can match.
    raw = f"{kind}|{collection.name}|{z}/{x}/{y}|{filters}|{access_key(principal)}|seen:{version}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=65_536)
def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Longitude/latitude bounds of a tile, widened by the MVT buffer."""
    bounds = TMS.bounds(morecantile.Tile(x, y, z))
    margin_x = (bounds.right - bounds.left) * MVT_BUFFER / MVT_EXTENT
    margin_y = (bounds.top - bounds.bottom) * MVT_BUFFER / MVT_EXTENT
    return (
        max(-180.0, bounds.left - margin_x),
        max(-85.06, bounds.bottom - margin_y),
        min(180.0, bounds.right + margin_x),
        min(85.06, bounds.top + margin_y),
    )


def tile_query(query: ListQuery, z: int, x: int, y: int) -> ListQuery:
    """The list filters of a tile request, with the tile's bounds as their bbox."""
    return ListQuery(**{**query.__dict__, "bbox": tile_bounds(z, x, y)})


async def serve_tile(
    request: Request,
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    tile: tuple[int, int, int],
    query: ListQuery,
    *,
    kind: str,
    media_type: str,
    build: Callable[[], Awaitable[bytes]],
) -> Response:
    """A tile from the cache or freshly built, with an ETag that changes with the data and
    with what the requester may see; ``304`` when the client's copy is current."""
    z, x, y = tile
    if x >= 2**z or y >= 2**z:
        raise InvalidInput(["path", "x" if x >= 2**z else "y"], _("no such tile at zoom {z}", z=z))
    cache: TileCache = request.app.state.tile_cache
    version = await seen_version(session, collection, principal, request.app.state.layer_versions)
    key = tile_key(collection, principal, z, x, y, query, version, kind=kind)
    etag = f'"{key}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache",
        "Vary": "Authorization, X-API-Key",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    cached = cache.get(key)
    if cached is None:
        cached = Tile(await build(), etag)
        cache.put(key, cached)
    return Response(cached.content, media_type=media_type, headers=headers)


def rfc3339(column: Any) -> Any:
    """An instant as RFC 3339 text in UTC (``2026-03-02T10:00:00Z``), as tiles carry it."""
    return func.to_char(func.timezone("UTC", column), literal('YYYY-MM-DD"T"HH24:MI:SS"Z"', Text))


@dataclass(frozen=True)
class Prepared:
    """A tile statement compiled once for one view of a collection and one set of filters:
    the SQL for the driver, its parameters in order and the values of all but the tile's
    (``z``, ``x``, ``y`` and the bounds ``tile_min_x`` ...), which each tile binds."""

    view: View
    sql: str
    names: tuple[str, ...]
    values: dict[str, Any]
    parallel_workers_off: bool

    def arguments(self, z: int, x: int, y: int) -> list[Any]:
        min_x, min_y, max_x, max_y = tile_bounds(z, x, y)
        tile = {
            "tile_z": z,
            "tile_x": x,
            "tile_y": y,
            "tile_min_x": min_x,
            "tile_min_y": min_y,
            "tile_max_x": max_x,
            "tile_max_y": max_y,
        }
        return [tile[name] if name in tile else self.values[name] for name in self.names]


#: Prepared tile statements by kind, collection, view and filters; a view built anew (other
#: settings or policies) makes its entries unreachable (``Prepared.view`` is compared).
_PREPARED: LRUCache[tuple[str, str, int, str], Prepared] = LRUCache(maxsize=512)
#: The bounds of the tile as bound parameters, in ``bbox`` order.
_TILE_BOX = tuple(
    bindparam(name, 0.0, type_=Float())
    for name in ("tile_min_x", "tile_min_y", "tile_max_x", "tile_max_y")
)


def _filters_key(query: ListQuery) -> str:
    return repr((query.interval, sorted(query.filters.items()), query.sector, query.q))


def _tile_statement(collection: Collection, v: View, query: ListQuery) -> Select[Any]:
    """The MVT statement of ``collection`` through view ``v``, with the tile as parameters."""
    settings = get_settings()
    tiled = ListQuery(**{**query.__dict__, "bbox": _TILE_BOX})
    conditions = apply_filters(v, collection, tiled)
    z, x, y = (bindparam(f"tile_{axis}", 0, type_=Integer()) for axis in "zxy")
    envelope = func.ST_TileEnvelope(z, x, y)
    projected = func.ST_Transform(workable_geometry(v), 3857)
    if collection.geometry_types != ("Point",):
        # Simplified to half the tile's resolution: WORLD_M / 2**z / MVT_EXTENT / 2.
        tolerance = literal(WORLD_M / MVT_EXTENT / 2, Float()) / func.power(2.0, z)
        projected = func.ST_Simplify(projected, tolerance, True)
    mvt_geometry = func.ST_AsMVTGeom(projected, envelope, MVT_EXTENT, MVT_BUFFER, True)
    attributes: list[Any] = [cast(v.column("id"), Text).label("id")]
    for name in collection.tile_fields:
        column = v.column(name)
        attributes.append((rfc3339(column) if name.endswith("_at") else column).label(name))
    attributes.append(v.column("generalised").label("generalised"))
    rows = (
        select(mvt_geometry.label("geom"), *attributes)
        .where(v.where, *conditions)
        .limit(settings.tile_max_features)
        .subquery("t")
    )
    return select(func.ST_AsMVT(rows.table_valued(), collection.name, MVT_EXTENT, "geom"))


def prepared_tile(
    session: AsyncSession, collection: Collection, principal: Principal, query: ListQuery
) -> Prepared:
    """The compiled tile statement of ``principal``'s view of ``collection`` with ``query``'s
    filters, built and compiled once (``view`` is itself built once per principal)."""
    v = view(collection.table, principal)
    key = ("mvt", collection.name, id(v), _filters_key(query))
    known = _PREPARED.get(key) if not query.where else None
    if known is not None and known.view is v:
        return known
    statement = _tile_statement(collection, v, query)
    sql, names, values = compile_for_driver(statement, session.get_bind().dialect)
    # A box of the point index is always planned as a few hundred rows (the planner has no
    # finer estimate for it), never with parallel workers; other tables may be.
    prepared = Prepared(v, sql, names, values, not point_indexed(v, collection))
    if not query.where:  # a CQL2 filter's conditions are built per request
        _PREPARED[key] = prepared
    return prepared


async def build_tile(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    z: int,
    x: int,
    y: int,
    query: ListQuery,
) -> bytes:
    """One Mapbox Vector Tile built by PostGIS: clipped, quantised to the tile grid, lines and
    areas simplified to the tile's resolution, at most ``tile_max_features`` features; a
    geometry too big to simplify within the statement timeout is drawn from its outline.

    The statement is compiled once per view and filters (``prepared_tile``) and sent on the
    driver: a read of one statement needs no transaction of its own, so a request that has
    not yet read anything sends it alone (no BEGIN and ROLLBACK around it)."""
    prepared = prepared_tile(session, collection, principal, query)
    arguments = prepared.arguments(z, x, y)
    async with contextlib.AsyncExitStack() as stack:
        engine = session.bind
        if session.in_transaction() or not isinstance(engine, AsyncEngine):
            driver = await driver_of(session)  # the connection the request already reads on
        else:  # a connection of the session's pool, without a session around it
            connection = await stack.enter_async_context(engine.connect())
            driver = (await connection.get_raw_connection()).driver_connection
        if prepared.parallel_workers_off:
            if not driver.is_in_transaction():
                await stack.enter_async_context(driver.transaction(readonly=True))
            await driver.execute(NO_PARALLEL_WORKERS)
        content = await driver.fetchval(prepared.sql, *arguments)
    return bytes(content or b"")


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
    conditions = apply_filters(v, collection, tile_query(query, z, x, y))
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
    found = await session.scalar(body)
    return str(found).encode()
