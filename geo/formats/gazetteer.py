"""Gazetteers, into places: GeoNames text dumps and OpenStreetMap ``place=*`` extracts.

GeoNames dumps (``CD.txt``, ``allCountries.txt``, ``cities500.txt`` ...) are tab-separated with
no header, in GeoNames' 19 standard columns; only populated places (feature class ``P``) are
read, and rows are numbered among them. The feature code and the population give the place's
class; ``geonameid`` is the external id (origin ``geonames``), so a newer dump updates the
places an older one brought.

OpenStreetMap extracts come as a GeoPackage of points (``ogr2ogr`` or ``osmium export`` of
``place=*`` nodes: ``osm_id``, ``name``, ``place``, ``population`` or ``other_tags``) or as a
CSV (an Overpass export: ``@id``/``id``, ``name``, ``place``, ``population``, ``@lat``/``lat``,
``@lon``/``lon``). OSM's place values become the four classes; places that are not settlements
(``country``, ``state``, ``island`` ...) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyogrio

from geo.formats.base import FileRefused, LayerInfo, Limits, OpenLayer, Preset, SourceField
from geo.formats.csv import BLOCK_BYTES, CSV
from geo.formats.geopackage import GeoPackage
from geo.formats.ogr import GDAL_ERRORS
from geo.formats.schema import TargetSchema

#: GeoNames' columns, in order (https://download.geonames.org/export/dump/readme.txt).
GEONAMES_COLUMNS = (
    "geonameid",
    "name",
    "asciiname",
    "alternatenames",
    "latitude",
    "longitude",
    "feature_class",
    "feature_code",
    "country_code",
    "cc2",
    "admin1_code",
    "admin2_code",
    "admin3_code",
    "admin4_code",
    "population",
    "elevation",
    "dem",
    "timezone",
    "modification_date",
)
#: Population from which a place is a city, a town, a village; below: a hamlet.
CLASS_FLOORS = ((100_000, "city"), (10_000, "town"), (1_000, "village"))
#: GeoNames feature codes -> the class of a place whose population is not known.
GEONAMES_CODES = {
    "PPLC": "city",
    "PPLA": "town",
    "PPLA2": "town",
    "PPLA3": "village",
    "PPLA4": "village",
    "PPLG": "town",
    "PPL": "village",
    "PPLL": "hamlet",
    "PPLF": "hamlet",
    "PPLS": "hamlet",
    "PPLX": "hamlet",
}
#: OpenStreetMap place=* values that are settlements -> class.
OSM_PLACES = {
    "city": "city",
    "town": "town",
    "village": "village",
    "hamlet": "hamlet",
    "isolated_dwelling": "hamlet",
    "farm": "hamlet",
    "locality": "hamlet",
    "neighbourhood": "hamlet",
    "quarter": "hamlet",
    "suburb": "hamlet",
}
_GEONAMES_LINE = re.compile(rb"^\d+\t[^\t]*\t[^\t]*\t[^\t]*\t-?\d+(\.\d+)?\t-?\d+(\.\d+)?\t")
_OTHER_POPULATION = re.compile(r'"population"=>"(\d+)"')


def _text(batch: pa.RecordBatch, name: str) -> pa.Array:
    if name not in batch.schema.names:
        return pa.array([""] * batch.num_rows, pa.string())
    values = batch.column(name)
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return pc.fill_null(pc.utf8_trim_whitespace(values), "")


def _population(texts: pa.Array) -> list[int | None]:
    out: list[int | None] = []
    for text in texts.to_pylist():
        digits = re.sub(r"[\s,.]", "", text or "")
        out.append(int(digits) if digits.isdigit() and int(digits) > 0 else None)
    return out


def place_class(population: int | None, fallback: str) -> str:
    """The class of a place from its population, or ``fallback`` when it is not known.

    Examples
    --------
    >>> place_class(250_000, "village"), place_class(3_000, "town"), place_class(None, "town")
    ('city', 'village', 'town')
    """
    if population is None:
        return fallback
    for floor, name in CLASS_FLOORS:
        if population >= floor:
            return name
    return "hamlet"


def _with(batch: pa.RecordBatch, columns: dict[str, pa.Array]) -> pa.RecordBatch:
    arrays = [*batch.columns, *columns.values()]
    return pa.RecordBatch.from_arrays(arrays, names=[*batch.schema.names, *columns])


PLACE_MAPPING = {
    "name": "name",
    "place_class": "__place_class",
    "population": "__population",
}


class GeoNames(CSV):
    name = "geonames"
    title = "GeoNames text dump (tab-separated)"
    extensions = (".txt", ".tsv", ".tab")
    preset = Preset(
        collection="places",
        origin="geonames",
        mapping={
            **PLACE_MAPPING,
            "external_id": "geonameid",
            "alternate_names": "alternatenames",
            "admin1": "admin1_code",
            "admin2": "admin2_code",
            "longitude": "longitude",
            "latitude": "latitude",
        },
    )
    derived = ("__place_class", "__population")

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        first = head.split(b"\n", 1)[0]
        if first.count(b"\t") == len(GEONAMES_COLUMNS) - 1 and _GEONAMES_LINE.match(first):
            return 95
        return 0

    def layers(self, path: Path, *, encoding: str | None = None) -> list[LayerInfo]:
        fields = tuple(SourceField(name) for name in GEONAMES_COLUMNS)
        return [LayerInfo(path.stem, "Point", None, fields, "EPSG:4326")]

    def open(
        self, path: Path, layer: str | None, *, encoding: str | None, limits: Limits
    ) -> OpenLayer:
        (info,) = self.layers(path, encoding=encoding)

        def batches() -> Iterator[pa.RecordBatch]:
            read = pacsv.ReadOptions(
                column_names=list(GEONAMES_COLUMNS),
                block_size=BLOCK_BYTES,
                encoding=encoding or "utf-8",
            )
            # Names hold quotes of their own: GeoNames quotes nothing.
            parse = pacsv.ParseOptions(delimiter="\t", quote_char=False)
            convert = pacsv.ConvertOptions(
                column_types=dict.fromkeys(GEONAMES_COLUMNS, pa.string()),
                strings_can_be_null=False,
            )
            try:
                with pacsv.open_csv(
                    path, read_options=read, parse_options=parse, convert_options=convert
                ) as reader:
                    yield from reader
            except pa.ArrowInvalid as error:
                message = str(error).splitlines()[0]
                raise FileRefused(
                    f"{path.name} is not a GeoNames dump (19 tab-separated columns): {message}"
                ) from error

        return OpenLayer(info=info, has_geometry=False, reader=batches)

    def derive(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        batch = batch.filter(pc.equal(_text(batch, "feature_class"), "P"))
        population = _population(_text(batch, "population"))
        codes = _text(batch, "feature_code").to_pylist()
        classes = [
            place_class(p, GEONAMES_CODES.get(code, "village"))
            for p, code in zip(population, codes, strict=True)
        ]
        return _with(
            batch,
            {
                "__place_class": pa.array(classes, pa.string()),
                "__population": pa.array(
                    ["" if p is None else str(p) for p in population], pa.string()
                ),
            },
        )


def _derive_osm(batch: pa.RecordBatch) -> pa.RecordBatch:
    kinds = pc.utf8_lower(_text(batch, "place"))
    batch = batch.filter(pc.is_in(kinds, pa.array(sorted(OSM_PLACES))))
    kinds = pc.utf8_lower(_text(batch, "place")).to_pylist()
    population = _population(_text(batch, "population"))
    others = _text(batch, "other_tags").to_pylist()
    for i, tags in enumerate(others):
        found = _OTHER_POPULATION.search(tags) if population[i] is None else None
        if found:
            population[i] = int(found.group(1))
    ids = _text(batch, "osm_id")
    if "osm_id" not in batch.schema.names:
        ids = _text(batch, "@id") if "@id" in batch.schema.names else _text(batch, "id")
    return _with(
        batch,
        {
            "__place_class": pa.array([OSM_PLACES[k] for k in kinds], pa.string()),
            "__population": pa.array(
                ["" if p is None else str(p) for p in population], pa.string()
            ),
            "__osm_id": ids,
        },
    )


OSM_PRESET = Preset(
    collection="places",
    origin="osm",
    mapping={**PLACE_MAPPING, "external_id": "__osm_id"},
)


class OsmPlaces(GeoPackage):
    name = "osm_places"
    title = "OpenStreetMap place=* points (GeoPackage)"
    preset = OSM_PRESET
    derived = ("__place_class", "__population", "__osm_id")

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        if GeoPackage.sniff(path, head) == 0:
            return 0
        try:
            for layer, _ in pyogrio.list_layers(path):
                fields = {
                    str(f).lower() for f in pyogrio.read_info(path, layer=str(layer))["fields"]
                }
                if {"place", "name"} <= fields and ("osm_id" in fields or "other_tags" in fields):
                    return 100
        except GDAL_ERRORS:  # not a file this format reads: GeoPackage decides
            return 0
        return 0

    def derive(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return _derive_osm(batch)

    def field_aliases(self, schema: TargetSchema) -> Mapping[str, Sequence[str]]:
        return {"alternate_names": ("alt_name", "old_name")}


class OsmPlacesCsv(CSV):
    name = "osm_places_csv"
    title = "OpenStreetMap place=* points (CSV, e.g. from Overpass)"
    preset = Preset(
        collection="places",
        origin="osm",
        mapping={**PLACE_MAPPING, "external_id": "__osm_id"},
    )
    derived = ("__place_class", "__population", "__osm_id")

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        if CSV.sniff(path, head) == 0:
            return 0
        names = {n.lstrip("@_") for n in CSV.header_names(path)} | CSV.header_names(path)
        return 90 if {"name", "place"} <= names and ({"lat", "lon"} <= names) else 0

    def derive(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return _derive_osm(batch)

    def field_aliases(self, schema: TargetSchema) -> Mapping[str, Sequence[str]]:
        return {"alternate_names": ("alt_name", "old_name")}
