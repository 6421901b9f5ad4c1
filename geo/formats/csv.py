"""CSV with the location in longitude/latitude columns or a WKT column, and optionally an HXL
hashtag row under (or instead of) the header.

Reading streams blocks with ``pyarrow.csv`` (every column as text; the field mapping converts
values). Writing adds the HXL row, so partners' HXL tools recognise the columns.
"""

from __future__ import annotations

import codecs
import csv as pycsv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely

from geo.formats import tags
from geo.formats.base import (
    GEOMETRY,
    FileRefused,
    Format,
    LayerInfo,
    Limits,
    OpenLayer,
    SourceField,
    Writer,
)

HEAD_BYTES = 256 * 1024
BLOCK_BYTES = 4 * 1024 * 1024
DELIMITERS = ",;\t|"


@dataclass(frozen=True)
class Header:
    names: tuple[str, ...]
    hxl: tuple[str, ...] | None
    delimiter: str
    #: Lines before the first record (header, HXL row).
    skip: int
    encoding: str


def _decode_head(path: Path, encoding: str | None) -> str:
    with path.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
    decoder = codecs.getincrementaldecoder(encoding or "utf-8-sig")()
    try:
        return str(decoder.decode(head, final=len(head) < HEAD_BYTES))
    except UnicodeDecodeError as error:
        raise FileRefused(
            f"{path.name} is not {encoding or 'UTF-8'} text (byte 0x{head[error.start]:02x} at "
            f"position {error.start}); save it as UTF-8, or give its encoding, e.g. "
            "encoding=latin-1",
            field="encoding",
        ) from error


def read_header(path: Path, encoding: str | None) -> Header:
    """Column names, HXL hashtags and delimiter from the first lines of a CSV."""
    text = _decode_head(path, encoding)
    if "\x00" in text:
        raise FileRefused(f"{path.name} is not a text file", reason="unsupported")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise FileRefused(f"{path.name} is empty or has no header line")
    sample = "\n".join(lines[:20])
    try:
        delimiter = pycsv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except pycsv.Error:
        delimiter = ","
    rows = list(pycsv.reader(io.StringIO("\n".join(lines[:3])), delimiter=delimiter))
    first = rows[0]
    second = rows[1] if len(rows) > 1 else []
    hxl: list[str] | None = None
    skip = 1
    if tags.is_hashtag_row(first):
        names, hxl = list(first), list(first)
    elif tags.is_hashtag_row(second):
        names, hxl, skip = list(first), list(second), 2
    else:
        names = list(first)
    names = _unique([n.strip() or f"field_{i + 1}" for i, n in enumerate(names)])
    if hxl is not None:
        hxl = [(hxl[i].strip() if i < len(hxl) else "") for i in range(len(names))]
    return Header(
        tuple(names),
        None if hxl is None else tuple(hxl),
        delimiter,
        skip,
        codecs.lookup(encoding or "utf-8").name,
    )


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        out.append(name)
    return out


class CSV(Format):
    name = "csv"
    title = "CSV with an HXL row"
    extensions = (".csv", ".tsv", ".txt")
    media_type = "text/csv"
    default_crs = "EPSG:4326"
    can_write = True

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        if path.suffix.lower() in cls.extensions:
            return 50
        if b"\x00" in head or not head.strip():
            return 0
        first = head.split(b"\n", 1)[0]
        return 5 if any(d.encode() in first for d in DELIMITERS) else 0

    @staticmethod
    def header_names(path: Path) -> set[str]:
        """Normalised names of a CSV's columns (for the formats that specialise CSV)."""
        from geo.formats.mapping import normalise

        try:
            header = read_header(path, None)
        except FileRefused:
            return set()
        return {normalise(n) for n in header.names}

    def layers(self, path: Path, *, encoding: str | None = None) -> list[LayerInfo]:
        header = read_header(path, encoding)
        hxl = header.hxl or (None,) * len(header.names)
        fields = tuple(
            SourceField(name, tag or None) for name, tag in zip(header.names, hxl, strict=True)
        )
        return [LayerInfo(path.stem, None, None, fields, None)]

    def open(
        self, path: Path, layer: str | None, *, encoding: str | None, limits: Limits
    ) -> OpenLayer:
        header = read_header(path, encoding)
        (info,) = self.layers(path, encoding=encoding)

        def batches() -> Iterator[pa.RecordBatch]:
            read = pacsv.ReadOptions(
                column_names=list(header.names),
                skip_rows=header.skip,
                block_size=BLOCK_BYTES,
                encoding=header.encoding,
            )
            parse = pacsv.ParseOptions(delimiter=header.delimiter, newlines_in_values=True)
            convert = pacsv.ConvertOptions(
                column_types=dict.fromkeys(header.names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            )
            try:
                with pacsv.open_csv(
                    path, read_options=read, parse_options=parse, convert_options=convert
                ) as reader:
                    yield from map(_restored, reader)
            except (pa.ArrowInvalid, UnicodeDecodeError) as error:
                message = str(error).splitlines()[0]
                if "UTF8" in message or "utf-8" in message.lower() or "decode" in message:
                    raise FileRefused(
                        f"{path.name} is not {header.encoding} text ({message}); give its "
                        "encoding, e.g. encoding=latin-1",
                        field="encoding",
                    ) from error
                raise FileRefused(f"{path.name} is not a well-formed CSV: {message}") from error

        return OpenLayer(info=info, has_geometry=False, reader=batches)

    def writer(
        self, directory: Path, *, layer: str, collection: str, geometry_types: tuple[str, ...]
    ) -> Writer:
        return CsvWriter(directory / f"{layer}.csv", collection)


class CsvWriter(Writer):
    """CSV with a header, an HXL row, longitude/latitude for points and WKT for every shape."""

    def __init__(self, path: Path, collection: str) -> None:
        self.path = path
        self.collection = collection
        self.stream = path.open("w", encoding="utf-8", newline="")
        self.out = pycsv.writer(self.stream)
        self.started = False

    def write(self, batch: pa.RecordBatch) -> None:
        names = [n for n in batch.schema.names if n != GEOMETRY]
        if not self.started:
            header = [*names, "longitude", "latitude", "wkt"]
            self.out.writerow(header)
            self.out.writerow([tags.tag_for(self.collection, n) for n in header])
            self.started = True
        shapes = shapely.from_wkb(batch.column(GEOMETRY).to_numpy(zero_copy_only=False))
        points = shapely.get_type_id(shapes) == 0
        xs = np.where(points, shapely.get_x(np.where(points, shapes, None)), np.nan)
        ys = np.where(points, shapely.get_y(np.where(points, shapes, None)), np.nan)
        wkts = shapely.to_wkt(shapes, rounding_precision=-1, trim=True)
        columns = [batch.column(n).to_pylist() for n in names]
        for i in range(batch.num_rows):
            row: list[Any] = [_cell(column[i]) for column in columns]
            row.append("" if np.isnan(xs[i]) else repr(float(xs[i])))
            row.append("" if np.isnan(ys[i]) else repr(float(ys[i])))
            row.append(wkts[i] or "")
            self.out.writerow(row)

    def close(self) -> Path:
        if not self.started:
            self.out.writerow(["wkt"])
            self.out.writerow(["#geo+wkt"])
        self.stream.close()
        return self.path


def _restored(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Cells as they were before an export neutralised them (``neutralised``), so that a file
    exported, edited and imported back changes nothing it did not change."""
    columns = []
    for values in batch.columns:
        if pc.any(pc.starts_with(values, "'")).as_py():
            values = pc.replace_substring_regex(values, r"^'([=+\-@\t\r])", r"\1")
        columns.append(values)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        text: str = value.isoformat()
        return text.replace("+00:00", "Z")
    if isinstance(value, str):
        return neutralised(value)
    return value


#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def neutralised(text: str) -> str:
    """A text cell as a spreadsheet shows it, never runs it.

    Parameters
    ----------
    text : str
        The cell's text.

    Returns
    -------
    str
        ``text`` with a single quote in front when a spreadsheet would take it for a formula
        (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return); a plain number
        such as ``-3.5`` is left as it is.

    Examples
    --------
    >>> print(neutralised('=HYPERLINK("http://evil.example/","Click")'))
    '=HYPERLINK("http://evil.example/","Click")
    >>> neutralised("-3.5")
    '-3.5'
    """
    if text.startswith(FORMULA_START) and _NUMBER.fullmatch(text) is None:
        return "'" + text
    return text
