"""From an uploaded file to batches of checked records, ready to stage in the database.

``open_input`` finds out what the file is (unpacking zips safely), picks the layer, the CRS
and the field mapping, and refuses the file with a clear message when one of them cannot be
found. ``Input.convert`` then yields one Arrow table per batch: a ``row_no`` column, the mapped
fields in the collection's types, and the geometry as hex EWKB in WGS 84. Problems of single
records go to a ``ProblemLog``; memory holds one batch at a time.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyproj import Transformer

from geo.formats import archive, crs, geometry, mapping, spreadsheet
from geo.formats.base import (
    GEOMETRY,
    FileRefused,
    Format,
    LayerInfo,
    Limits,
    OpenLayer,
    SourceField,
)
from geo.formats.crs import SourceCRS
from geo.formats.mapping import FieldMapping
from geo.formats.problems import ProblemLog
from geo.formats.registry import detect, get_format
from geo.formats.schema import IDENTITY, LATITUDE, LONGITUDE, WKT, TargetField, TargetSchema
from geo.formats.values import ARROW_TYPES, convert, missing
from geo.validation import SizeLimits

ROW = "row_no"
GEOM = "geom"
#: The field that identifies a record within its origin.
KEY = "external_id"
SAMPLE_ROWS = 5
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Options:
    """What the caller says about a file; everything is optional."""

    format: str | None = None
    layer: str | None = None
    #: Collection field -> file field, ``{"value": ...}`` or ``{"column": ..., "values": ...}``.
    mapping: Mapping[str, Any] | None = None
    source_crs: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class Area:
    """The mission area and how far outside it a feature may lie before it is refused, and
    the largest geometry accepted."""

    bbox: tuple[float, float, float, float]
    outside_km: float
    limits: SizeLimits | None = None


def safe_file_name(name: str) -> str:
    """An uploaded file's name, reduced to characters safe in a path (extension kept)."""
    base = Path(name.replace("\\", "/")).name
    cleaned = _SAFE_NAME.sub("_", base).strip("._") or "upload"
    return cleaned[:120]


def _check_encoding(encoding: str | None) -> str | None:
    if encoding is None or encoding.strip() == "":
        return None
    try:
        return codecs.lookup(encoding).name
    except LookupError as error:
        raise FileRefused(
            f"unknown text encoding {encoding!r}; use e.g. utf-8, latin-1 or cp1252",
            field="encoding",
        ) from error


def locate(
    upload: Path, workdir: Path, limits: Limits, format_name: str | None
) -> tuple[Format, Path]:
    """The format and the file (or folder of shapefiles) to read from an upload."""
    if spreadsheet.is_spreadsheet(upload) and format_name in (None, "xlsx", "dtm_xlsx"):
        # A workbook (.xlsx, .ods) is a zip too: checked as one, read as a whole.
        spreadsheet.check_zip(upload, limits)
        return (get_format(format_name) if format_name else detect(upload)), upload
    if archive.is_zip(upload):
        files = archive.unpack(upload, workdir / "unpacked", limits)
        return _in_archive(files, format_name)
    if upload.suffix.lower() in (".shp", ".shx", ".dbf"):
        raise FileRefused(
            "a shapefile is several files: zip the .shp, .shx, .dbf, .prj (and .cpg) together "
            "and send the zip"
        )
    fmt = get_format(format_name) if format_name else detect(upload)
    return fmt, upload


def _in_archive(files: list[Path], format_name: str | None) -> tuple[Format, Path]:
    files = [f for f in files if "__MACOSX" not in f.parts and not f.name.startswith(".")]
    by_suffix: dict[str, list[Path]] = {}
    for f in files:
        by_suffix.setdefault(f.suffix.lower(), []).append(f)
    shapefiles = by_suffix.get(".shp", [])
    if shapefiles:
        for shp in shapefiles:
            siblings = {f.name.lower() for f in shp.parent.iterdir()}
            for needed, role in ((".shx", "index"), (".dbf", "attributes")):
                expected = shp.stem + needed
                if expected.lower() not in siblings:
                    raise FileRefused(
                        f"the shapefile {shp.name} comes without {expected} (its {role}); zip "
                        "all its files: .shp, .shx, .dbf, .prj (and .cpg)"
                    )
        folders = {shp.parent for shp in shapefiles}
        if len(folders) > 1:
            raise FileRefused("the zip holds shapefiles in several folders; put them in one")
        fmt = get_format(format_name or "shapefile")
        return fmt, shapefiles[0] if len(shapefiles) == 1 else shapefiles[0].parent
    for orphan in (".shx", ".dbf", ".prj"):
        if by_suffix.get(orphan):
            raise FileRefused(
                f"the zip holds {by_suffix[orphan][0].name} but no .shp; zip all the files of "
                "the shapefile: .shp, .shx, .dbf, .prj (and .cpg)"
            )
    readable = [
        f
        for f in files
        if f.suffix.lower()
        in (".gpkg", ".geojson", ".json", ".kml", ".csv", ".tsv", ".txt", *spreadsheet.EXTENSIONS)
    ]
    if not readable:
        names = ", ".join(f.name for f in files[:10])
        raise FileRefused(
            f"the zip holds no file civop reads ({names}); send a shapefile, GeoPackage, "
            "GeoJSON, KML, CSV or a spreadsheet (.xlsx, .xls, .ods)",
            reason="unsupported",
        )
    if len(readable) > 1:
        names = ", ".join(f.name for f in readable[:10])
        raise FileRefused(f"the zip holds several data files ({names}); send one at a time")
    chosen = readable[0]
    return (get_format(format_name) if format_name else detect(chosen)), chosen


def pick_layer(
    layers: list[LayerInfo], wanted: str | None, geometry_types: tuple[str, ...]
) -> LayerInfo:
    """The layer to import: the one named, the only one, the only one holding records, or all
    of them at once where the format reads them so (a KML's folders)."""
    if not layers:
        raise FileRefused("the file holds no layer of features")
    if wanted:
        for layer in layers:
            if layer.name == wanted:
                return layer
        names = ", ".join(repr(layer.name) for layer in layers)
        raise FileRefused(
            f"the file has no layer {wanted!r}; its layers are {names}", field="layer"
        )
    if len(layers) == 1:
        return layers[0]
    combined = [layer for layer in layers if layer.combined]
    if combined:
        return combined[0]
    # A cover sheet or an empty layer beside the one that holds the records.
    holding = [layer for layer in layers if layer.count != 0]
    if len(holding) == 1:
        return holding[0]
    described = "; ".join(
        f"{layer.name!r} ({layer.geometry_type or 'no geometry'}, "
        f"{'?' if layer.count is None else layer.count} features)"
        for layer in layers
    )
    raise FileRefused(
        f"the file has {len(layers)} layers: {described}; choose one with layer=<name>",
        field="layer",
    )


@dataclass
class Input:
    """A file opened for import: what it is and how its records map onto the collection."""

    format: Format
    layers: list[LayerInfo]
    layer: OpenLayer
    source_crs: SourceCRS
    transformer: Transformer | None
    mapping: FieldMapping
    schema: TargetSchema
    area: Area | None
    limits: Limits
    sample: list[dict[str, Any]] = field(default_factory=list)
    rows_read: int = 0

    @property
    def columns(self) -> list[tuple[str, TargetField | None]]:
        """The columns of each converted batch besides ``row_no`` and ``geom``:
        (name, target field), the record id first when the file carries it."""
        out: list[tuple[str, TargetField | None]] = []
        if IDENTITY in self.mapping.fields:
            out.append((IDENTITY, None))
        for target in self.schema.fields:
            if target.name in self.mapping.fields or target.name == KEY:
                out.append((target.name, target))
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "format": self.format.name,
            "layer": self.layer.info.name,
            "layers": [
                {"name": layer.name, "geometry_type": layer.geometry_type, "count": layer.count}
                for layer in self.layers
            ],
            "geometry_type": self.layer.info.geometry_type,
            "count": self.layer.info.count,
            "encoding": self.layer.info.encoding,
            "encoding_from": self.layer.info.encoding_from,
            "crs": self.source_crs.label,
            "crs_from": self.source_crs.origin,
            "reprojected": self.transformer is not None,
            "mapping": self.mapping.as_dict(),
        }

    def convert(self, log: ProblemLog) -> Iterator[pa.Table]:
        """Checked records, one table per batch (see the module docstring)."""
        row0 = 1
        for raw in self.layer.batches():
            batch = self.mapping.apply(self.format.derive(raw))
            try:
                batch.validate(full=True)
            except pa.ArrowInvalid as error:
                raise FileRefused(
                    f"text in the file is not valid {self._encoding_name()} near row {row0} "
                    f"({error}); give the file's encoding, e.g. encoding=latin-1",
                    field="encoding",
                ) from error
            table = self._convert_batch(batch, row0, log)
            if not self.sample:
                self._take_sample(table)
            row0 += batch.num_rows
            self.rows_read += batch.num_rows
            yield table

    def _encoding_name(self) -> str:
        return "UTF-8"

    def _convert_batch(self, batch: pa.RecordBatch, row0: int, log: ProblemLog) -> pa.Table:
        names = batch.schema.names
        columns: dict[str, pa.Array] = {
            ROW: pa.array(np.arange(row0, row0 + batch.num_rows, dtype=np.int64), pa.int64())
        }
        for name, target in self.columns:
            source = self.mapping.fields.get(name)
            label = self.mapping.label(source) or name
            if target is None:
                ident = TargetField(IDENTITY, "uuid")
                columns[name] = convert(batch.column(names.index(source)), ident, label, row0, log)
                continue
            if source is None:
                values = pa.nulls(batch.num_rows, ARROW_TYPES[target.kind])
            elif target.kind == "geometry":
                shapes = geometry.from_text(batch.column(names.index(source)), row0, label, log)
                checked = geometry.prepare(
                    shapes,
                    row0=row0,
                    field=label,
                    source_crs=self.source_crs,
                    transformer=self.transformer,
                    allowed=("Point",),
                    mission_bbox=self.area.bbox if self.area else None,
                    outside_km=self.area.outside_km if self.area else None,
                    log=log,
                )
                values = geometry.to_ewkb_hex(checked)
            else:
                values = convert(batch.column(names.index(source)), target, label, row0, log)
            if target.default is not None:
                values = pc.fill_null(values, pa.scalar(target.default, values.type))
            if target.required and target.kind != "geometry" and source is not None:
                # Only where the file has nothing: a refused value is reported already.
                empty = missing(batch.column(names.index(source)))
                self._require(empty, target, label, row0, log)
            columns[name] = values
        self._check_order(columns, row0, log)
        columns[GEOM] = self._geometry(batch, row0, log)
        if KEY in columns:
            columns[KEY] = content_keys(columns)
        return pa.table(columns)

    def _require(
        self, empty: pa.Array, target: TargetField, source: str | None, row0: int, log: ProblemLog
    ) -> None:
        if pc.any(empty).as_py():
            rows = np.flatnonzero(empty.to_numpy(zero_copy_only=False)) + row0
            log.add_rows(rows, source, f"{target.name} is required and is missing here")

    def _check_order(self, columns: dict[str, pa.Array], row0: int, log: ProblemLog) -> None:
        for start, end in self.schema.ordered:
            if start not in columns or end not in columns:
                continue
            before = pc.fill_null(pc.less(columns[end], columns[start]), False)
            if pc.any(before).as_py():
                rows = np.flatnonzero(before.to_numpy(zero_copy_only=False)) + row0
                field = self.mapping.label(self.mapping.fields.get(end))
                log.add_rows(rows, field, f"{end} is before {start}")
                columns[end] = pc.if_else(before, pa.scalar(None, columns[end].type), columns[end])

    def _geometry(self, batch: pa.RecordBatch, row0: int, log: ProblemLog) -> pa.Array:
        names = batch.schema.names
        where = self.mapping.location
        points = "Point" in self.schema.geometry_types
        settings: dict[str, Any] = {
            "row0": row0,
            "source_crs": self.source_crs,
            "transformer": self.transformer,
            "mission_bbox": self.area.bbox if self.area else None,
            "outside_km": self.area.outside_km if self.area else None,
            "log": log,
        }
        if where == "layer":
            column = batch.column(names.index(GEOMETRY))
            coords = geometry.simple_points(column) if points else None
            if coords is not None:
                return geometry.prepare_points(coords, field="geometry", **settings)
            shapes = geometry.from_wkb(column)
            label = "geometry"
        elif where == "lonlat":
            lon_name = self.mapping.fields[LONGITUDE]
            lat_name = self.mapping.fields[LATITUDE]
            number = TargetField("coordinate", "number")
            lon = convert(batch.column(names.index(lon_name)), number, lon_name, row0, log)
            lat = convert(batch.column(names.index(lat_name)), number, lat_name, row0, log)
            label = f"{lon_name}/{lat_name}"
            if points:
                coords = np.column_stack(
                    [
                        lon.to_numpy(zero_copy_only=False).astype(float),
                        lat.to_numpy(zero_copy_only=False).astype(float),
                    ]
                )
                return geometry.prepare_points(coords, field=label, **settings)
            shapes = geometry.from_lonlat(lon, lat)
        else:
            wkt_name = self.mapping.fields[WKT]
            shapes = geometry.from_text(batch.column(names.index(wkt_name)), row0, wkt_name, log)
            label = wkt_name
        checked = geometry.prepare(
            shapes,
            field=label,
            allowed=self.schema.geometry_types,
            limits=self.area.limits if self.area else None,
            **settings,
        )
        return geometry.to_ewkb_hex(checked)

    def _take_sample(self, table: pa.Table) -> None:
        head = table.slice(0, SAMPLE_ROWS).to_pylist()
        for record in head:
            wkb = record.pop(GEOM)
            shape = None if wkb is None else shapely.from_wkb(bytes.fromhex(wkb))
            self.sample.append(
                {
                    "row": record.pop(ROW),
                    "properties": {k: _jsonable(v) for k, v in record.items()},
                    "geometry": None if shape is None else shapely.geometry.mapping(shape),
                }
            )


def content_keys(columns: Mapping[str, pa.Array]) -> pa.Array:
    """``external_id`` where the file gives one, else a digest of the record's content, so
    importing the same rows again finds them instead of adding them twice.

    Examples
    --------
    >>> import pyarrow as pa
    >>> keys = content_keys({"row_no": pa.array([1, 2]), "name": pa.array(["a", "a"]),
    ...                      "external_id": pa.array(["x", None])})
    >>> keys[0].as_py(), keys[1].as_py()[:5]
    ('x', 'sha1:')
    """
    given = columns[KEY]
    missing = pc.is_null(given)
    if not pc.any(missing).as_py():
        return given
    parts = [
        pc.fill_null(pc.cast(values, pa.string()), "\x00")
        for name, values in columns.items()
        if name not in (ROW, KEY)
    ]
    joined = pc.binary_join_element_wise(*parts, "\x1f") if parts else pa.nulls(len(given))
    digests = [
        None
        if text is None
        else "sha1:" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
        for text in pc.filter(joined, missing).to_pylist()
    ]
    filled = np.array(given.to_pylist(), dtype=object)
    filled[missing.to_numpy(zero_copy_only=False)] = digests
    return pa.array(filled, pa.string())


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def open_input(
    upload: Path,
    *,
    schema: TargetSchema,
    options: Options,
    limits: Limits,
    workdir: Path,
    area: Area | None,
) -> Input:
    """Open an uploaded file for import into ``schema``'s collection.

    Parameters
    ----------
    upload : Path
        The file as received (a zip is unpacked into ``workdir``).
    schema : TargetSchema
        The collection the records go into.
    options : Options
        Format, layer, mapping, source CRS and encoding given by the caller.
    limits : Limits
        Zip and batch limits.
    workdir : Path
        A private directory for unpacked files; the caller removes it.
    area : Area, optional
        The mission area, to refuse features far outside it.

    Returns
    -------
    Input

    Raises
    ------
    FileRefused
        Anything that stops the whole file: unreadable or unsafe, unsupported, several layers
        and none chosen, no CRS, a mapping that names unknown fields, required fields missing.
    """
    encoding = _check_encoding(options.encoding)
    fmt, path = locate(upload, workdir, limits, options.format)
    if not fmt.can_read:
        raise FileRefused(
            f"{fmt.title} files can be exported but not imported", reason="unsupported"
        )
    layers = fmt.layers(path, encoding=encoding)
    info = pick_layer(layers, options.layer, schema.geometry_types)
    opened = fmt.open(path, info.name, encoding=encoding, limits=limits)
    derived = tuple(SourceField(name) for name in getattr(fmt, "derived", ()))
    fields = (*opened.info.fields, *derived)
    field_mapping = mapping.build(
        schema,
        fields,
        layer_geometry=opened.has_geometry,
        explicit=options.mapping,
        preset=fmt.preset.mapping,
        aliases=fmt.field_aliases(schema),
    )
    visible = tuple(n for n in field_mapping.unused if not n.startswith("__"))
    field_mapping = dataclasses.replace(field_mapping, unused=visible)
    in_file = opened.info.crs if field_mapping.location == "layer" else None
    try:
        source = crs.resolve(options.source_crs, in_file, fmt.default_crs)
    except ValueError as error:
        raise FileRefused(str(error), field="source_crs") from error
    if source is None:
        raise FileRefused(
            f"{path.name} does not say which coordinate reference system it uses (a shapefile "
            "needs its .prj); give source_crs, e.g. EPSG:32635 for UTM zone 35N or EPSG:4326 "
            "for longitude/latitude degrees",
            field="source_crs",
        )
    return Input(
        format=fmt,
        layers=layers,
        layer=opened,
        source_crs=source,
        transformer=crs.to_wgs84(source),
        mapping=field_mapping,
        schema=schema,
        area=area,
        limits=limits,
    )
