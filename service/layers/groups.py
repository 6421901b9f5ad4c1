"""Point groups kept per zoom: the counts from which low-zoom tiles are read.

Below zoom 8 a point layer's tile holds groups, not points (``service.layers.lowzoom``): one
feature per cell of the tile's 32 x 32 grid and per drawn value. Counted from the table, the
densest zoom-6 tile of a million incidents reads 640,000 rows (about 1.8 s). Here the counts
are kept, for each zoom below 8, each cell and each *part* of the collection a user may or may
not see: classification, sector, owning actor and verification state, the columns of
``service.access.sql.row_filter``. A tile then reads a few thousand rows and adds up the
parts the user may see (``service.access.sql.parts_filter``): what one user may not see is
never counted for them.

Counts are kept only for collections whose records are never shown generalised (their
location and drawn values are the same for whoever sees them) and read only for a tile
without filters. They are counted at one version of the collection (``layer_version_parts``,
which every write moves) and read only while the collection is still at that version: after
any write, tiles are counted from the table again until a worker has counted anew, seconds
later (``GroupKeeper`` queues that job on each change)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    SmallInteger,
    Text,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.dialects.postgresql import ARRAY, UUID, array
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.types import Boolean, Numeric

from service.access.policy import Principal, policy_for
from service.access.sql import LAYER_VERSION_PARTS, parts_filter, view
from service.collections.registry import COLLECTIONS, Collection
from service.config import Settings, get_settings
from service.core.params import ListQuery
from service.enums import Classification
from service.layers.tiles import EARTH_RADIUS_M, M_PER_DEGREE, WORLD_M

log = logging.getLogger("civop.layers")

#: Zooms below this one group points (``service.layers.lowzoom``).
GROUP_BELOW_ZOOM = 8
#: Counts are made at this zoom from the table, and at each lower zoom from the one above.
BASE_ZOOM = GROUP_BELOW_ZOOM - 1
#: Cells per side of a tile: one group cell is 8 pixels of a 256-pixel tile (128 units of
#: the tile's 4096 grid), about 19 km at zoom 6 and 1.2 km at zoom 10.
GRID = 32
#: The web map's latitude limit: points beyond it are on no tile.
MAX_LATITUDE = 85.05112878
#: Key of the advisory lock that lets one count run at a time.
COUNT_LOCK = 0x67726F7570  # "group"

GROUPS = sql_table(
    "point_groups",
    sql_column("collection", Text()),
    sql_column("z", SmallInteger()),
    sql_column("cx", Integer()),
    sql_column("cy", Integer()),
    sql_column("classification", Text()),
    sql_column("sector_id", UUID(as_uuid=True)),
    sql_column("owner_id", UUID(as_uuid=True)),
    sql_column("verification_state", Text()),
    sql_column("drawn", ARRAY(Text())),
    sql_column("count", Integer()),
    sql_column("first_id", Text()),
    sql_column("highest", ARRAY(Float())),
    sql_column("latest", ARRAY(DateTime(timezone=True))),
)
BUILDS = sql_table(
    "point_group_builds",
    sql_column("collection", Text()),
    sql_column("version", BigInteger()),
    sql_column("built_at", DateTime(timezone=True)),
    sql_column("seconds", Float()),
    sql_column("groups", Integer()),
)
#: The columns of a part, as ``parts_filter`` reads them.
PART_COLUMNS = ("classification", "sector_id", "owner_id", "verification_state")


@dataclass(frozen=True)
class Drawn:
    """What a group of a collection shows of its points: the values it is grouped on (texts,
    yes/no), the highest of each drawn number (the worst severity, the largest population) and
    the latest of each instant."""

    keys: tuple[str, ...]
    highest: tuple[str, ...]
    latest: tuple[str, ...]


def drawn(collection: Collection) -> Drawn:
    columns = collection.table.c
    latest = tuple(n for n in collection.tile_fields if n.endswith("_at"))
    highest = tuple(
        n
        for n in collection.tile_fields
        if n not in latest
        and isinstance(columns[n].type, Integer | Numeric | Float)
        and not isinstance(columns[n].type, Boolean)
    )
    keys = tuple(n for n in collection.tile_fields if n not in latest and n not in highest)
    return Drawn(keys, highest, latest)


def cell_of(
    lon: ColumnElement[Any], lat: ColumnElement[Any], z: int
) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """The cell (column, row) of the group grid at zoom ``z`` of a WGS 84 point, counted
    across the whole world: Web Mercator by formula, as ST_Transform places it. A cell at zoom
    ``z`` is four of zoom ``z + 1``: halving the factor is exact in floating point, so the
    counts of a zoom made from the zoom above agree with those made from the points."""
    per_m = literal(GRID * 2**z / WORLD_M, Float())
    mercator_x = lon * M_PER_DEGREE + WORLD_M / 2
    mercator_y = WORLD_M / 2 - func.ln(func.tan(func.radians(45.0 + lat / 2.0))) * EARTH_RADIUS_M
    column = cast(func.floor(mercator_x * per_m), Integer)
    row = cast(func.floor(mercator_y * per_m), Integer)
    return column, row


def kept(collection: Collection, settings: Settings | None = None) -> bool:
    """Whether the collection's groups are counted ahead: points, never shown generalised."""
    settings = settings or get_settings()
    if collection.geometry_types != ("Point",):
        return False
    policy = policy_for(collection.name, settings.policies)
    generalises = any(policy.action(c) == "generalise" for c in Classification)
    return not generalises and not policy.coarse_location_for


def owner_column(collection: Collection, settings: Settings | None = None) -> str | None:
    return policy_for(collection.name, (settings or get_settings()).policies).owner_column


def readable(collection: Collection, principal: Principal, query: ListQuery) -> bool:
    """Whether a tile of ``query`` may be read from the counts for ``principal``: counts kept,
    no filter but the tile itself, and the principal sees the location and every drawn value
    of a record they see as stored (nothing of them removed for their role)."""
    if not kept(collection):
        return False
    if query.interval or query.sector or query.q or query.filters or query.where:
        return False
    v = view(collection.table, principal)
    columns = collection.table.c
    shown_as_stored = all(v.column(n) is columns[n] for n in ("geom", *collection.tile_fields))
    return shown_as_stored and v.tolerance_deg == 0


async def current(session: AsyncSession, collection: Collection) -> bool:
    """Whether the counts are of the collection as it is now: no write since they were made."""
    parts = LAYER_VERSION_PARTS
    now = (
        select(func.coalesce(func.sum(parts.c.version), 0))
        .where(parts.c.collection == collection.name)
        .scalar_subquery()
    )
    built = select(BUILDS.c.version).where(BUILDS.c.collection == collection.name).scalar_subquery()
    # Never counted and never written: no groups, as counted.
    return bool(await session.scalar(select(func.coalesce(built, 0) == now)))


def tile_groups(
    collection: Collection, principal: Principal, z: int, x: int, y: int, limit: int
) -> Any:
    """The groups of tile z/x/y as ``principal`` may see them, read from the counts: the
    columns of ``service.layers.lowzoom.grouped``'s select, in its order."""
    table = collection.table
    shown = drawn(collection)
    g = GROUPS.c
    parts: dict[str, ColumnElement[Any]] = {
        "classification": g.classification,
        "sector_id": g.sector_id,
        "verification_state": g.verification_state,
    }
    owner = owner_column(collection)
    if owner is not None:
        parts[owner] = g.owner_id
    keys = [g.drawn[i + 1] for i in range(len(shown.keys))]
    return (
        select(
            g.cx.label("cx"),
            g.cy.label("cy"),
            literal(False).label("generalised"),
            *(cast(k, table.c[n].type).label(n) for k, n in zip(keys, shown.keys, strict=True)),
            func.min(g.first_id).label("id"),
            cast(func.sum(g.count), Integer).label("count"),
            *(
                cast(func.max(g.highest[i + 1]), table.c[n].type).label(n)
                for i, n in enumerate(shown.highest)
            ),
            *(func.max(g.latest[i + 1]).label(n) for i, n in enumerate(shown.latest)),
        )
        .where(
            g.collection == collection.name,
            g.z == z,
            g.cx.between(GRID * x, GRID * x + GRID - 1),
            g.cy.between(GRID * y, GRID * y + GRID - 1),
            parts_filter(table, principal, parts),
        )
        .group_by(g.cx, g.cy, *keys)
        .limit(limit)
    )


@dataclass(frozen=True)
class Count:
    collection: str
    groups: int
    seconds: float
    version: int


async def count(connection: AsyncConnection, collection: Collection) -> Count | None:
    """Count the collection's groups anew unless they are current, in the connection's
    transaction: run it in one that reads the collection at one moment (REPEATABLE READ, as
    ``count_all`` does), so the version recorded is the one counted. Returns None when they
    were current."""
    started = time.perf_counter()
    name = collection.name
    parts = LAYER_VERSION_PARTS
    version = int(
        await connection.scalar(
            select(func.coalesce(func.sum(parts.c.version), 0)).where(parts.c.collection == name)
        )
        or 0
    )
    built = await connection.scalar(select(BUILDS.c.version).where(BUILDS.c.collection == name))
    if built == version:
        return None
    await connection.execute(delete(GROUPS).where(GROUPS.c.collection == name))
    await connection.execute(_count_points(collection))
    for z in range(BASE_ZOOM - 1, -1, -1):
        await connection.execute(_count_zoom(collection, z))
    groups = int(
        await connection.scalar(
            select(func.count()).select_from(GROUPS).where(GROUPS.c.collection == name)
        )
        or 0
    )
    seconds = time.perf_counter() - started
    upsert = pg_insert(BUILDS).values(
        collection=name, version=version, built_at=func.now(), seconds=seconds, groups=groups
    )
    await connection.execute(
        upsert.on_conflict_do_update(
            index_elements=[BUILDS.c.collection],
            set_={
                "version": upsert.excluded.version,
                "built_at": upsert.excluded.built_at,
                "seconds": upsert.excluded.seconds,
                "groups": upsert.excluded.groups,
            },
        )
    )
    return Count(name, groups, seconds, version)


def _array(values: list[ColumnElement[Any]], element: str) -> ColumnElement[Any]:
    """An SQL array of ``values``; an empty one of ``element`` when there are none."""
    return array(values) if values else literal_column(f"'{{}}'::{element}[]")


def _count_points(collection: Collection) -> Any:
    """The base zoom's groups, from the table's live records."""
    table = collection.table
    shown = drawn(collection)
    lon, lat = func.ST_X(table.c.geom), func.ST_Y(table.c.geom)
    column, row = cell_of(lon, lat, BASE_ZOOM)
    owner = owner_column(collection)
    null_uuid = literal(None, UUID(as_uuid=True))
    verification = table.c.get("verification_state")
    points = (
        select(
            column.label("cx"),
            row.label("cy"),
            table.c.classification.label("classification"),
            table.c.sector_id.label("sector_id"),
            (table.c[owner] if owner else null_uuid).label("owner_id"),
            (verification if verification is not None else literal(None, Text())).label(
                "verification_state"
            ),
            _array([cast(table.c[n], Text) for n in shown.keys], "text").label("drawn"),
            cast(table.c.id, Text).label("id"),
            *(cast(table.c[n], Float).label(f"h{i}") for i, n in enumerate(shown.highest)),
            *(table.c[n].label(f"l{i}") for i, n in enumerate(shown.latest)),
        )
        .where(table.c.deleted_at.is_(None), lat.between(-MAX_LATITUDE, MAX_LATITUDE))
        .subquery("points")
    )
    p = points.c
    part = [p.cx, p.cy, p.classification, p.sector_id, p.owner_id, p.verification_state, p.drawn]
    counted = select(
        literal(collection.name),
        literal(BASE_ZOOM, SmallInteger()),
        *part,
        func.count(),
        func.min(p.id),
        _array([func.max(p[f"h{i}"]) for i in range(len(shown.highest))], "double precision"),
        _array([func.max(p[f"l{i}"]) for i in range(len(shown.latest))], "timestamptz"),
    ).group_by(*part)
    return insert(GROUPS).from_select([c.name for c in GROUPS.c], counted)


def _count_zoom(collection: Collection, z: int) -> Any:
    """Zoom ``z``'s groups from those of zoom ``z + 1``: four cells make one."""
    shown = drawn(collection)
    g = GROUPS.c
    part = [
        g.cx.op(">>")(1),
        g.cy.op(">>")(1),
        g.classification,
        g.sector_id,
        g.owner_id,
        g.verification_state,
        g.drawn,
    ]
    counted = (
        select(
            literal(collection.name),
            literal(z, SmallInteger()),
            *part,
            cast(func.sum(g.count), Integer),
            func.min(g.first_id),
            _array(
                [func.max(g.highest[i + 1]) for i in range(len(shown.highest))],
                "double precision",
            ),
            _array([func.max(g.latest[i + 1]) for i in range(len(shown.latest))], "timestamptz"),
        )
        .where(g.collection == collection.name, g.z == z + 1)
        .group_by(*part)
    )
    return insert(GROUPS).from_select([c.name for c in GROUPS.c], counted)


async def count_all(engine: AsyncEngine) -> list[Count]:
    """Count anew the groups of every collection whose counts are kept and not current, one
    count at a time across processes (an advisory lock)."""
    done = []
    async with engine.connect() as connection:
        await connection.execute(select(func.pg_advisory_lock(literal(COUNT_LOCK))))
        await connection.commit()
        try:
            for collection in COLLECTIONS.values():
                if not kept(collection):
                    continue
                counting = await connection.execution_options(isolation_level="REPEATABLE READ")
                async with counting.begin():
                    made = await count(counting, collection)
                if made is not None:
                    log.info(
                        "point groups of %s: %d groups in %.1f s",
                        made.collection,
                        made.groups,
                        made.seconds,
                    )
                    done.append(made)
        finally:
            await connection.execute(select(func.pg_advisory_unlock(literal(COUNT_LOCK))))
            await connection.commit()
    return done


#: A count starts this long after the change that called for it (a burst of writes, such as
#: an import, makes one count).
DEBOUNCE_S = 2.0


class GroupKeeper:
    """In the API process: queues a count of the groups (a job run by a worker, never in the
    API process) at start and after each change to a collection whose groups are kept, at most
    once per ``point_groups_interval_s``."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        listener: Any,
        interval_s: float | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.interval_s = (
            get_settings().point_groups_interval_s if interval_s is None else interval_s
        )
        self._changed = asyncio.Event()
        self._reconnected = False
        self._task: asyncio.Task[None] | None = None
        self._tables = {c.table.name for c in COLLECTIONS.values() if kept(c)}
        listener.subscribe(self._heard)

    def _heard(self, table: str | None) -> None:
        if table is None:
            # Reconnected (changes may have been missed): not at once, while every process
            # reconnects after a database restart, but within the interval.
            self._reconnected = True
            self._changed.set()
        elif table in self._tables:
            self._changed.set()

    async def _run(self) -> None:
        last = -float("inf")
        while True:
            await self._changed.wait()
            # A few seconds after the change, and at most once per interval.
            wait = max(DEBOUNCE_S, last + self.interval_s - time.monotonic())
            if self._reconnected:
                wait = max(wait, self.interval_s)
            await asyncio.sleep(wait)
            self._changed.clear()
            self._reconnected = False
            last = time.monotonic()
            try:
                if not await self._all_current():
                    await defer_count(self.sessionmaker)
            except asyncio.CancelledError:
                raise
            except Exception:  # retried at the next change
                log.exception("queueing a count of the point groups failed")

    async def _all_current(self) -> bool:
        async with self.sessionmaker() as session:
            for collection in COLLECTIONS.values():
                if kept(collection) and not await current(session, collection):
                    return False
        return True

    def start(self) -> None:
        self._changed.set()
        self._task = asyncio.create_task(self._run(), name="civop-point-groups")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def defer_count(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Queue one count of the groups, unless one is already waiting."""
    from service.jobs.service import GROUPS_TASK, defer_once

    await defer_once(sessionmaker, GROUPS_TASK)
