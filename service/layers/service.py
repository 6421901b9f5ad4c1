"""Map layers built in PostgreSQL: collection extents and Mapbox Vector Tiles, through the
principal's view of each table, with a tile cache checked against the data's version."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import morecantile
from cachetools import LRUCache
from sqlalchemy import Text, cast, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.access.sql import data_version, view
from service.changes import ChangeAwareCache
from service.collections.params import ListQuery
from service.collections.registry import Collection
from service.collections.service import apply_filters
from service.config import get_settings
from service.db import without_parallel_workers
from service.outlines import workable_geometry

TMS = morecantile.tms.get("WebMercatorQuad")
MVT_EXTENT = 4096
MVT_BUFFER = 64
#: Web Mercator metres per tile at zoom 0.
WORLD_M = 2 * 20037508.342789244


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
class Extent:
    bbox: tuple[float, float, float, float] | None
    interval: tuple[datetime | None, datetime | None] | None


_extents: LRUCache[tuple[str, str, int], Extent] = LRUCache(maxsize=256)


async def extent(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    versions: ChangeAwareCache[str, int] | None = None,
) -> Extent:
    """Spatial and temporal extent of what the principal may see, cached per data version."""
    version = await layer_version(session, collection, versions)
    key = (collection.name, access_key(principal), version)
    if key in _extents:
        return _extents[key]
    v = view(collection.table, principal)
    box = func.ST_Extent(v.column("geom"))
    columns: list[Any] = [
        func.ST_XMin(box),
        func.ST_YMin(box),
        func.ST_XMax(box),
        func.ST_YMax(box),
    ]
    if collection.time is not None:
        start, end = collection.time
        columns += [func.min(v.column(start)), func.max(v.column(end or start))]
    row = (await session.execute(select(*columns).where(v.where))).one()
    bbox = None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    interval = None
    if collection.time is not None:
        interval = (_as_datetime(row[4]), _as_datetime(row[5]))
    found = Extent(bbox, interval)
    _extents[key] = found
    return found


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day)


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


def rfc3339(column: Any) -> Any:
    """An instant as RFC 3339 text in UTC (``2026-03-02T10:00:00Z``), as tiles carry it."""
    return func.to_char(func.timezone("UTC", column), literal('YYYY-MM-DD"T"HH24:MI:SS"Z"', Text))


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
    geometry too big to simplify within the statement timeout is drawn from its outline."""
    settings = get_settings()
    v = view(collection.table, principal)
    conditions = apply_filters(
        v, collection, ListQuery(**{**query.__dict__, "bbox": tile_bounds(z, x, y)})
    )
    envelope = func.ST_TileEnvelope(z, x, y)
    projected = func.ST_Transform(workable_geometry(v), 3857)
    if collection.geometry_types != ("Point",):
        resolution = WORLD_M / (2**z) / MVT_EXTENT
        projected = func.ST_Simplify(projected, literal(resolution / 2), True)
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
    tile = select(func.ST_AsMVT(rows.table_valued(), collection.name, MVT_EXTENT, "geom"))
    await without_parallel_workers(session)
    content = await session.scalar(tile)
    return bytes(content or b"")
