"""The staging table: the file's checked rows, copied in batches while the next is read."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import (
    ColumnElement,
    column,
    func,
    literal,
    select,
    table,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from geo.formats import FileRefused, Input, ProblemLog
from geo.formats.geometry import coordinates_of_ewkb_hex
from geo.formats.pipeline import GEOM, ROW
from geo.formats.schema import IDENTITY
from geo.sectors import SectorIndex
from service.collections.registry import Collection
from service.config import Settings
from service.db import driver_of
from service.imports.request import ImportRequest, collection_of, default_classification
from service.imports.upload import (
    refusal,
)
from service.sectors.models import Sector

DEFAULT_ORIGIN = "import"
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
#: The sector a point's record falls in, found while the file is read (``geo.sectors``).
LOCATED = "located_sector_id"


Progress = Callable[[int], Awaitable[None]]


@dataclass
class Staging:
    """The temporary table an import's rows wait in, and what it holds."""

    name: str
    collection: Collection
    columns: list[str]
    origin: str
    classification: str
    classification_given: bool
    rows: int = 0
    #: The live sectors, when the rows' sectors are found as the file is read.
    sectors: SectorIndex | None = None

    def __post_init__(self) -> None:
        self.table: Any = table(self.name, *(column(n) for n in self.columns))

    def has(self, name: str) -> bool:
        return name in self.columns

    def origin_expr(self) -> ColumnElement[Any]:
        st = self.table
        given = literal(self.origin)
        return func.coalesce(st.c.origin, given) if self.has("origin") else given


def _column_type(collection: Collection, name: str) -> str:
    if name in (IDENTITY, LOCATED):
        return "uuid"
    if name in (ROW,):
        return "bigint"
    if name == GEOM:
        return "geometry"
    column_type = collection.table.c[name].type
    if column_type.__class__.__name__ == "Geometry":
        return "geometry"
    rendered: str = column_type.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    return rendered


async def _create_staging(session: AsyncSession, staging: Staging) -> None:
    definition = ", ".join(
        f'"{name}" {_column_type(staging.collection, name)}' for name in staging.columns
    )
    # The name comes from a UUID and the columns from the registry, never from the file.
    await session.execute(text(f'CREATE TEMP TABLE "{staging.name}" ({definition}) ON COMMIT DROP'))


def _with_derived_columns(batch: pa.Table, staging: Staging) -> pa.Table:
    """Add, for points, the sector each row's record lies in."""
    if staging.sectors is not None:
        x, y = coordinates_of_ewkb_hex(batch.column(GEOM))
        batch = batch.append_column(LOCATED, staging.sectors.locate(x, y))
    return batch


def _located_by_reader(collection: Collection) -> bool:
    """Whether the rows' sectors are found as the file is read: for collections of points
    (the sector of another shape is that of its point on surface, left to the database)."""
    return (
        "sector_id" in collection.table.c
        and collection.geometry_types == ("Point",)
        and (not collection.multi)
    )


async def _sector_index(session: AsyncSession) -> SectorIndex:
    """The live sectors, read in the import's transaction (as ``civop_sector_at`` reads
    them: every sector, whoever imports), in the order in which they claim a point: the
    database's (``civop_sector_rank``, service/sql/sectors.sql)."""
    sectors = Sector.__table__
    rows = await session.execute(
        select(sectors.c.id, func.ST_AsBinary(sectors.c.geom))
        .where(sectors.c.deleted_at.is_(None))
        .order_by(func.civop_sector_rank(sectors.c.level), sectors.c.id)
    )
    return SectorIndex([(sector_id, bytes(wkb)) for sector_id, wkb in rows])


async def _chunks(
    opened: Input, staging: Staging, log: ProblemLog
) -> AsyncIterator[tuple[int, bytes]]:
    """CSV chunks of checked rows; the next batch is read and checked (in a thread) while the
    current one is copied into PostgreSQL."""
    batches: Iterator[pa.Table] = opened.convert(log)

    def produce() -> tuple[int, bytes] | None:
        batch = next(batches, None)
        if batch is None:
            return None
        batch = _with_derived_columns(batch, staging)
        buffer = io.BytesIO()
        pacsv.write_csv(batch, buffer, _CSV)
        return batch.num_rows, buffer.getvalue()

    # One worker thread for the whole file: its memory is reused batch after batch (threads of
    # a shared pool would each keep their own malloc arena).
    loop = asyncio.get_running_loop()
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="civop-import")
    pending = loop.run_in_executor(worker, produce)
    try:
        while True:
            chunk = await pending
            if chunk is None:
                return
            pending = loop.run_in_executor(worker, produce)
            yield chunk
    finally:
        pending.cancel()
        worker.shutdown(wait=True, cancel_futures=True)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    # An async source: asyncpg would read a file object through its default thread pool.
    yield data


async def stage(
    session: AsyncSession,
    opened: Input,
    staging: Staging,
    log: ProblemLog,
    settings: Settings,
    progress: Progress | None,
) -> None:
    await _create_staging(session, staging)
    if staging.has(LOCATED):
        staging.sectors = await _sector_index(session)
    driver = await driver_of(session)
    try:
        async for rows, data in _chunks(opened, staging, log):
            await driver.copy_to_table(
                staging.name,
                source=_once(data),
                columns=staging.columns,
                format="csv",
                timeout=settings.import_timeout_s,
            )
            staging.rows += rows
            if progress is not None:
                await progress(staging.rows)
    except FileRefused as error:
        raise refusal(error) from error


def staging_for(opened: Input, request: ImportRequest, name: str) -> Staging:
    preset_origin = opened.format.preset.origin
    collection = collection_of(request.collection)
    return Staging(
        name=name,
        collection=collection,
        columns=[
            ROW,
            *(n for n, _ in opened.columns),
            GEOM,
            *([LOCATED] if _located_by_reader(collection) else []),
        ],
        origin=request.origin or preset_origin or DEFAULT_ORIGIN,
        classification=str(request.classification or default_classification(request)),
        classification_given=request.classification is not None,
    )
