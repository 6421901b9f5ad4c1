"""KML and KMZ (Google Earth): WGS 84 by definition; attributes travel as ExtendedData.

A KMZ is a zip: it is unpacked with the same checks as any zip and its ``doc.kml`` is read.
"""

from __future__ import annotations

from pathlib import Path

from geo.formats.ogr import OgrFormat


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
