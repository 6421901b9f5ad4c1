"""The format plugins, by name (as pygeoapi does it): a new format is one module with one
``Format`` subclass and one line here. Modules are imported when first used."""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

from geo.formats.base import FileRefused, Format

#: Format name -> "module:Class".
FORMATS: dict[str, str] = {
    "shapefile": "geo.formats.shapefile:Shapefile",
    "gpkg": "geo.formats.geopackage:GeoPackage",
    "geojson": "geo.formats.geojson:GeoJSON",
    "kml": "geo.formats.kml:KML",
    "csv": "geo.formats.csv:CSV",
    "hxl": "geo.formats.hxl:HXL",
    "acled": "geo.formats.acled:ACLED",
    "dtm": "geo.formats.dtm:DTM",
    "xlsx": "geo.formats.spreadsheet:Spreadsheet",
    "dtm_xlsx": "geo.formats.dtm:DTMSpreadsheet",
    "geonames": "geo.formats.gazetteer:GeoNames",
    "osm_places": "geo.formats.gazetteer:OsmPlaces",
    "osm_places_csv": "geo.formats.gazetteer:OsmPlacesCsv",
}

#: How many bytes of a file ``sniff`` sees.
HEAD_BYTES = 64 * 1024


@cache
def format_class(name: str) -> type[Format]:
    """The plugin class registered under ``name``.

    Raises
    ------
    FileRefused
        No format has that name (``reason="unsupported"``).
    """
    target = FORMATS.get(name)
    if target is None:
        known = ", ".join(sorted(FORMATS))
        raise FileRefused(
            f"unknown format {name!r}; use one of: {known}", field="format", reason="unsupported"
        )
    module_name, _, class_name = target.partition(":")
    cls: type[Format] = getattr(importlib.import_module(module_name), class_name)
    return cls


def get_format(name: str) -> Format:
    """An instance of the plugin registered under ``name``."""
    return format_class(name)()


def readers() -> list[type[Format]]:
    return [format_class(name) for name in FORMATS if format_class(name).can_read]


def writers() -> list[type[Format]]:
    return [format_class(name) for name in FORMATS if format_class(name).can_write]


def detect(path: Path) -> Format:
    """The format of an (unpacked) file, from its name and first bytes.

    Examples
    --------
    >>> from pathlib import Path
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "sites.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    >>> detect(d / "sites.geojson").name
    'geojson'
    """
    with path.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
    scored = sorted(((cls.sniff(path, head), cls.name) for cls in readers()), reverse=True)
    best_score, best = scored[0]
    if best_score <= 0:
        names = ", ".join(sorted(e for cls in readers() for e in cls.extensions))
        raise FileRefused(
            f"{path.name}: not a format civop reads; send one of: {names} "
            "(a shapefile zipped with its .shx, .dbf and .prj)",
            reason="unsupported",
        )
    return get_format(best)
