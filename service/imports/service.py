"""Imports: a file becomes records of a collection in one transaction, or nothing at all.

The flow, for the API and the command line alike:

1. ``receive`` stores the upload privately (hashing it, stopping at the size limit);
   ``open_upload`` finds the format, layer, CRS and field mapping (``geo.formats``) and refuses
   an unusable file with a 4xx that says why.
2. ``run`` (or ``preview``, which writes nothing) opens one transaction that names the acting
   user and the context ``import:<job id>`` (so every audit row of the import carries it),
   takes the job's advisory lock, and streams the checked batches with COPY into a temporary
   staging table while the next batch is being read.
3. Holding the collection's keys (``service.collections.keys``), it finds the record each row
   names, by civop id or by origin + external_id, among the records the importer sees in full
   only (a key held only by records hidden from them names nothing: the row is a new record).
   Checks that need the database run set-wise on the staging table: duplicates in the file,
   references, sectors outside the importer's scope.
4. Without errors, one ``INSERT ... SELECT ... ON CONFLICT (id) DO UPDATE`` merges the staging
   table into the collection (new records get random ids) and the job is marked succeeded in
   the same transaction. A bulk load (a big
   import, holding the collection's lock) updates the matched records and inserts the new ones
   with the secondary indexes and keys dropped, then rebuilds them. Each write runs through
   ``service.audit.trail.write``, which records it. With errors, or if the process dies,
   PostgreSQL rolls everything back and the job says why.

``rollback`` undoes a finished import from the audit trail: records it created are removed,
records it changed get their previous values back.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import (
    ColumnElement,
    Executable,
    Integer,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    case,
    cast,
    column,
    delete,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    table,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from geo.formats import Area, FileRefused, Input, Limits, Options, Problem, ProblemLog, open_input
from geo.formats.base import Severity
from geo.formats.geometry import coordinates_of_ewkb_hex
from geo.formats.pipeline import GEOM, KEY, ROW, safe_file_name
from geo.formats.schema import IDENTITY
from geo.sectors import SectorIndex
from service.access.policy import Principal, floors_for
from service.access.sql import below_floor, floored, row_filter, seen_in_full, within_scope
from service.audit import trail
from service.collections import dates, keys
from service.collections.registry import COLLECTIONS, Collection
from service.collections.service import _check_clearance, act_as
from service.config import Settings
from service.db import driver_of, on_driver
from service.enums import Classification, Role
from service.errors import CivopError, Conflict, Forbidden, InvalidInput, NotFound, log
from service.imports.models import ImportJob, JobStatus
from service.imports.targets import target_schema
from service.sectors.models import Sector

#: Advisory lock namespace of import jobs: (IMPORT_LOCK, job number) is held while one runs.
IMPORT_LOCK = 4217
#: A job without its lock and without a heartbeat for this long was interrupted.
STALE_AFTER_S = 10
DEFAULT_ORIGIN = "import"
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
#: The sector a point's record falls in, found while the file is read (``geo.sectors``).
LOCATED = "located_sector_id"


Progress = Callable[[int], Awaitable[None]]


class PayloadTooLarge(CivopError):
    status_code = 413


class UnsupportedFormat(CivopError):
    status_code = 415


def refusal(error: FileRefused) -> CivopError:
    """A refused file as the HTTP error that fits."""
    if error.reason == "too_large":
        return PayloadTooLarge(error.message)
    if error.reason == "unsupported":
        return UnsupportedFormat(error.message)
    return InvalidInput(["body", error.field], error.message)


@dataclass(frozen=True)
class ImportRequest:
    """What the importer asks for; everything but the collection is optional."""

    collection: str
    format: str | None = None
    layer: str | None = None
    mapping: dict[str, str | None] | None = None
    source_crs: str | None = None
    encoding: str | None = None
    classification: Classification | None = None
    origin: str | None = None

    def as_options(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "layer": self.layer,
            "mapping": self.mapping,
            "source_crs": self.source_crs,
            "encoding": self.encoding,
            "classification_given": self.classification is not None,
        }


@dataclass
class Upload:
    """A received file in its own private folder (removed by ``discard``)."""

    path: Path
    name: str
    size: int
    sha256: str
    workdir: Path

    def discard(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_zip_members=settings.import_max_zip_members,
        max_uncompressed_bytes=settings.import_max_uncompressed_mb * 1024**2,
        max_compression_ratio=settings.import_max_compression_ratio,
        batch_rows=settings.import_batch_rows,
    )


def _workdir(settings: Settings) -> Path:
    root = settings.import_dir
    if root:
        Path(root).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="civop-import-", dir=root))


async def receive(chunks: AsyncIterator[bytes], name: str, settings: Settings) -> Upload:
    """Store an upload privately, hashing it and refusing it past the size limit."""
    workdir = _workdir(settings)
    path = workdir / "upload" / safe_file_name(name or "upload")
    path.parent.mkdir()
    limit = settings.import_max_upload_mb * 1024**2
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("wb") as sink:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(
                        f"the file is larger than {settings.import_max_upload_mb} MiB "
                        "(CIVOP_IMPORT_MAX_UPLOAD_MB); split it or use the command line"
                    )
                digest.update(chunk)
                sink.write(chunk)
        if size == 0:
            raise InvalidInput(["body", "file"], "the file is empty")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return Upload(path, name, size, digest.hexdigest(), workdir)


def receive_path(source: Path, settings: Settings) -> Upload:
    """A file on this machine (the command line): read in place, hashed, nothing copied."""
    if not source.is_file():
        raise InvalidInput(["file"], f"{source} is not a file")
    digest = hashlib.sha256()
    with source.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    workdir = _workdir(settings)
    link = workdir / "upload" / safe_file_name(source.name)
    link.parent.mkdir()
    link.symlink_to(source.resolve())
    return Upload(link, source.name, source.stat().st_size, digest.hexdigest(), workdir)


def collection_of(name: str) -> Collection:
    collection = COLLECTIONS.get(name)
    if collection is None:
        known = ", ".join(COLLECTIONS)
        raise InvalidInput(
            ["body", "collection"], f"unknown collection {name!r}; use one of: {known}"
        )
    return collection


def check_writer(principal: Principal) -> None:
    """Only roles that write records import."""
    _check_clearance(principal, None)


def default_classification(request: ImportRequest) -> Classification:
    """The classification of imported records when neither the request nor the file gives
    one: the collection's own default (mission; public for the gazetteer)."""
    field = collection_of(request.collection).properties.model_fields["classification"]
    return Classification(field.default)


def check_importer(principal: Principal, request: ImportRequest) -> None:
    """Officers and admins import, into what they are cleared for and within their sectors."""
    _check_clearance(principal, request.classification or default_classification(request))
    if request.collection == "sectors" and principal.sector_scope is not None:
        raise Forbidden("users limited to sectors may not import areas of responsibility")


async def open_upload(upload: Upload, request: ImportRequest, settings: Settings) -> Input:
    """Find the format, layer, CRS and mapping of an upload, or refuse it with a 4xx."""
    collection_of(request.collection)
    options = Options(
        format=request.format,
        layer=request.layer,
        mapping=request.mapping,
        source_crs=request.source_crs,
        encoding=request.encoding,
    )
    area = Area(
        settings.mission_bbox,
        settings.import_outside_km,
        settings.size_limits(request.collection),
    )
    try:
        opened = await asyncio.to_thread(
            open_input,
            upload.path,
            schema=target_schema(request.collection),
            options=options,
            limits=limits_of(settings),
            workdir=upload.workdir,
            area=area,
        )
    except FileRefused as error:
        raise refusal(error) from error
    wanted = opened.format.preset.collection
    if wanted and wanted != request.collection and request.format is None:
        raise InvalidInput(
            ["body", "collection"],
            f"{opened.format.title} files go into {wanted}, not {request.collection}",
        )
    return opened


# --- running SQL with the import's own time limit -------------------------------------------


def _runner(session: AsyncSession, settings: Settings) -> trail.Run:
    """Long statements run on the driver with the import timeout, not the request one."""
    return on_driver(session, settings.import_timeout_s)


async def _fetch(
    session: AsyncSession, statement: Executable, settings: Settings
) -> list[asyncpg.Record]:
    return await on_driver(session, settings.import_timeout_s)(statement)


async def _begin(
    session: AsyncSession, principal: Principal, context: str, settings: Settings
) -> None:
    await act_as(session, principal, context=context)
    timeout_ms = str(settings.import_timeout_s * 1000)
    await session.execute(select(func.set_config("statement_timeout", timeout_ms, True)))


# --- staging ---------------------------------------------------------------------------------


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
    them: every sector, whoever imports)."""
    sectors = Sector.__table__
    rows = await session.execute(
        select(sectors.c.id, sectors.c.level, func.ST_AsBinary(sectors.c.geom)).where(
            sectors.c.deleted_at.is_(None)
        )
    )
    return SectorIndex([(sector_id, level, bytes(wkb)) for sector_id, level, wkb in rows])


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


async def _stage(
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


# --- checks on the staging table --------------------------------------------------------------


@dataclass
class Matching:
    """The record each staged row names, found once (``_match``) and joined by row number:
    by civop id if the row gives one, else by origin + external_id, among the records the
    importer sees in full only."""

    joined: Any
    #: The record the row's civop id names, and the one its key names (checked to agree).
    by_id: ColumnElement[Any]
    by_key: ColumnElement[Any]
    matched: ColumnElement[Any]
    deleted_at: ColumnElement[Any]
    #: Rows whose record was deleted: skipped, not brought back.
    skipped: int = 0


async def _match(
    session: AsyncSession, staging: Staging, principal: Principal, settings: Settings
) -> Matching:
    """Find the record each row names, among the records the importer sees in full (deleted
    ones included, so that a row of a record they deleted is skipped, not brought back). A key
    or an id held only by records hidden from them names nothing: the row is a new record, as
    if the key had never been used. When several records the importer sees share the key, the
    live one at the highest classification is matched, the oldest of those when several
    (``service.collections.keys``).

    The matches are kept in a temporary table read by the checks and the merge: a bulk load
    drops the index on the key before it merges."""
    target = staging.collection.table
    st = staging.table
    name = f"{staging.name}_match"
    await session.execute(
        text(
            f'CREATE TEMP TABLE "{name}" (row_no bigint PRIMARY KEY, by_id uuid, by_key uuid, '
            "record_id uuid, deleted_at timestamptz) ON COMMIT DROP"
        )
    )
    # A plain outer join, one record kept per row (DISTINCT ON): a hash join on the key, and a
    # join Citus plans as it did the join it replaces.
    by_key = target.alias("by_key")
    joined = st.outerjoin(
        by_key,
        and_(
            by_key.c.origin == staging.origin_expr(),
            by_key.c.external_id == st.c.external_id,
            seen_in_full(target, principal, live=False, alias=by_key),
        ),
    )
    by_id_found: ColumnElement[Any] = null()
    deleted: ColumnElement[Any] = by_key.c.deleted_at
    if staging.has(IDENTITY):
        by_id = target.alias("by_id")
        joined = joined.outerjoin(
            by_id,
            and_(
                by_id.c.id == cast(st.c.id, postgresql.UUID),
                seen_in_full(target, principal, live=False, alias=by_id),
            ),
        )
        by_id_found = by_id.c.id
        deleted = case((by_id.c.id.is_not(None), by_id.c.deleted_at), else_=by_key.c.deleted_at)
    found = table(
        name,
        column("row_no"),
        column("by_id"),
        column("by_key"),
        column("record_id"),
        column("deleted_at"),
    )
    rows = (
        select(
            st.c.row_no, by_id_found, by_key.c.id, func.coalesce(by_id_found, by_key.c.id), deleted
        )
        .select_from(joined)
        .distinct(st.c.row_no)
        .order_by(
            st.c.row_no,
            by_key.c.deleted_at.is_not(None),
            keys.classification_rank(by_key).desc(),
            by_key.c.created_at,
            by_key.c.id,
        )
    )
    await _runner(session, settings)(
        postgresql.insert(found).from_select(list(found.c.keys()), rows)
    )
    await session.execute(text(f'ANALYZE "{name}"'))
    return Matching(
        joined=st.join(found, found.c.row_no == st.c.row_no),
        by_id=found.c.by_id,
        by_key=found.c.by_key,
        matched=found.c.record_id,
        deleted_at=found.c.deleted_at,
    )


def _listed(statement: Select[Any], limit: int) -> Select[Any]:
    return statement.add_columns(func.count().over().label("total")).limit(limit)


def _source_of(opened: Input, name: str) -> str:
    return opened.mapping.fields.get(name) or name


async def _check(
    session: AsyncSession,
    opened: Input,
    staging: Staging,
    principal: Principal,
    log: ProblemLog,
    settings: Settings,
) -> Matching:
    """Set-wise checks that need the database; problems go to ``log``."""
    limit = settings.import_max_problems
    st = staging.table
    target = staging.collection.table
    match = await _match(session, staging, principal, settings)

    async def report(
        statement: Select[Any],
        field: str | None,
        message: Callable[[Any], str],
        severity: Severity = "error",
    ) -> int:
        rows = await _fetch(session, _listed(statement, limit), settings)
        for row in rows:
            log.add(Problem(int(row[0]), field, message(row), severity, None))
        total = int(rows[0]["total"]) if rows else 0
        if total > len(rows):
            log.count_more(field, total - len(rows), severity)
        return total

    key_field = _source_of(opened, KEY) if KEY in opened.mapping.fields else "(whole record)"
    first = func.min(st.c.row_no).over(partition_by=(staging.origin_expr(), st.c.external_id))
    repeats = select(st.c.row_no, st.c.external_id, first.label("first")).subquery("repeats")
    await report(
        select(repeats.c.row_no, repeats.c.external_id, repeats.c.first).where(
            repeats.c.row_no != repeats.c.first
        ),
        key_field,
        lambda r: (
            f"repeats row {r['first']}"
            + ("" if KEY not in opened.mapping.fields else f" (external_id {r['external_id']!r})")
            + ": each record may appear once in a file"
        ),
    )
    if staging.has(IDENTITY):
        first_id = func.min(st.c.row_no).over(partition_by=st.c.id)
        same_id = select(st.c.row_no, st.c.id, first_id.label("first")).where(st.c.id.is_not(None))
        same = same_id.subquery("same_id")
        await report(
            select(same.c.row_no, same.c.first).where(same.c.row_no != same.c.first),
            _source_of(opened, IDENTITY),
            lambda r: f"names the same record as row {r['first']}: each record may appear once",
        )
        await report(
            select(st.c.row_no)
            .select_from(match.joined)
            .where(
                match.by_id.is_not(None),
                match.by_key.is_not(None),
                match.by_id != match.by_key,
            ),
            _source_of(opened, IDENTITY),
            lambda r: "its id and its external_id name two different records; remove one",
        )
        # One row may name a record by its id and another row the same record by its key.
        by_id_row = func.min(case((st.c.id.is_not(None), st.c.row_no))).over(
            partition_by=match.matched
        )
        both = (
            select(st.c.row_no, st.c.id, by_id_row.label("first"))
            .select_from(match.joined)
            .where(match.matched.is_not(None))
            .subquery("both_ways")
        )
        await report(
            select(both.c.row_no, both.c.first).where(
                both.c.id.is_(None), both.c.first.is_not(None)
            ),
            key_field,
            lambda r: (
                f"its external_id names the record row {r['first']} names by id: "
                "each record may appear once"
            ),
        )
    match.skipped = await report(
        select(st.c.row_no).select_from(match.joined).where(match.deleted_at.is_not(None)),
        key_field,
        lambda r: "the record it matches was deleted; it is skipped (not brought back)",
        "warning",
    )
    if principal.sector_scope is not None:
        # Rows match only records the importer sees in full; one of those may still reach
        # beyond the importer's sectors (an area filed under the sector of one point in it).
        reaching = select(st.c.row_no).select_from(
            match.joined.join(target, target.c.id == match.matched)
        )
        await report(
            reaching.where(
                target.c.deleted_at.is_(None), not_(within_scope(target.c.geom, principal))
            ),
            key_field,
            lambda r: (
                "it would change a record that reaches beyond the sectors you are assigned "
                "to; an officer responsible for the whole area it covers may import it"
            ),
        )
    await _check_references(session, opened, staging, principal, report)
    if staging.has("classification"):
        cleared = sorted(principal.cleared_for)
        await report(
            select(st.c.row_no, st.c.classification).where(
                st.c.classification.is_not(None), st.c.classification.not_in(cleared)
            ),
            _source_of(opened, "classification"),
            lambda r: f"you are not cleared to write {r['classification']} records",
        )
    for fact, future in dates.in_future(target, st.c):

        def dated_ahead(r: Any, fact: dates.Fact = fact) -> str:
            return dates.message(fact.column, r["value"], fact.hint)

        await report(
            select(st.c.row_no, st.c[fact.column].label("value")).where(future),
            _source_of(opened, fact.column),
            dated_ahead,
        )
    scope = principal.sector_scope
    sectored = "sector_id" in target.c
    if scope is not None:
        # The whole geometry, not only the point its sector is found from.
        outside: list[ColumnElement[bool]] = [not_(within_scope(st.c.geom, principal))]
        if sectored and scope:
            sector = _sector_expr(staging)
            outside += [sector.is_(None), sector.not_in(sorted(scope))]
        await report(
            select(st.c.row_no).where(or_(*outside)),
            "geometry",
            lambda r: "it lies outside the sectors you are assigned to, wholly or in part",
        )
    if sectored and staging.has("sector_id") and scope != frozenset():
        located = _sector_expr(staging)
        disagrees = and_(
            st.c.sector_id.is_not(None),
            cast(st.c.sector_id, postgresql.UUID).is_distinct_from(located),
        )
        if scope is not None:  # rows outside have their problem; their sector is not named
            disagrees = and_(disagrees, located.in_(sorted(scope)))
        # A sector the importer may not see is not named, and reads as no sector at all.
        sectors = COLLECTIONS["sectors"].table
        seen = (
            select(sectors.c.id)
            .where(sectors.c.id == located, row_filter(sectors, principal))
            .scalar_subquery()
        )
        await report(
            select(st.c.row_no, seen.label("located")).where(disagrees),
            _source_of(opened, "sector_id"),
            lambda r: (
                "the geometry lies in no area of responsibility you may see; leave sector_id empty"
                if r["located"] is None
                else f"the geometry lies in the area of responsibility {r['located']}: "
                "correct sector_id or leave it empty (it follows from the geometry)"
            ),
        )
    await _check_floors(opened, staging, match, principal, settings, report)
    return match


async def _check_floors(
    opened: Input,
    staging: Staging,
    match: Matching,
    principal: Principal,
    settings: Settings,
    report: Callable[..., Awaitable[int]],
) -> None:
    """Records below their category's floor (``service.access.policy``): raised to it when
    the importer is cleared for it (a warning per row), refused when not."""
    target = staging.collection.table
    if "category" not in target.c or not floors_for(target.name, settings.category_floors):
        return
    st = staging.table
    category, requested, joined = _requested(staging, match)
    field = _source_of(opened, "classification")
    cases = below_floor(target.name, category, requested, settings)
    for floor, condition in cases.items():
        cleared = floor in principal.cleared_for
        await report(
            select(st.c.row_no, category.label("category"), requested.label("requested"))
            .select_from(joined)
            .where(condition, match.deleted_at.is_(None)),
            field,
            (
                lambda r, floor=floor: (
                    f"classification raised from {r['requested']} to {floor}: "
                    f"{r['category']} records are classified {floor} at least"
                )
            )
            if cleared
            else (
                lambda r, floor=floor: (
                    f"{r['category']} records are classified {floor} at least and you are not "
                    f"cleared for {floor} records; ask an officer cleared for them to import them"
                )
            ),
            "warning" if cleared else "error",
        )


def _requested(staging: Staging, match: Matching) -> tuple[Any, Any, Any]:
    """(category, classification asked for, the join they are read from) of each staged row:
    the file's, else the import's, else the matched record's (which the merge keeps)."""
    st = staging.table
    default = literal(staging.classification)
    joined = match.joined
    current = staging.collection.table.alias("current")
    needs_current = not staging.has("category") or not (
        staging.has("classification") or staging.classification_given
    )
    if needs_current:
        joined = joined.outerjoin(current, current.c.id == match.matched)
    category = st.c.category if staging.has("category") else current.c.category
    requested: ColumnElement[Any]
    if staging.has("classification"):
        requested = func.coalesce(st.c.classification, default)
    elif staging.classification_given:
        requested = default
    else:
        requested = func.coalesce(current.c.classification, default)
    return category, requested, joined


async def _check_references(
    session: AsyncSession,
    opened: Input,
    staging: Staging,
    principal: Principal,
    report: Callable[..., Awaitable[int]],
) -> None:
    st = staging.table
    for target_column in staging.collection.table.c:
        if not target_column.foreign_keys or not staging.has(target_column.name):
            continue
        (foreign_key,) = target_column.foreign_keys
        referenced = foreign_key.column.table
        assert isinstance(referenced, Table)
        value = cast(st.c[target_column.name], postgresql.UUID)
        visible = exists(
            select(literal(1))
            .select_from(referenced)
            .where(referenced.c.id == value, row_filter(referenced, principal))
        )
        name = target_column.name
        await report(
            select(st.c.row_no, st.c[name]).where(st.c[name].is_not(None), not_(visible)),
            _source_of(opened, name),
            lambda r, name=name, other=referenced.name: (
                f"{name} names no {other} record that you may see: {r[1]}"
            ),
        )


def _sector_expr(staging: Staging) -> ColumnElement[Any]:
    """The record's area of responsibility, from its geometry by the rule of ``civop_sector_at``
    (the smallest area holding the record): found as the file was read for points, else from the
    point on surface by a subquery, planned once rather than per row."""
    st = staging.table
    located: ColumnElement[Any]
    if staging.has(LOCATED):
        located = st.c[LOCATED]
    else:
        sectors = Sector.__table__
        rank = case((sectors.c.level == "battalion", 0), (sectors.c.level == "sector", 1), else_=2)
        located = (
            select(sectors.c.id)
            .where(
                sectors.c.deleted_at.is_(None),
                func.ST_Intersects(sectors.c.geom, func.ST_PointOnSurface(st.c.geom)),
            )
            .order_by(rank, sectors.c.id)
            .limit(1)
            .scalar_subquery()
        )
    # A sector_id in the file is never taken over: ``_check`` refuses one that disagrees.
    return located


# --- the merge -------------------------------------------------------------------------------


async def _merge(
    session: AsyncSession,
    staging: Staging,
    match: Matching,
    settings: Settings,
    timings: dict[str, float],
) -> tuple[int, int]:
    """One INSERT ... ON CONFLICT (id) DO UPDATE (in a bulk load, an UPDATE of the matched
    records and an INSERT of the new ones, then the indexes built again: ``timings`` gets
    ``indexes``); returns (created, updated)."""
    target = staging.collection.table
    st = staging.table
    fields = [
        n
        for n in staging.columns
        if n not in (ROW, IDENTITY, GEOM, LOCATED, "origin", KEY, "classification")
        and n in target.c
    ]
    # A new record's id is random, whatever id or key the row gives: an id derived from a
    # public key, or taken from the file, would be another one exactly when a record hidden
    # from the importer holds it (service.collections.keys).
    values: dict[str, ColumnElement[Any]] = {
        "id": func.coalesce(match.matched, func.gen_random_uuid()),
        "origin": staging.origin_expr(),
        KEY: st.c.external_id,
        "classification": (
            func.coalesce(st.c.classification, literal(staging.classification))
            if staging.has("classification")
            else literal(staging.classification)
        ),
    }
    if staging.has("category") and "category" in target.c:
        values["classification"] = floored(
            target.name, st.c.category, values["classification"], settings
        )
    for name in fields:
        values[name] = st.c[name]
    geometry = st.c.geom
    values["geom"] = func.ST_Multi(geometry) if staging.collection.multi else geometry
    sectored = "sector_id" in target.c
    if sectored:
        # Set-wise here, so the per-row trigger has nothing left to look up.
        values["sector_id"] = _sector_expr(staging)
    source = select(*values.values()).select_from(match.joined).where(match.deleted_at.is_(None))
    # Server defaults (not Python-side ones) fill the fields the file does not carry.
    statement = pg_insert(target).from_select(list(values), source, include_defaults=False)
    changed = [*fields, "geom"]
    if sectored:
        changed.append("sector_id")
    if staging.classification_given or staging.has("classification"):
        changed.append("classification")
    excluded = statement.excluded
    assign = _assignments(staging, changed, excluded, settings)
    merge = statement.on_conflict_do_update(
        index_elements=[target.c.id],
        set_=assign,
        where=tuple_(*(target.c[n] for n in assign)).is_distinct_from(tuple_(*assign.values())),
    )
    # The records the merge may change (for their previous values when the service writes
    # the audit itself, see service.audit.trail).
    existing = (
        select(match.matched)
        .select_from(match.joined)
        .where(match.matched.is_not(None), match.deleted_at.is_(None))
    )
    run = _runner(session, settings)
    bulk = await _bulk_load(session, staging, settings)
    if bulk is None:
        merged = await trail.write(run, target, merge, kind="upsert", targets=existing)
        return merged.created, merged.changed
    # No one else writes the collection while the bulk load holds its lock, so new records go
    # in with a plain INSERT and matched ones are updated in place: the speculative insertion
    # of ON CONFLICT costs about 3 s per million rows.
    rows = source.with_only_columns(
        *(expression.label(name) for name, expression in values.items()),
        match.matched.label("matched"),
    ).subquery("incoming")
    fresh = pg_insert(target).from_select(
        list(values),
        select(*(rows.c[name] for name in values)).where(rows.c.matched.is_(None)),
        include_defaults=False,
    )
    assign = _assignments(staging, changed, rows.c, settings)
    stale = (
        update(target)
        .where(
            target.c.id == rows.c.id,
            rows.c.matched.is_not(None),
            tuple_(*(target.c[n] for n in assign)).is_distinct_from(tuple_(*assign.values())),
        )
        .values(assign)
    )
    # Updates first: once the new records are in, they would match their own rows.
    updated = await trail.write(run, target, stale, kind="update", targets=existing, lock=False)
    await bulk.drop_primary_key()
    created = await trail.write(run, target, fresh, kind="insert")
    clock = time.monotonic()
    await bulk.rebuild(settings)
    timings["indexes"] = time.monotonic() - clock
    return created.created, updated.changed


def _assignments(
    staging: Staging, changed: list[str], incoming: Any, settings: Settings
) -> dict[str, Any]:
    """What a matched record's columns become: the incoming row's (``incoming`` is the ON
    CONFLICT ``excluded`` row or the bulk load's rows), with the classification raised to
    its category's floor, the record's own classification included when the import leaves
    it as it is."""
    target = staging.collection.table
    assign: dict[str, Any] = {name: incoming[name] for name in changed}
    if "category" not in target.c or not floors_for(target.name, settings.category_floors):
        return assign
    category = incoming["category"] if "category" in changed else target.c.category
    classification = (
        incoming["classification"] if "classification" in changed else target.c.classification
    )
    assign["classification"] = floored(target.name, category, classification, settings)
    return assign


# --- bulk loads ------------------------------------------------------------------------------

#: Secondary indexes (not those behind constraints): how to drop them and build them again.
_INDEXES = """
SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = $1::regclass AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid AND c.contype <> 'f')
ORDER BY 2
"""
#: Unique constraints and foreign keys of the table, unique ones first when built again.
_CONSTRAINTS = """
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
              pg_get_constraintdef(oid))
FROM pg_constraint
WHERE conrelid = $1::regclass AND contype IN ('u', 'f')
ORDER BY contype DESC, conname
"""


async def _spread_by_citus(driver: asyncpg.Connection, table: str) -> bool:
    """Whether Citus spreads the table over its workers: their shards keep indexes of their
    own, and Citus refuses to write a table after dropping its indexes in one transaction."""
    if not await driver.fetchval("SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL"):
        return False
    return bool(
        await driver.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition "
            "WHERE logicalrelid = $1::regclass)",
            table,
        )
    )


#: The primary key, when no foreign key refers to it: how to drop it and build it again.
_PRIMARY_KEY = """
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
              pg_get_constraintdef(oid))
FROM pg_constraint
WHERE conrelid = $1::regclass AND contype = 'p'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.confrelid = $1::regclass)
"""


@dataclass
class _BulkLoad:
    """A collection whose secondary indexes and foreign keys are gone until ``rebuild``."""

    driver: asyncpg.Connection
    table: str
    build: list[str]

    async def drop_primary_key(self) -> None:
        """Before the new records go in: a primary key on random ids, kept up to date row by
        row, costs about five times what building it again once does (4.5 s against 0.9 s per
        million rows). It comes back first in ``rebuild``, which checks that the ids are
        unique; a table other tables refer to keeps its key."""
        found = await self.driver.fetchrow(_PRIMARY_KEY, self.table)
        if found is None:
            return
        drop, build = found
        await self.driver.execute(drop)
        self.build.insert(0, build)

    async def rebuild(self, settings: Settings) -> None:
        """Indexes built in one sorted pass each, keys checked with one join each, and fresh
        statistics, so the map's queries plan well at once."""
        # Each index sorts the whole table: with room for a million rows in memory the sorts
        # do not spill to disk (PostgreSQL's default is 64 MB; a larger setting is kept).
        await self.driver.execute(
            "SELECT set_config('maintenance_work_mem', '256MB', true) "
            "WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('256MB')"
        )
        for statement in self.build:
            await self.driver.execute(statement, timeout=settings.import_timeout_s)
        await self.driver.execute(f'ANALYZE "{self.table}"', timeout=settings.import_timeout_s)


async def _bulk_load(
    session: AsyncSession, staging: Staging, settings: Settings
) -> _BulkLoad | None:
    """Prepare a bulk load when the import is big, both absolutely and against the collection.

    Keeping every index up to date row by row costs far more than building it again once
    (PostgreSQL's advice for populating a database), so a bulk load takes the collection's
    exclusive lock, drops its secondary indexes, unique constraints and foreign keys, and
    builds them again after the merge, all in the import's transaction: if anything fails, or
    the process dies, they are back as they were. The primary key stays while the matched
    records are updated (they are found by it) and is dropped for the insert of the new ones
    (``_BulkLoad.drop_primary_key``). Readers of the collection wait while the lock is held;
    if the lock cannot be had within ``import_bulk_lock_timeout_s``, the import loads the
    ordinary way.
    """
    if not settings.import_bulk_rows or staging.rows < settings.import_bulk_rows:
        return None
    table = staging.collection.table.name
    driver = await driver_of(session)
    held = await driver.fetchval(
        "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = $1::regclass", table
    )
    if staging.rows * 2 < held or await _spread_by_citus(driver, table):
        return None
    try:
        async with driver.transaction():  # a savepoint: a lock timeout leaves the import intact
            timeout_ms = int(settings.import_bulk_lock_timeout_s * 1000)
            await driver.execute(f"SET LOCAL lock_timeout = {timeout_ms}")
            await driver.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
    except asyncpg.LockNotAvailableError:
        log.info("import into %s: the table is busy, loading without a bulk load", table)
        return None
    finally:
        await driver.execute("SET LOCAL lock_timeout TO DEFAULT")
    indexes = await driver.fetch(_INDEXES, table)
    constraints = await driver.fetch(_CONSTRAINTS, table)
    for drop, _ in [*constraints, *indexes]:
        await driver.execute(drop)
    return _BulkLoad(
        driver, table, [build for _, build in indexes] + [build for _, build in constraints]
    )


async def _would(
    session: AsyncSession, staging: Staging, match: Matching, settings: Settings
) -> dict[str, int]:
    counting = select(
        func.count().filter(match.matched.is_(None)),
        func.count().filter(and_(match.matched.is_not(None), match.deleted_at.is_(None))),
        func.count().filter(match.deleted_at.is_not(None)),
    ).select_from(match.joined)
    (row,) = await _fetch(session, counting, settings)
    return {"create": int(row[0]), "update": int(row[1]), "skip": int(row[2])}


# --- preview, run, jobs ----------------------------------------------------------------------


def _staging_for(opened: Input, request: ImportRequest, name: str) -> Staging:
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


def _problems(log: ProblemLog) -> list[dict[str, Any]]:
    return [p.as_dict() for p in log.sorted_items()]


def _counts(log: ProblemLog, rows: int) -> dict[str, int]:
    return {
        "read": rows,
        "errors": log.errors,
        "warnings": log.warnings,
        "rejected": log.rejected_rows,
    }


async def preview(
    session: AsyncSession,
    opened: Input,
    principal: Principal,
    request: ImportRequest,
    settings: Settings,
) -> dict[str, Any]:
    """Everything an import would do and every problem it would meet; writes nothing."""
    check_importer(principal, request)
    log = ProblemLog(settings.import_max_problems)
    staging = _staging_for(opened, request, f"preview_{uuid.uuid4().hex}")
    try:
        await _begin(session, principal, "import:preview", settings)
        await _stage(session, opened, staging, log, settings, None)
        match = await _check(session, opened, staging, principal, log, settings)
        would = await _would(session, staging, match, settings)
    finally:
        await session.rollback()
    return {
        **opened.describe(),
        "collection": request.collection,
        "origin": staging.origin,
        "classification": staging.classification,
        "counts": _counts(log, staging.rows),
        "would": would,
        "problems": _problems(log),
        "problems_total": log.total,
        "sample": opened.sample,
        "ok": log.errors == 0,
    }


async def create_job(
    session: AsyncSession,
    upload: Upload,
    opened: Input,
    principal: Principal,
    request: ImportRequest,
    *,
    queued: bool = False,
) -> ImportJob:
    """Record a new job (committed at once, so it can be followed while it runs; a ``queued``
    one is flushed only, and committed with the worker's job that will run it)."""
    check_importer(principal, request)
    staging = _staging_for(opened, request, "")
    job = ImportJob(
        collection=request.collection,
        status=JobStatus.queued if queued else JobStatus.running,
        file_name=upload.name,
        file_sha256=upload.sha256,
        file_size=upload.size,
        format=opened.format.name,
        layer=opened.layer.info.name,
        crs=opened.source_crs.label,
        options={**request.as_options(), "applied_mapping": opened.mapping.as_dict()},
        classification=staging.classification,
        origin=staging.origin,
        rows_total=opened.layer.info.count,
        created_by=principal.username,
        started_at=None if queued else func.now(),
        heartbeat_at=func.now(),
    )
    session.add(job)
    if queued:
        await session.flush()
    else:
        await session.commit()
    await session.refresh(job)
    return job


async def create_queued_job(
    session: AsyncSession, upload: Upload, principal: Principal, request: ImportRequest
) -> ImportJob:
    """Record an import a worker will open and run (flushed; committed with the worker's job).
    What the file holds (format, layer, CRS, records) is filled in when the worker opens it."""
    check_importer(principal, request)
    job = ImportJob(
        collection=request.collection,
        status=JobStatus.queued,
        file_name=upload.name,
        file_sha256=upload.sha256,
        file_size=upload.size,
        options=request.as_options(),
        classification=str(request.classification or default_classification(request)),
        origin=request.origin or DEFAULT_ORIGIN,
        created_by=principal.username,
        heartbeat_at=func.now(),
    )
    session.add(job)
    await session.flush()
    await session.refresh(job)
    return job


def opened_values(opened: Input, request: ImportRequest) -> dict[str, Any]:
    """What an import's record says of its file once the file is open."""
    staging = _staging_for(opened, request, "")
    return {
        "format": opened.format.name,
        "layer": opened.layer.info.name,
        "crs": opened.source_crs.label,
        "options": {**request.as_options(), "applied_mapping": opened.mapping.as_dict()},
        "classification": staging.classification,
        "origin": staging.origin,
        "rows_total": opened.layer.info.count,
    }


async def run(
    session: AsyncSession,
    job: ImportJob,
    opened: Input,
    principal: Principal,
    request: ImportRequest,
    settings: Settings,
    progress: Progress | None = None,
) -> ImportJob:
    """Import the file of ``job`` in one transaction; the job records the outcome."""
    log = ProblemLog(settings.import_max_problems)
    # Read now: a rollback expires the ORM object.
    job_id, number = job.id, job.number
    staging = _staging_for(opened, request, f"import_{job_id.hex}")
    timings: dict[str, float] = {}
    try:
        await _begin(session, principal, f"import:{job_id}", settings)
        await session.execute(
            select(
                func.pg_advisory_xact_lock(literal(IMPORT_LOCK, Integer), literal(number, Integer))
            )
        )
        clock = time.monotonic()
        await _stage(session, opened, staging, log, settings, progress)
        timings["read_and_stage"] = time.monotonic() - clock
        clock = time.monotonic()
        # No write through the API takes a key of the collection until this import ends.
        await keys.lock_all(session, staging.collection.table)
        match = await _check(session, opened, staging, principal, log, settings)
        timings["check"] = time.monotonic() - clock
        if log.errors:
            await session.rollback()
            message = f"{log.errors} problem(s) in the file; nothing was imported"
            return await _finish(
                session, job_id, JobStatus.failed, log, staging.rows, message=message
            )
        clock = time.monotonic()
        created, updated = await _merge(session, staging, match, settings, timings)
        timings["merge"] = time.monotonic() - clock
        await session.execute(text(f'DROP TABLE IF EXISTS "{staging.name}"'))
        return await _finish(
            session,
            job_id,
            JobStatus.succeeded,
            log,
            staging.rows,
            created=created,
            updated=updated,
            skipped=match.skipped,
            timings=timings,
        )
    except CivopError as error:
        await session.rollback()
        log.add(Problem(None, None, error.message))
        await _finish(session, job_id, JobStatus.failed, log, staging.rows, message=error.message)
        raise
    except asyncpg.PostgresError as error:
        if isinstance(error, asyncpg.PostgresConnectionError):
            raise
        # Checks should have caught it; say what the database refused rather than fail blind.
        await session.rollback()
        message = f"the database refused the records: {str(error).splitlines()[0]}"
        log.add(Problem(None, None, message))
        return await _finish(session, job_id, JobStatus.failed, log, staging.rows, message=message)
    except BaseException:
        await session.rollback()
        raise


async def _finish(
    session: AsyncSession,
    job_id: uuid.UUID,
    status: JobStatus,
    log: ProblemLog,
    rows: int,
    *,
    created: int = 0,
    updated: int = 0,
    skipped: int = 0,
    message: str | None = None,
    timings: dict[str, float] | None = None,
) -> ImportJob:
    """Record the outcome on the job and commit (with the records, when they were merged)."""
    seconds = {name: round(value, 2) for name, value in (timings or {}).items()}
    values = {
        "options": ImportJob.options.op("||")(
            cast(literal(json.dumps({"seconds": seconds})), postgresql.JSONB)
        ),
        "status": status,
        "rows_read": rows,
        "created": created,
        "updated": updated,
        "unchanged": max(rows - created - updated - skipped, 0) if status == "succeeded" else 0,
        "rejected": log.rejected_rows,
        "problems": _problems(log),
        "problems_total": log.total,
        "message": message,
        "finished_at": func.now(),
        "heartbeat_at": func.now(),
    }
    await session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))
    await session.commit()
    found = await session.get(ImportJob, job_id, populate_existing=True)
    assert found is not None
    return found


class ProgressWriter:
    """Records how far a running job has read, at most once a second, in its own short
    transactions (the import's own transaction is invisible until it commits)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        job_id: uuid.UUID,
        every_s: float = 1.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.job_id = job_id
        self.every_s = every_s
        self.last = 0.0

    async def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every_s:
            return
        self.last = now
        async with self.sessionmaker() as session:
            await session.execute(
                update(ImportJob)
                .where(ImportJob.id == self.job_id, ImportJob.status == JobStatus.running)
                .values(rows_read=rows, heartbeat_at=func.now())
            )
            await session.commit()


# --- reading jobs ----------------------------------------------------------------------------


def _visible_jobs(principal: Principal) -> ColumnElement[bool]:
    if principal.role is Role.admin:
        return literal(True)
    if not principal.can_write:
        return false()
    return ImportJob.created_by == principal.username


async def reap_interrupted(session: AsyncSession) -> None:
    """Mark jobs whose process died as failed: no lock held, no heartbeat for a while."""
    lock_free = text(
        "NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.classid = :namespace AND l.objid::bigint = import_jobs.number AND l.objsubid = 2)"
    ).bindparams(namespace=IMPORT_LOCK)
    # clock_timestamp, not now(): now() is when the (maybe long) transaction began.
    stale = ImportJob.heartbeat_at < func.clock_timestamp() - func.make_interval(
        0, 0, 0, 0, 0, 0, STALE_AFTER_S
    )
    # A job a worker has still to run (or is starting) is followed by its worker's job.
    waiting = text(
        "NOT EXISTS (SELECT 1 FROM jobs w WHERE w.params->>'import_job_id' = import_jobs.id::text "
        "AND w.state IN ('queued', 'running'))"
    )
    await session.execute(
        update(ImportJob)
        .where(
            ImportJob.status.in_([JobStatus.queued, JobStatus.running]), stale, lock_free, waiting
        )
        .values(
            status=JobStatus.failed,
            message="interrupted: the import stopped before it finished (its process ended); "
            "nothing was imported; run it again",
            finished_at=func.now(),
        )
        .execution_options(synchronize_session=False)
    )
    await session.commit()


async def get_job(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> ImportJob:
    """One job, for the user who ran it or an admin."""
    await reap_interrupted(session)
    job = await session.scalar(
        select(ImportJob)
        .where(ImportJob.id == job_id, _visible_jobs(principal))
        .execution_options(populate_existing=True)
    )
    if job is None:
        raise NotFound("no such import")
    return job


async def list_jobs(
    session: AsyncSession, principal: Principal, limit: int = 50
) -> list[ImportJob]:
    """Recent jobs, newest first (an admin sees everyone's)."""
    await reap_interrupted(session)
    rows = await session.scalars(
        select(ImportJob)
        .where(_visible_jobs(principal))
        .order_by(ImportJob.created_at.desc(), ImportJob.number.desc())
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return list(rows)


# --- rollback --------------------------------------------------------------------------------


async def rollback(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, settings: Settings
) -> ImportJob:
    """Undo a finished import: records it created go, records it changed get their previous
    values back. Records someone changed after the import are left as they are (counted)."""
    _check_clearance(principal, None)
    job = await get_job(session, principal, job_id)
    if job.status != JobStatus.succeeded:
        raise Conflict(f"only a finished import can be rolled back; this one is {job.status}")
    collection = collection_of(job.collection)
    target = collection.table
    context = f"import:{job.id}"
    await _begin(session, principal, f"rollback:{job.id}", settings)
    locked = await session.scalar(
        select(ImportJob.status).where(ImportJob.id == job.id).with_for_update()
    )
    if locked != JobStatus.succeeded:
        raise Conflict("this import is being or has been rolled back")
    mine = (
        text(
            "SELECT a.record_id, a.action, a.id FROM audit_log a "
            "WHERE a.context = :context AND a.collection = :collection"
        )
        .bindparams(context=context, collection=target.name)
        .columns(column("record_id"), column("action"), column("id"))
    )
    entries = mine.subquery("mine")
    audit = table("audit_log", column("id"), column("record_id"), column("context"))
    later = exists(
        select(literal(1))
        .select_from(audit)
        .where(
            audit.c.record_id == entries.c.record_id,
            audit.c.id > entries.c.id,
            audit.c.context.is_distinct_from(context),
        )
    )
    rows = await _fetch(
        session, select(entries.c.record_id, entries.c.action, later.label("later")), settings
    )
    created = [r["record_id"] for r in rows if r["action"] == "create" and not r["later"]]
    updated = [r["record_id"] for r in rows if r["action"] == "update" and not r["later"]]
    kept = sum(1 for r in rows if r["later"])
    # Restored first: when the service records the writes, the restore locks the table before
    # the removal holds any row (service.audit.trail).
    await _restore(session, target, context, updated, settings)
    removed = await _remove(session, target, created, principal, settings)
    message = f"rolled back: {removed} record(s) removed, {len(updated)} restored"
    if kept:
        message += f"; {kept} record(s) changed since the import were left as they are"
    await session.execute(
        update(ImportJob)
        .where(ImportJob.id == job.id)
        .values(
            status=JobStatus.rolled_back,
            rolled_back_at=func.now(),
            rolled_back_by=principal.username,
            message=message,
        )
    )
    await session.commit()
    return await get_job(session, principal, job.id)


async def _remove(
    session: AsyncSession,
    target: Table,
    ids: list[uuid.UUID],
    principal: Principal,
    settings: Settings,
) -> int:
    if not ids:
        return 0
    run = _runner(session, settings)
    listed = target.c.id == any_(bindparam("ids", ids, type_=postgresql.ARRAY(postgresql.UUID)))
    try:
        async with (
            await driver_of(session)
        ).transaction():  # a savepoint: a referenced record cannot go
            await trail.write(run, target, delete(target).where(listed), kind="purge")
    except asyncpg.ForeignKeyViolationError:
        # Another record points at one of them: take them out of every output instead.
        hide = (
            update(target)
            .where(listed, target.c.deleted_at.is_(None))
            .values(deleted_at=func.now(), deleted_by=principal.username)
        )
        await trail.write(run, target, hide, kind="update", targets=ids)
    return len(ids)


async def _restore(
    session: AsyncSession, target: Table, context: str, ids: list[uuid.UUID], settings: Settings
) -> None:
    """The records ``ids`` get back the values they had before the import ``context``."""
    if not ids:
        return
    skip = {"id", "created_at", "created_by", "updated_at", "updated_by"}
    names = [c.name for c in target.c if c.name not in skip]
    audit = table(
        "audit_log",
        column("context"),
        column("collection"),
        column("action"),
        column("record_id"),
        column("before"),
    )
    # The row type of the table, read from the audit row's JSON (the name is the registry's).
    row_type: ColumnElement[Any] = literal_column(f'NULL::"{target.name}"')
    previous = func.jsonb_populate_record(row_type, audit.c.before).table_valued(*names).alias("r")
    restored: dict[str, Any] = {name: previous.c[name] for name in names}
    if "category" in restored:  # never back below a floor set since
        restored["classification"] = floored(
            target.name, previous.c.category, previous.c.classification, settings
        )
    restore = (
        update(target)
        .values(restored)
        .where(
            audit.c.context == context,
            audit.c.collection == target.name,
            audit.c.action == "update",
            target.c.id == audit.c.record_id,
            audit.c.record_id
            == any_(bindparam("ids", ids, type_=postgresql.ARRAY(postgresql.UUID))),
        )
    )
    await trail.write(_runner(session, settings), target, restore, kind="update", targets=ids)
