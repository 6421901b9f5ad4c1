"""Zipped ESRI shapefiles (.shp, .shx, .dbf, .prj, .cpg).

A shapefile cannot hold field names longer than 10 characters, date-times, or points and
polygons in one file. Exports shorten names with ``short_names`` (and imports recognise the same
short names), write date-times as ISO 8601 text, and put each kind of geometry in its own
shapefile inside the zip.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from geo.formats.base import GEOMETRY, Writer
from geo.formats.ogr import OgrFormat, OgrWriter
from geo.formats.schema import TargetSchema

MAX_NAME = 10
#: Fields a civop export carries besides the collection's own.
EXPORT_FIELDS = (
    "id",
    "origin",
    "external_id",
    "classification",
    "sector_id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "generalised",
)
_FAMILIES = {0: "points", 4: "points", 1: "lines", 5: "lines", 3: "polygons", 6: "polygons"}
_TYPE_FAMILIES = {
    "Point": "points",
    "LineString": "lines",
    "Polygon": "polygons",
    "MultiPolygon": "polygons",
}
_OGR_TYPES = {"points": "Point", "lines": "MultiLineString", "polygons": "MultiPolygon"}
_COMPONENTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def short_names(names: Sequence[str]) -> dict[str, str]:
    """Names of at most 10 characters, the same whatever the order of ``names``.

    Names whose first 10 characters collide are abbreviated word by word.

    Examples
    --------
    >>> short_names(["population_individuals", "population_households", "name"])
    {'population_individuals': 'pop_indivi', 'population_households': 'pop_househ', 'name': 'name'}
    """
    cut = {name: name[:MAX_NAME] for name in names}
    counts: dict[str, int] = {}
    for short in cut.values():
        counts[short] = counts.get(short, 0) + 1
    result: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        short = cut[name]
        if counts[short] > 1:
            words = re.split(r"_+", name)
            rest = "_".join(words[1:]) or name
            short = (words[0][:3] + "_" + rest)[:MAX_NAME]
        base, number = short, 1
        while short in taken:
            suffix = f"_{number}"
            short = base[: MAX_NAME - len(suffix)] + suffix
            number += 1
        taken.add(short)
        result[name] = short
    return result


class Shapefile(OgrFormat):
    name = "shapefile"
    title = "zipped shapefile"
    extensions = (".shp",)
    media_type = "application/zip"
    driver = "ESRI Shapefile"
    can_write = True

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        return 100 if path.suffix.lower() == ".shp" or path.is_dir() else 0

    def field_aliases(self, schema: TargetSchema) -> Mapping[str, Sequence[str]]:
        names = list(dict.fromkeys((*schema.names, *EXPORT_FIELDS, "longitude", "latitude")))
        return {name: [short] for name, short in short_names(names).items() if short != name}

    def writer(
        self, directory: Path, *, layer: str, collection: str, geometry_types: tuple[str, ...]
    ) -> Writer:
        return ShapefileWriter(directory, layer, geometry_types)


class ShapefileWriter(Writer):
    """One shapefile per kind of geometry, zipped together at the end."""

    def __init__(self, directory: Path, layer: str, geometry_types: tuple[str, ...]) -> None:
        self.directory = directory
        self.layer = layer
        self.geometry_types = geometry_types
        self.parts: dict[str, OgrWriter] = {}
        self.names: dict[str, str] | None = None

    def _prepare(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self.names is None:
            self.names = short_names([n for n in batch.schema.names if n != GEOMETRY])
        columns = []
        for column in batch.columns:
            if pa.types.is_timestamp(column.type):
                column = pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")
            columns.append(column)
        names = [n if n == GEOMETRY else self.names[n] for n in batch.schema.names]
        return pa.RecordBatch.from_arrays(columns, names=names)

    def _part(self, family: str) -> OgrWriter:
        writer = self.parts.get(family)
        if writer is None:
            folder = self.directory / family
            folder.mkdir(parents=True, exist_ok=True)
            writer = OgrWriter(
                folder / f"{self.layer}_{family}.shp",
                driver="ESRI Shapefile",
                layer=f"{self.layer}_{family}",
                geometry_type=_OGR_TYPES[family],
            )
            self.parts[family] = writer
        return writer

    def write(self, batch: pa.RecordBatch) -> None:
        prepared = self._prepare(batch)
        if prepared.num_rows == 0:
            if not self.parts:  # an empty export still holds a shapefile with the fields
                first = _TYPE_FAMILIES.get(self.geometry_types[0], "points")
                self._part(first).write(prepared)
            return
        shapes = shapely.from_wkb(prepared.column(GEOMETRY).to_numpy(zero_copy_only=False))
        families = np.array([_FAMILIES.get(int(t), "points") for t in shapely.get_type_id(shapes)])
        for family in dict.fromkeys(families.tolist()):
            self._part(family).write(prepared.filter(pa.array(families == family)))

    def close(self) -> Path:
        target = self.directory / f"{self.layer}.zip"
        single = len(self.parts) <= 1
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for family, writer in self.parts.items():
                stem = writer.path.with_suffix("")
                for suffix in _COMPONENTS:
                    component = stem.with_suffix(suffix)
                    if component.exists():
                        name = (
                            f"{self.layer}{suffix}" if single else f"{self.layer}_{family}{suffix}"
                        )
                        bundle.write(component, name)
        return target
