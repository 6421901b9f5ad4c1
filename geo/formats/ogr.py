"""Formats read and written through GDAL/OGR (pyogrio): shapefile, GeoPackage, GeoJSON, KML.

Reading streams Arrow record batches (``pyogrio.open_arrow``); writing appends one batch at a
time, so neither holds a whole layer in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyogrio
from pyogrio.errors import (
    CRSError,
    DataLayerError,
    DataSourceError,
    FeatureError,
    FieldError,
    GeometryError,
)

from geo.formats.base import (
    GEOMETRY,
    FileRefused,
    Format,
    LayerInfo,
    Limits,
    OpenLayer,
    SourceField,
    Writer,
    without_paths,
)

GDAL_ERRORS = (
    DataSourceError,
    DataLayerError,
    FieldError,
    FeatureError,
    GeometryError,
    CRSError,
    OSError,
    RuntimeError,
)
_SKIP_FIELDS = ("fid", "ogc_fid")


class OgrFormat(Format):
    """A format GDAL reads; subclasses name the driver and how to recognise the files."""

    driver: ClassVar[str]

    def _refused(self, path: Path, error: Exception) -> FileRefused:
        return FileRefused(gdal_message(path, self.title, error))

    def layers(self, path: Path, *, encoding: str | None = None) -> list[LayerInfo]:
        try:
            listed = pyogrio.list_layers(path)
            infos = []
            for name, geometry_type in listed:
                info = pyogrio.read_info(path, layer=str(name), encoding=encoding)
                count = int(info.get("features", -1))
                infos.append(
                    LayerInfo(
                        name=str(name),
                        geometry_type=None if geometry_type is None else str(geometry_type),
                        count=count if count >= 0 else None,
                        fields=tuple(
                            SourceField(str(f))
                            for f in info["fields"]
                            if str(f).lower() not in _SKIP_FIELDS
                        ),
                        crs=info.get("crs"),
                    )
                )
        except GDAL_ERRORS as error:
            raise self._refused(path, error) from error
        return infos

    def open(
        self, path: Path, layer: str | None, *, encoding: str | None, limits: Limits
    ) -> OpenLayer:
        infos = self.layers(path, encoding=encoding)
        info = next((i for i in infos if i.name == layer), infos[0])

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from layer_batches(path, info.name, encoding=encoding, limits=limits)
            except GDAL_ERRORS as error:
                raise self._refused(path, error) from error

        return OpenLayer(info=info, has_geometry=info.geometry_type is not None, reader=batches)

    def writer(
        self, directory: Path, *, layer: str, collection: str, geometry_types: tuple[str, ...]
    ) -> Writer:
        return OgrWriter(
            directory / f"{layer}{self.extensions[0]}",
            driver=self.driver,
            layer=layer,
            geometry_type=_ogr_type(geometry_types),
        )


#: GDAL's phrases, and what they mean for the person who sent the file.
_GDAL_MEANINGS = (
    (
        ("not recognized as", "not recognised as", "unsupported file format"),
        "its content is not {title}: it may be damaged, incomplete, or another kind of file "
        "named like one; open it in a GIS program and save it again",
    ),
    (
        ("no such file", "does not exist", "cannot open", "unable to open", "failed to open"),
        "it cannot be opened: it may be damaged or incomplete; save it again and re-send it",
    ),
    (
        ("pars", "syntax", "xml", "json", "unexpected", "malformed", "invalid", "no element"),
        "it is not well-formed {title} ({detail}); save it again from the program that made it",
    ),
    (
        ("crs", "srs", "projection", "spatial reference"),
        "its coordinate reference system cannot be read ({detail}); give source_crs, "
        "e.g. EPSG:4326",
    ),
)
#: Sentences of advice meant for GDAL's own users: which driver to name, how to prefix.
_ADVICE = re.compile(r"[^.;]*\b(driver|prefix\w*|GDAL|OGR)\b[^.;]*[.;]?", re.IGNORECASE)


def gdal_message(path: Path, title: str, error: Exception) -> str:
    """What GDAL's error means for the file, said in the user's terms: the file's name, never
    a server path, and no advice about GDAL's drivers.

    Examples
    --------
    >>> from pathlib import Path
    >>> error = OSError("'/tmp/civop-import-1/upload/camps.gpkg' not recognized as being in a "
    ...                 "supported file format. It could have been recognized by driver GPKG, "
    ...                 "but unable to open or write it; consider prefixing with 'GPKG:'")
    >>> gdal_message(Path("/tmp/civop-import-1/upload/camps.gpkg"), "GeoPackage", error)
    'camps.gpkg cannot be read as GeoPackage: its content is not GeoPackage: it may be damaged, \
incomplete, or another kind of file named like one; open it in a GIS program and save it again'
    """
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = without_paths(text).replace(str(path), path.name)
    lowered = text.lower()
    detail = _ADVICE.sub("", text).strip(" .;:'\"")
    detail = re.sub(r"^(ERROR|Error)\b[: ]*", "", detail) or "the file is damaged"
    detail = detail.replace(f"'{path.name}'", "the file").replace(path.name, "the file")
    for phrases, meaning in _GDAL_MEANINGS:
        if any(phrase in lowered for phrase in phrases):
            return f"{path.name} cannot be read as {title}: " + meaning.format(
                title=title, detail=detail[:200]
            )
    return (
        f"{path.name} cannot be read as {title} ({detail[:200]}); it may be damaged or "
        "incomplete: save it again and re-send it"
    )


def layer_batches(
    path: Path, layer: str, *, encoding: str | None, limits: Limits
) -> Iterator[pa.RecordBatch]:
    """The Arrow batches of one layer of a file GDAL reads, its geometry column named
    ``GEOMETRY`` (``rename_geometry``); GDAL's errors are the caller's to word."""
    with pyogrio.open_arrow(
        path, layer=layer, encoding=encoding, batch_size=limits.batch_rows, use_pyarrow=True
    ) as (meta, reader):
        geometry_name = meta.get("geometry_name") or "wkb_geometry"
        for batch in reader:
            yield rename_geometry(batch, geometry_name)


def rename_geometry(batch: pa.RecordBatch, geometry_name: str) -> pa.RecordBatch:
    names = [GEOMETRY if n == geometry_name else n for n in batch.schema.names]
    renamed = batch.rename_columns(names)
    keep = [i for i, n in enumerate(names) if n.lower() not in _SKIP_FIELDS]
    return renamed.select(keep) if len(keep) != len(names) else renamed


def _ogr_type(geometry_types: tuple[str, ...]) -> str:
    if len(geometry_types) == 1:
        return geometry_types[0]
    if set(geometry_types) <= {"Polygon", "MultiPolygon"}:
        return "MultiPolygon"
    return "Unknown"


class OgrWriter(Writer):
    """Appends batches to one layer of one file."""

    def __init__(
        self,
        path: Path,
        *,
        driver: str,
        layer: str,
        geometry_type: str,
        layer_options: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.driver = driver
        self.layer = layer
        self.geometry_type = geometry_type
        self.layer_options = layer_options or {}
        self.written = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0 and self.written:
            return
        pyogrio.write_arrow(
            pa.Table.from_batches([batch]),
            self.path,
            layer=self.layer,
            driver=self.driver,
            geometry_name=GEOMETRY,
            geometry_type=self.geometry_type,
            crs="EPSG:4326",
            encoding="UTF-8" if self.driver == "ESRI Shapefile" else None,
            append=self.written > 0,
            layer_options=self.layer_options or None,
        )
        self.written += batch.num_rows

    def close(self) -> Path:
        return self.path
