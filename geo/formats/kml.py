"""KML and KMZ (Google Earth): WGS 84 by definition; attributes travel as ExtendedData.

A KMZ is a zip: it is unpacked with the same checks as any zip and its ``doc.kml`` is read.
Each folder of the file is a layer (GDAL's LIBKML driver). When there are several, all of them
are read at once unless one is chosen (``layer=<folder name>``): the records of every folder,
with the folder's name in a ``folder`` field that can be mapped like any other (e.g. a value
map from folder names to site types).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import shapely

from geo.formats.base import GEOMETRY, LayerInfo, Limits, OpenLayer, SourceField, Writer
from geo.formats.ogr import GDAL_ERRORS, OgrFormat, layer_batches

#: The layer that stands for every folder of the file.
ALL_FOLDERS = "*"
#: The field that holds each record's folder (``kml_folder`` if the file has a ``folder``).
FOLDER = "folder"


class KML(OgrFormat):
    name = "kml"
    title = "KML"
    extensions = (".kml", ".kmz")
    media_type = "application/vnd.google-earth.kml+xml"
    driver = "LIBKML"
    default_crs = "EPSG:4326"
    can_write = True

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        if path.suffix.lower() == ".kml":
            return 100
        return 90 if b"<kml" in head[:4096] else 0

    def layers(self, path: Path, *, encoding: str | None = None) -> list[LayerInfo]:
        folders = super().layers(path, encoding=encoding)
        if len(folders) < 2:
            return folders
        names: dict[str, None] = {}
        for folder in folders:
            names.update(dict.fromkeys(f.name for f in folder.fields))
        folder_field = FOLDER if FOLDER not in names else f"kml_{FOLDER}"
        counts = [f.count for f in folders]
        kinds = {f.geometry_type for f in folders}
        combined = LayerInfo(
            name=ALL_FOLDERS,
            geometry_type=kinds.pop() if len(kinds) == 1 else "Unknown",
            count=None if None in counts else sum(c for c in counts if c is not None),
            fields=(*(SourceField(n) for n in names), SourceField(folder_field)),
            crs=folders[0].crs,
            combined=True,
        )
        return [combined, *folders]

    def open(
        self, path: Path, layer: str | None, *, encoding: str | None, limits: Limits
    ) -> OpenLayer:
        infos = self.layers(path, encoding=encoding)
        if not infos[0].combined or (layer not in (None, ALL_FOLDERS)):
            return super().open(path, layer, encoding=encoding, limits=limits)
        combined, folders = infos[0], infos[1:]
        folder_field = combined.fields[-1].name
        names = [f.name for f in combined.fields[:-1]]
        types = self._field_types(path, folders)

        def batches() -> Iterator[pa.RecordBatch]:
            for folder in folders:
                try:
                    for batch in layer_batches(path, folder.name, encoding=encoding, limits=limits):
                        yield _conformed(batch, names, types, folder_field, folder.name)
                except GDAL_ERRORS as error:
                    raise self._refused(path, error) from error

        return OpenLayer(info=combined, has_geometry=True, reader=batches)

    @staticmethod
    def _field_types(path: Path, folders: list[LayerInfo]) -> dict[str, pa.DataType]:
        """One type per field over all folders: text where the folders disagree."""
        seen: dict[str, set[str]] = {}
        for folder in folders:
            info = pyogrio.read_info(path, layer=folder.name)
            for name, dtype in zip(info["fields"], info["dtypes"], strict=True):
                seen.setdefault(str(name), set()).add(str(dtype))
        types: dict[str, pa.DataType] = {}
        for name, dtypes in seen.items():
            (dtype,) = dtypes if len(dtypes) == 1 else ("object",)
            if dtype == "object":
                types[name] = pa.string()
            elif dtype.startswith("datetime64"):
                types[name] = pa.timestamp(dtype[11:-1] or "ms")
            else:
                types[name] = pa.from_numpy_dtype(np.dtype(dtype))
        return types

    def writer(
        self, directory: Path, *, layer: str, collection: str, geometry_types: tuple[str, ...]
    ) -> Writer:
        return KmlWriter(directory / f"{layer}.kml", layer=layer)


def _conformed(
    batch: pa.RecordBatch,
    names: list[str],
    types: dict[str, pa.DataType],
    folder_field: str,
    folder: str,
) -> pa.RecordBatch:
    """A folder's batch with every folder's fields (null where it has none), in one order."""
    arrays: list[pa.Array] = []
    for name in names:
        kind = types.get(name, pa.string())
        if name in batch.schema.names:
            values = batch.column(name)
            arrays.append(values if values.type == kind else pc.cast(values, kind))
        else:
            arrays.append(pa.nulls(batch.num_rows, kind))
    arrays.append(pa.array([folder] * batch.num_rows, pa.string()))
    arrays.append(batch.column(GEOMETRY))
    return pa.RecordBatch.from_arrays(arrays, names=[*names, folder_field, GEOMETRY])


class KmlWriter(Writer):
    """Streams placemarks into one KML file, a batch at a time, in constant memory.

    GDAL's LIBKML driver cannot append to a file it has closed without reading all of it back
    (each batch cost more than the one before: 15 minutes for 20,000 records), so the file is
    written here as LIBKML writes it: a ``Schema`` of the typed fields (numbers as ``int`` or
    ``double``), one ``Placemark`` per record whose ``name`` and ``description`` fields are the
    placemark's own, the others ``SimpleData``. The ``id`` is both the placemark's id and a
    ``SimpleData`` field: GDAL and QGIS show only the latter. Attributes are formatted column
    by column with Arrow; geometries go through Shapely.
    """

    #: Fields KML has elements for; the rest travel as ``SimpleData``.
    OWN = ("name", "description")

    def __init__(self, path: Path, *, layer: str) -> None:
        self.path = path
        self.layer = layer
        self.sink: IO[str] | None = None
        self.fields: list[str] = []

    def _open(self, schema: pa.Schema) -> IO[str]:
        sink = self.path.open("w", encoding="utf-8")
        layer = escape(self.layer, _ATTRIBUTE)
        sink.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<kml xmlns="http://www.opengis.net/kml/2.2">\n<Document id="root_doc">\n'
            f'<Schema id="{layer}.schema">\n'
        )
        self.fields = [n for n in schema.names if n != GEOMETRY and n not in self.OWN]
        for name in self.fields:
            kind = _kml_type(schema.field(name).type)
            sink.write(f'<SimpleField name="{escape(name, _ATTRIBUTE)}" type="{kind}"/>\n')
        sink.write(f'</Schema>\n<Document id="{layer}">\n<name>{escape(self.layer)}</name>\n')
        return sink

    def write(self, batch: pa.RecordBatch) -> None:
        if self.sink is None:
            self.sink = self._open(batch.schema)
        if batch.num_rows == 0:
            return
        empty = pa.scalar("", pa.string())
        parts: list[pa.Array] = []

        def element(name: str, open_tag: str, close_tag: str) -> pa.Array:
            text = _xml_text(batch.column(name))
            tagged = pc.binary_join_element_wise(open_tag, text, close_tag, "")
            return pc.if_else(pc.is_null(text), empty, tagged)

        head = pa.array(["<Placemark"] * batch.num_rows, pa.string())
        if "id" in batch.schema.names:
            ids = _xml_text(batch.column("id"), attribute=True)
            with_id = pc.binary_join_element_wise('<Placemark id="', ids, '"', "")
            head = pc.if_else(pc.is_null(ids), head, with_id)
        parts.append(pc.binary_join_element_wise(head, ">", ""))
        for name in ("name", "description"):
            if name in batch.schema.names:
                parts.append(element(name, f"<{name}>", f"</{name}>"))
        data = [
            element(name, f'<SimpleData name="{escape(name, _ATTRIBUTE)}">', "</SimpleData>")
            for name in self.fields
        ]
        if data:
            schema_url = escape(self.layer, _ATTRIBUTE)
            parts.append(
                pa.array(
                    [f'<ExtendedData><SchemaData schemaUrl="#{schema_url}.schema">']
                    * batch.num_rows,
                    pa.string(),
                )
            )
            parts.extend(data)
            parts.append(pa.array(["</SchemaData></ExtendedData>"] * batch.num_rows, pa.string()))
        parts.append(_kml_geometries(batch.column(GEOMETRY)))
        rows = pc.binary_join_element_wise(*parts, "")
        assert self.sink is not None
        self.sink.write("</Placemark>\n".join(rows.to_pylist()) + "</Placemark>\n")

    def close(self) -> Path:
        if self.sink is None:
            self.sink = self._open(pa.schema([]))
        self.sink.write("</Document>\n</Document>\n</kml>\n")
        self.sink.close()
        return self.path


_ATTRIBUTE = {'"': "&quot;"}


def _kml_type(kind: pa.DataType) -> str:
    """The KML SimpleField type: ``int`` holds 32 bits, so wider integers are ``double``
    (exact to 2**53); dates and times are text, as LIBKML writes them."""
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "double"
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_integer(kind):
        return "int" if kind.bit_width <= 32 and kind != pa.uint32() else "double"
    return "string"


def _xml_text(column: pa.Array, *, attribute: bool = False) -> pa.Array:
    """The column's values as escaped XML text (nulls stay null)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
        text = pc.binary_join_element_wise(pc.replace_substring_regex(text, r"\.0+$", ""), "Z", "")
    elif pa.types.is_date(kind):
        text = pc.strftime(column, format="%Y-%m-%d")
    elif pa.types.is_boolean(kind):
        text = pc.if_else(column, "true", "false")
    else:
        text = pc.cast(column, pa.string())
    text = pc.replace_substring(text, "&", "&amp;")
    text = pc.replace_substring(text, "<", "&lt;")
    text = pc.replace_substring(text, ">", "&gt;")
    if attribute:
        text = pc.replace_substring(text, '"', "&quot;")
    return text


def _coordinates(points: np.ndarray) -> str:
    return " ".join(f"{x!r},{y!r}" for x, y in points.tolist())


def _kml_geometry(geometry: shapely.Geometry | None) -> str:
    if geometry is None or geometry.is_empty:
        return ""
    kind = geometry.geom_type
    if kind == "Point":
        return f"<Point><coordinates>{_coordinates(shapely.get_coordinates(geometry))}</coordinates></Point>"
    if kind == "LineString":
        return f"<LineString><coordinates>{_coordinates(shapely.get_coordinates(geometry))}</coordinates></LineString>"
    if kind == "Polygon":
        assert isinstance(geometry, shapely.Polygon)

        def ring(r: shapely.LinearRing) -> str:
            return f"<LinearRing><coordinates>{_coordinates(shapely.get_coordinates(r))}</coordinates></LinearRing>"

        inner = "".join(f"<innerBoundaryIs>{ring(r)}</innerBoundaryIs>" for r in geometry.interiors)
        return f"<Polygon><outerBoundaryIs>{ring(geometry.exterior)}</outerBoundaryIs>{inner}</Polygon>"
    parts = "".join(_kml_geometry(g) for g in shapely.get_parts(geometry))
    return f"<MultiGeometry>{parts}</MultiGeometry>"


def _kml_geometries(column: pa.Array) -> pa.Array:
    """KML of WKB geometries: points column-wise, other shapes one by one."""
    geometries = shapely.from_wkb(np.asarray(column.to_numpy(zero_copy_only=False)))
    kinds = shapely.get_type_id(geometries)
    points = kinds == 0
    out = np.full(len(geometries), "", dtype=object)
    if points.any():
        xy = shapely.get_coordinates(geometries[points])
        x = pc.cast(pa.array(xy[:, 0]), pa.string())
        y = pc.cast(pa.array(xy[:, 1]), pa.string())
        text = pc.binary_join_element_wise(
            "<Point><coordinates>", x, ",", y, "</coordinates></Point>", ""
        )
        out[points] = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    for index in np.flatnonzero(~points & (kinds >= 0)):
        out[index] = _kml_geometry(geometries[index])
    return pa.array(out.tolist(), pa.string())
