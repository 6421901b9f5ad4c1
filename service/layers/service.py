"""Collection extents of the map's layers, through the principal's view of each table, cached
per data version. The tiles themselves, their cache and tags are ``service.layers.tiles``;
its names used elsewhere are kept here too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cachetools import LRUCache
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.access.sql import view
from service.changes import ChangeAwareCache
from service.collections.registry import Collection
from service.layers.tiles import (
    MVT_BUFFER,
    MVT_EXTENT,
    TMS,
    WORLD_M,
    Tile,
    TileCache,
    access_key,
    build_tile,
    layer_version,
    seen_version,
    tile_bounds,
    tile_key,
)

__all__ = [
    "MVT_BUFFER",
    "MVT_EXTENT",
    "TMS",
    "WORLD_M",
    "Extent",
    "Tile",
    "TileCache",
    "access_key",
    "build_tile",
    "extent",
    "layer_version",
    "seen_version",
    "tile_bounds",
    "tile_key",
]


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
