"""GeoJSON (RFC 7946): WGS 84 longitude/latitude by definition.

Exports of GeoJSON are built by PostgreSQL (see ``service.exports``); this plugin reads files.
"""

from __future__ import annotations

from pathlib import Path

from geo.formats.ogr import OgrFormat


class GeoJSON(OgrFormat):
    name = "geojson"
    title = "GeoJSON"
    extensions = (".geojson", ".json")
    media_type = "application/geo+json"
    driver = "GeoJSON"
    default_crs = "EPSG:4326"
    can_write = True

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        if path.suffix.lower() in cls.extensions:
            return 100
        text = head.lstrip()[:4096]
        return 60 if text.startswith(b"{") and b'"type"' in text else 0
