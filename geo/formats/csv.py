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
    #: How the encoding was found: ``given``, ``byte order mark``, ``valid UTF-8``, ``guessed``.
    encoding_from: str = "given"


#: Byte order marks, longest first (a UTF-32 LE mark begins like a UTF-16 LE one).
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


#: The encodings a guess chooses among: what office and GIS programs write for the languages
#: of mission areas (Western and Central European, Cyrillic, Greek, Turkish, Arabic), and
#: UTF-16/32 without a byte order mark.
GUESSES = (
    "cp1252",
    "cp1250",
    "cp1251",
    "cp1253",
    "cp1254",
    "cp1256",
    "latin_1",
    "iso8859_15",
    "iso8859_6",
    "koi8_r",
    "cp850",
    "cp437",
    "mac_roman",
    "utf_16_le",
    "utf_16_be",
    "utf_32_le",
    "utf_32_be",
)


def detect_encoding(head: bytes) -> tuple[str, str]:
    """The encoding of a text file from its first bytes, and how it was found.

    A byte order mark settles it; text that is valid UTF-8 is UTF-8; otherwise
    charset-normalizer guesses (Windows-1252, Latin-1, UTF-16 without a mark ...).

    Examples
    --------
    >>> detect_encoding("nom,lat".encode("utf-16"))
    ('utf-16', 'byte order mark')
    >>> detect_encoding("Bangui,4.36".encode("utf-8"))
    ('utf-8', 'valid UTF-8')
    """
    for mark, name in BOMS:
        if head.startswith(mark):
            return name, "byte order mark"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8", "valid UTF-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(head, cp_isolation=list(GUESSES)).best()
    if best is None:
        return "", "not text"
    guessed = codecs.lookup(best.encoding).name
    # Single-byte encodings that read the file alike: say the one spreadsheets write.
    try:
        if guessed != "cp1252" and head.decode("cp1252") == str(best):
            return "cp1252", "guessed"
    except UnicodeDecodeError:
        pass
    return guessed, "guessed"


def _decode_head(path: Path, encoding: str | None) -> tuple[str, str, str]:
    """The first part of the file as text, its encoding and how the encoding was found."""
    with path.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
    found = "given"
    if encoding is None:
        encoding, found = detect_encoding(head)
        if not encoding:
            raise FileRefused(
                f"{path.name} is not a text file (no text encoding fits its bytes); send a CSV "
                "saved as text, or a spreadsheet as .xlsx",
                reason="unsupported",
            )
    elif codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # a mark at the start is no part of the first column's name
    if len(head) == HEAD_BYTES and encoding in ("utf-16", "utf-32"):
        head = head[: len(head) - len(head) % 4]  # whole characters only
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        text = str(decoder.decode(head, final=len(head) < HEAD_BYTES))
    except UnicodeDecodeError as error:
        raise FileRefused(
            f"{path.name} is not {encoding} text (byte 0x{head[error.start]:02x} at position "
            f"{error.start}); leave the encoding empty to have it detected, or give the one "
            "it was saved in, e.g. encoding=cp1252",
            field="encoding",
        ) from error
    if "\x00" in text:
        wide = any(head.startswith(mark) for mark, _ in BOMS if mark != codecs.BOM_UTF8)
        if found == "given" and (wide or b"\x00" in head[:64]):
            raise FileRefused(
                f"{path.name} is not {encoding} text: it holds zero bytes, as UTF-16 or UTF-32 "
                "text does; leave the encoding empty to have it detected",
                field="encoding",
            )
        raise FileRefused(
            f"{path.name} is not a text file (it holds zero bytes); send a CSV saved as text, "
            "or a spreadsheet as .xlsx",
            reason="unsupported",
        )
    return text, encoding, found


def read_header(path: Path, encoding: str | None) -> Header:
    """Column names, HXL hashtags and delimiter from the first lines of a CSV."""
    text, encoding, found = _decode_head(path, encoding)
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
    names = unique_names([n.strip() or f"field_{i + 1}" for i, n in enumerate(names)])
    if hxl is not None:
        hxl = [(hxl[i].strip() if i < len(hxl) else "") for i in range(len(names))]
    name = codecs.lookup(encoding).name
    return Header(
        tuple(names),
        None if hxl is None else tuple(hxl),
        delimiter,
        skip,
        # Arrow reads UTF-8 itself (a mark at the start included); others are transcoded.
        "utf-8" if name == "utf-8-sig" else name,
        found,
    )


def unique_names(names: list[str]) -> list[str]:
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
        for mark, name in BOMS:
            if head.startswith(mark):
                head = head.decode(name, errors="ignore").encode()
                break
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
        return [
            LayerInfo(
                path.stem,
                None,
                None,
                fields,
                None,
                encoding=header.encoding,
                encoding_from=header.encoding_from,
            )
        ]

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
                    assumed = (
                        "" if header.encoding_from == "given" else f" ({header.encoding_from})"
                    )
                    raise FileRefused(
                        f"{path.name} is not {header.encoding} text further on, as was assumed"
                        f"{assumed} from its start; give the encoding it was saved in, e.g. "
                        "encoding=cp1252",
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
