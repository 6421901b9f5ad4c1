"""GeoPackage (.gpkg): one or more layers; the importer picks one."""

from __future__ import annotations

from pathlib import Path

from geo.formats.ogr import OgrFormat


class GeoPackage(OgrFormat):
    name = "gpkg"
    title = "GeoPackage"
    extensions = (".gpkg",)
    media_type = "application/geopackage+sqlite3"
    driver = "GPKG"
    can_write = True

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        if path.suffix.lower() == ".gpkg":
            return 100
        return 80 if head.startswith(b"SQLite format 3\x00") else 0
