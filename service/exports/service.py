"""Exports: a collection, filtered as its list is, as a file that GIS tools and partners open.

Rows are selected only through the principal's view (``service.access.sql.view``) and the list
filters (``apply_filters``), so an export holds exactly what its reader may see, generalised
where the policy says. Rows stream from a server-side cursor into the file a batch at a time.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    case,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession

from geo.formats.base import GEOMETRY
from geo.formats.registry import get_format
from service import labels
from service.access.policy import Principal
from service.access.sql import view
from service.collections.registry import Collection
from service.config import get_settings
from service.core.params import ListQuery
from service.core.records import apply_filters, feature_json
from service.errors import InvalidInput
from service.i18n import LANGUAGE, SOURCE_LANGUAGE, _

BATCH_ROWS = 10_000
Progress = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class ExportFormat:
    plugin: str
    extension: str
    media_type: str


FORMATS: dict[str, ExportFormat] = {
    "geojson": ExportFormat("geojson", ".geojson", "application/geo+json"),
    "gpkg": ExportFormat("gpkg", ".gpkg", "application/geopackage+sqlite3"),
    "shapefile": ExportFormat("shapefile", ".zip", "application/zip"),
    "kml": ExportFormat("kml", ".kml", "application/vnd.google-earth.kml+xml"),
    "csv": ExportFormat("csv", ".csv", "text/csv; charset=utf-8"),
}
ALIASES = {"shp": "shapefile", "hxl": "csv", "json": "geojson", "geopackage": "gpkg"}


@dataclass
class ExportFile:
    """A finished export on disk; ``discard`` removes it once sent."""

    path: Path
    filename: str
    media_type: str
    workdir: Path

    def discard(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def export_format(name: str) -> tuple[str, ExportFormat]:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in FORMATS:
        allowed = ", ".join(FORMATS)
        raise InvalidInput(
            ["query", "format"],
            _("unknown export format {name!r}; use one of: {allowed}", name=name, allowed=allowed),
        )
    return key, FORMATS[key]


def _arrow_type(column: Any) -> pa.DataType:
    kind = column.type
    if isinstance(kind, Boolean) or column.name == "generalised":
        return pa.bool_()
    if isinstance(kind, BigInteger):
        return pa.int64()
    if isinstance(kind, SmallInteger | Integer):
        return pa.int32()  # as the column holds them: formats type them as 32-bit integers
    if isinstance(kind, Numeric):
        return pa.float64()
    if isinstance(kind, DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(kind, Date):
        return pa.date32()
    return pa.string()


def _rows(collection: Collection, principal: Principal, query: ListQuery) -> Any:
    v = view(collection.table, principal)
    table = v.table
    order = table.c[collection.order]
    statement = (
        v.select()
        .where(*apply_filters(v, collection, query))
        .order_by(order.desc(), table.c.id.desc())
    )
    return statement.subquery("r")


async def export(
    session: AsyncSession,
    collection: Collection,
    principal: Principal,
    query: ListQuery,
    name: str,
    directory: str | None = None,
    progress: Progress | None = None,
) -> ExportFile:
    """Write the records ``principal`` sees (with the list filters) in format ``name``;
    ``progress`` is told how many records are written, a batch at a time (jobs report it).
    The file is written under ``directory``, by default the import directory
    (``CIVOP_IMPORT_DIR``), wherever the export was asked for."""
    key, fmt = export_format(name)
    directory = directory or get_settings().import_dir
    workdir = Path(tempfile.mkdtemp(prefix="civop-export-", dir=directory))
    try:
        rows = _rows(collection, principal, query)
        if key == "geojson":
            path = await _geojson(
                session, rows, workdir / f"{collection.name}{fmt.extension}", progress
            )
        else:
            path = await _through_writer(session, collection, rows, fmt, workdir, progress)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return ExportFile(path, f"{collection.name}{fmt.extension}", fmt.media_type, workdir)


async def _geojson(
    session: AsyncSession, rows: Any, path: Path, progress: Progress | None = None
) -> Path:
    """GeoJSON assembled by PostgreSQL, feature by feature, as the API serves it."""
    result = await session.stream(
        select(feature_json(rows)).execution_options(yield_per=BATCH_ROWS)
    )
    with path.open("w", encoding="utf-8") as sink:
        sink.write('{"type":"FeatureCollection","features":[')
        first = True
        written = 0
        async for partition in result.partitions():
            chunk = ",".join(row[0] for row in partition)
            if chunk:
                sink.write(chunk if first else "," + chunk)
                first = False
            if progress is not None:
                written += len(partition)
                await progress(written)
        sink.write("]}")
    return path


def _labelled(collection: Collection, rows: Any) -> list[Any]:
    """For an export in a language besides English (``lang=``): beside each enumerated column,
    ``<column>_label`` with the value's label in that language (the codes stay as they are)."""
    if LANGUAGE.get() == SOURCE_LANGUAGE:
        return []
    extra = []
    for field, vocabulary in labels.vocabularies(collection.properties).items():
        if field not in rows.c:
            continue
        named = labels.labels(vocabulary)
        extra.append(
            case(
                *((rows.c[field] == code, literal(text)) for code, text in named.items()),
                else_=rows.c[field].cast(Text()),
            ).label(f"{field}_label")
        )
    return extra


async def _through_writer(
    session: AsyncSession,
    collection: Collection,
    rows: Any,
    fmt: ExportFormat,
    workdir: Path,
    progress: Progress | None = None,
) -> Path:
    plain = [c for c in rows.c if c.name != "geom"]
    plain.sort(key=lambda c: c.name != "id")  # the record id first, then the table's order
    plain += _labelled(collection, rows)
    selected = []
    for column in plain:
        if isinstance(column.type, Geometry):
            selected.append(func.ST_AsText(column).label(column.name))
        elif isinstance(column.type, UUID):
            selected.append(column.cast(Text()).label(column.name))
        elif isinstance(column.type, Numeric):
            selected.append(column.cast(Float()).label(column.name))
        else:
            selected.append(column)
    selected.append(func.ST_AsBinary(rows.c.geom).label(GEOMETRY))
    schema = pa.schema([(c.name, _arrow_type(c)) for c in plain] + [(GEOMETRY, pa.binary())])
    writer = get_format(fmt.plugin).writer(
        workdir,
        layer=collection.name,
        collection=collection.name,
        geometry_types=collection.geometry_types,
    )
    result = await session.stream(select(*selected).execution_options(yield_per=BATCH_ROWS))
    wrote = False
    written = 0
    async for partition in result.partitions():
        columns = list(zip(*partition, strict=True)) if partition else []
        arrays = [
            pa.array([bytes(v) if v is not None else None for v in values], pa.binary())
            if name == GEOMETRY
            else pa.array(values, kind)
            for (name, kind), values in zip(
                ((f.name, f.type) for f in schema), columns, strict=True
            )
        ]
        await asyncio.to_thread(writer.write, pa.RecordBatch.from_arrays(arrays, schema=schema))
        wrote = True
        if progress is not None:
            written += len(partition)
            await progress(written)
    if not wrote:
        empty = pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)
        await asyncio.to_thread(writer.write, empty)
    return await asyncio.to_thread(writer.close)


async def count_at_most(
    session: AsyncSession, collection: Collection, principal: Principal, query: ListQuery, most: int
) -> int:
    """How many records an export would hold, counted up to ``most + 1`` only (cheap on a
    large collection): enough to tell a small export from one that becomes a job."""
    rows = select(literal(1)).select_from(_rows(collection, principal, query)).limit(most + 1)
    return int(await session.scalar(select(func.count()).select_from(rows.subquery())) or 0)
