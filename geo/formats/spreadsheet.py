"""Spreadsheets: Excel (.xlsx, .xlsm, .xlsb, .xls) and OpenDocument (.ods), read with
python-calamine (a Rust reader: no formulas run, no macros, no external links followed).

Each worksheet is a layer, chosen like the layer of a GeoPackage (``layer=<sheet name>``). The
first non-empty row names the columns; an HXL hashtag row may follow it (as in the lists IOM
DTM and HDX publish). The location comes from longitude/latitude or WKT columns, as in a CSV.
Cells are read as text (numbers without a trailing ``.0``, dates in ISO 8601), so the field
mapping converts them exactly as it converts a CSV's.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from geo.formats import archive, tags
from geo.formats.base import FileRefused, Format, LayerInfo, Limits, OpenLayer, SourceField
from geo.formats.csv import unique_names

EXTENSIONS = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
#: The first bytes of an Excel 97-2003 (.xls) file, an OLE2 compound document.
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"


def is_spreadsheet(path: Path) -> bool:
    """True for an Excel or OpenDocument workbook, also when it is named otherwise: an .xlsx or
    .ods is a zip, and must not be unpacked as an archive of other files."""
    if path.suffix.lower() in EXTENSIONS:
        return True
    with path.open("rb") as stream:
        head = stream.read(128)
    if head.startswith(OLE2_MAGIC):
        return False  # also Word and other Office 97 files: only by their name
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as bundle:
            names = set(bundle.namelist())
            if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
                return True
            return "mimetype" in names and bundle.read("mimetype").strip() == _ODS_MIMETYPE
    except (zipfile.BadZipFile, OSError, KeyError):
        return False


@dataclass(frozen=True)
class Sheet:
    """A worksheet's header: column names, HXL hashtags, and where the records start."""

    name: str
    names: tuple[str, ...]
    hxl: tuple[str, ...] | None
    #: Index of the first record row.
    first: int
    count: int


def cell_text(value: Any) -> str | None:
    """A cell as text, as a CSV of the sheet would hold it.

    Examples
    --------
    >>> import datetime as dt
    >>> cell_text(12.0), cell_text(3.25), cell_text(dt.datetime(2024, 5, 1, 8, 30)), cell_text("")
    ('12', '3.25', '2024-05-01T08:30:00', None)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def _open_workbook(path: Path) -> Any:
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as error:  # calamine raises its own errors and plain ones alike
        raise _refused(path, error) from error


def check_zip(path: Path, limits: Limits) -> None:
    """An .xlsx or .ods is a zip: checked like any zip before the reader inflates it in memory."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as bundle:
            archive.check_members(bundle, limits)
    except zipfile.BadZipFile as error:
        raise FileRefused(
            f"{path.name} is a damaged spreadsheet; save it again and re-send it"
        ) from error


def _refused(path: Path, error: Exception) -> FileRefused:
    kind = type(error).__name__
    if "Password" in kind:
        return FileRefused(
            f"{path.name} is protected by a password; save it without one and re-send it"
        )
    return FileRefused(
        f"{path.name} cannot be read as a spreadsheet (it is damaged or not an Excel or "
        "OpenDocument workbook); open it in a spreadsheet program, save it as .xlsx and re-send it"
    )


def _rows(workbook: Any, name: str) -> list[list[Any]]:
    try:
        return list(workbook.get_sheet_by_name(name).to_python(skip_empty_area=True))
    except Exception as error:
        raise FileRefused(f"the sheet {name!r} cannot be read ({type(error).__name__})") from error


def _header(name: str, rows: Sequence[Sequence[Any]]) -> Sheet | None:
    """The sheet's header, or ``None`` for a sheet without any text."""
    start = next((i for i, row in enumerate(rows) if _filled(row)), None)
    if start is None:
        return None
    texts = [[cell_text(v) or "" for v in row] for row in rows[start : start + 2]]
    first = texts[0]
    hxl: list[str] | None = None
    skip = 1
    second = texts[1] if len(texts) > 1 else []
    if tags.is_hashtag_row(first):
        hxl = list(first)
    elif tags.is_hashtag_row(second):
        hxl, skip = list(second), 2
    width = max(len(first), len(hxl or []))
    names = unique_names(
        [(first[i].strip() if i < len(first) else "") or f"field_{i + 1}" for i in range(width)]
    )
    if hxl is not None:
        hxl = [(hxl[i].strip() if i < len(hxl) else "") for i in range(width)]
    count = sum(1 for row in rows[start + skip :] if _filled(row))
    return Sheet(name, tuple(names), None if hxl is None else tuple(hxl), start + skip, count)


def _filled(row: Sequence[Any]) -> bool:
    return any(cell_text(v) for v in row)


_last: dict[tuple[str, int, int], list[tuple[Sheet, list[list[Any]]]]] = {}


def read_sheets(path: Path) -> list[tuple[Sheet, list[list[Any]]]]:
    """The worksheets that hold anything, with their rows, in the workbook's order (the last
    workbook read is kept, as detection, layers and reading ask for it in turn)."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key in _last:
        return _last[key]
    from python_calamine import SheetTypeEnum

    workbook = _open_workbook(path)
    try:
        out = []
        for meta in workbook.sheets_metadata:
            if meta.typ != SheetTypeEnum.WorkSheet:  # chart sheets, macro sheets
                continue
            rows = _rows(workbook, meta.name)
            sheet = _header(meta.name, rows)
            if sheet is not None:
                out.append((sheet, rows))
    finally:
        workbook.close()
    _last.clear()
    _last[key] = out
    return out


class Spreadsheet(Format):
    name = "xlsx"
    title = "Spreadsheet (Excel .xlsx/.xls, OpenDocument .ods)"
    extensions = EXTENSIONS
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    default_crs = "EPSG:4326"

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        if path.suffix.lower() in EXTENSIONS:
            return 90
        return 80 if is_spreadsheet(path) else 0

    @staticmethod
    def header_names(path: Path) -> set[str]:
        """Normalised column names of the workbook's sheets (for formats that specialise it)."""
        from geo.formats.mapping import normalise

        try:
            sheets = read_sheets(path)
        except FileRefused:
            return set()
        return {normalise(n) for sheet, _ in sheets for n in sheet.names}

    def layers(self, path: Path, *, encoding: str | None = None) -> list[LayerInfo]:
        return [self._info(sheet) for sheet, _ in read_sheets(path)]

    @staticmethod
    def _info(sheet: Sheet) -> LayerInfo:
        hxl = sheet.hxl or (None,) * len(sheet.names)
        fields = tuple(
            SourceField(name, tag or None) for name, tag in zip(sheet.names, hxl, strict=True)
        )
        return LayerInfo(sheet.name, None, sheet.count, fields, None)

    def open(
        self, path: Path, layer: str | None, *, encoding: str | None, limits: Limits
    ) -> OpenLayer:
        sheets = read_sheets(path)
        if not sheets:
            raise FileRefused(f"{path.name} has no sheet with any data")
        sheet, rows = next(((s, r) for s, r in sheets if s.name == layer), sheets[0])
        width = len(sheet.names)

        def batches() -> Iterator[pa.RecordBatch]:
            chunk: list[list[str | None]] = []
            for row in rows[sheet.first :]:
                texts = [cell_text(v) for v in row[:width]]
                if not any(texts):
                    continue
                chunk.append(texts + [None] * (width - len(texts)))
                if len(chunk) >= limits.batch_rows:
                    yield _batch(chunk, sheet.names)
                    chunk = []
            if chunk:
                yield _batch(chunk, sheet.names)
            _last.clear()  # the workbook is read: its rows need not stay in memory

        return OpenLayer(info=self._info(sheet), has_geometry=False, reader=batches)


def _batch(rows: list[list[str | None]], names: Sequence[str]) -> pa.RecordBatch:
    columns = [pa.array([row[i] for row in rows], pa.string()) for i in range(len(names))]
    return pa.RecordBatch.from_arrays(columns, names=list(names))
