"""Basemap files: raster tiles rendered with Pillow from a few line and area layers, written as
MBTiles (the SQLite tile store of the MBTiles 1.3 specification), and the reading of MBTiles
and PMTiles (version 3, with the ``pmtiles`` package) files, raster or vector, by tile.

The demo's basemap is rendered here from :mod:`geo.demo_map` at set-up: rivers, roads and the
built-up areas of its towns; the names come from the gazetteer, drawn by the map itself.
"""

from __future__ import annotations

import io
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import morecantile
from PIL import Image, ImageDraw
from shapely import STRtree
from shapely.geometry import LineString, Point, box
from shapely.geometry.base import BaseGeometry

from geo.said import say

if TYPE_CHECKING:  # serving a tileset needs none of the demo's geography
    from geo.demo_map import DemoGeography

TILE = 256
#: Drawn at this many times the tile size, then scaled down: smooth lines without an
#: anti-aliasing renderer.
SUPERSAMPLE = 2
_WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")

LAND = (244, 241, 234)
BUILT_UP = (226, 216, 198)
WATER = (120, 172, 222)
MAIN_ROAD = (247, 199, 105)
MAIN_CASING = (176, 122, 42)
TRACK = (255, 255, 255)
TRACK_CASING = (170, 165, 155)
#: Radius (km) of the built-up area drawn around a place, by class.
BUILT_UP_KM = {"city": 3.5, "town": 1.8, "village": 0.5, "hamlet": 0.2}

MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "pbf": "application/vnd.mapbox-vector-tile",
}


@dataclass(frozen=True)
class _Feature:
    kind: str  # river, main, track, built_up
    shape: BaseGeometry


def _pixel(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Global Web Mercator pixel of a point at zoom ``z``."""
    scale = TILE * 2**z
    x = (lon + 180.0) / 360.0 * scale
    sin = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + sin) / (1 - sin)) / (4 * math.pi)) * scale
    return x, y


def _widths(z: int) -> dict[str, tuple[float, float]]:
    """(casing, line) width in pixels per kind at zoom ``z``."""
    grow = max(0, z - 6)
    return {
        "river": (0.0, 1.0 + 0.45 * grow),
        "main": (2.5 + 0.7 * grow, 1.5 + 0.55 * grow),
        "track": (1.6 + 0.35 * grow, 0.8 + 0.25 * grow),
    }


def _features(geography: DemoGeography) -> list[_Feature]:
    features = [_Feature("river", line) for line in geography.rivers]
    for place in geography.places:
        km = BUILT_UP_KM.get(place.place_class, 0.2)
        features.append(_Feature("built_up", Point(place.lon, place.lat).buffer(km / 111.0, 24)))
    features += [_Feature(kind, line) for kind, line in geography.roads]
    return features


def render_tile(features: list[_Feature], index: STRtree, tile: morecantile.Tile) -> bytes:
    """One PNG tile of ``features`` (``index`` is their STRtree)."""
    z = tile.z
    size = TILE * SUPERSAMPLE
    image = Image.new("RGB", (size, size), LAND)
    draw = ImageDraw.Draw(image)
    bounds = _WEB_MERCATOR.bounds(tile)
    pad = (bounds.right - bounds.left) * 0.1
    found = index.query(
        box(bounds.left - pad, bounds.bottom - pad, bounds.right + pad, bounds.top + pad)
    )
    here = sorted((int(i) for i in found), key=lambda i: _ORDER[features[i].kind])
    x0, y0 = tile.x * TILE, tile.y * TILE
    widths = _widths(z)

    def points(coords: Iterable[tuple[float, ...]]) -> list[tuple[float, float]]:
        out = []
        for lon, lat, *_ in coords:
            x, y = _pixel(lon, lat, z)
            out.append(((x - x0) * SUPERSAMPLE, (y - y0) * SUPERSAMPLE))
        return out

    # Casings first, then every line over them, so that roads join cleanly.
    for layer in ("built_up", "casing", "line"):
        for i in here:
            feature = features[i]
            if feature.kind == "built_up":
                if layer == "built_up" and z >= 8:
                    draw.polygon(points(feature.shape.exterior.coords), fill=BUILT_UP)
                continue
            if feature.kind == "track" and z < 9:
                continue
            casing, width = widths[feature.kind]
            assert isinstance(feature.shape, LineString)
            line = points(feature.shape.coords)
            if layer == "casing" and casing:
                colour = MAIN_CASING if feature.kind == "main" else TRACK_CASING
                draw.line(line, fill=colour, width=round(casing * SUPERSAMPLE), joint="curve")
            elif layer == "line":
                colour = {"river": WATER, "main": MAIN_ROAD, "track": TRACK}[feature.kind]
                draw.line(
                    line, fill=colour, width=max(1, round(width * SUPERSAMPLE)), joint="curve"
                )
    small = image.resize((TILE, TILE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.quantize(colors=48, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()


_ORDER = {"built_up": 0, "river": 1, "track": 2, "main": 3}


def render_mbtiles(
    geography: DemoGeography,
    path: Path,
    *,
    minzoom: int = 5,
    maxzoom: int = 11,
    name: str = "civop demo basemap",
) -> int:
    """Render the geography's basemap into a new MBTiles file.

    Parameters
    ----------
    geography
        Places, roads and rivers (:func:`geo.demo_map.demo_geography`).
    path
        The file to write (replaced if it exists).
    minzoom, maxzoom
        Zoom levels rendered; the map scales the deepest one up beyond it.
    name
        The tileset's name in the file's metadata.

    Returns
    -------
    int
        The number of tiles written.
    """
    features = _features(geography)
    index = STRtree([f.shape for f in features])
    west, south, east, north = geography.bbox
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    count = 0
    with sqlite3.connect(partial) as db:
        db.executescript(
            "CREATE TABLE metadata (name text, value text);"
            "CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, "
            "tile_data blob);"
            "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);"
        )
        metadata = {
            "name": name,
            "format": "png",
            "type": "baselayer",
            "version": "1",
            "bounds": f"{west},{south},{east},{north}",
            "center": f"{(west + east) / 2},{(south + north) / 2},{minzoom + 2}",
            "minzoom": str(minzoom),
            "maxzoom": str(maxzoom),
            "attribution": "Fictional demo geography",
            "description": "Rivers, roads and built-up areas of the fictional demo mission.",
        }
        db.executemany("INSERT INTO metadata VALUES (?, ?)", metadata.items())
        for tile in _WEB_MERCATOR.tiles(
            west, south, east, north, list(range(minzoom, maxzoom + 1))
        ):
            data = render_tile(features, index, tile)
            tms_row = 2**tile.z - 1 - tile.y
            db.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (tile.z, tile.x, tms_row, data))
            count += 1
    partial.replace(path)
    return count


class NotMBTiles(ValueError):
    """The file is not an MBTiles file civop can serve; the message says why."""


@dataclass(frozen=True)
class TilesetInfo:
    """What a basemap file says of itself."""

    path: Path
    name: str
    format: str
    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float] | None
    attribution: str

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def vector(self) -> bool:
        return self.format == "pbf"


#: PMTiles tile types (header byte) -> format.
PMTILES_TYPES = {1: "pbf", 2: "png", 3: "jpg", 4: "webp"}


def _pmtiles_info(path: Path) -> TilesetInfo:
    from pmtiles.reader import MmapSource, Reader

    with path.open("rb") as stream:
        try:
            reader = Reader(MmapSource(stream))  # type: ignore[no-untyped-call]
            header = reader.header()  # type: ignore[no-untyped-call]
            metadata = reader.metadata()  # type: ignore[no-untyped-call]
        except Exception as error:
            raise NotMBTiles(
                say(
                    "{file} is not a PMTiles file civop reads: {error}",
                    file=path.name,
                    error=str(error),
                )
            ) from error
    kind = int(getattr(header["tile_type"], "value", header["tile_type"]))
    if kind not in PMTILES_TYPES:
        raise NotMBTiles(
            say(
                "{file} holds tiles of an unknown type; civop serves png, jpg, webp or pbf",
                file=path.name,
            )
        )
    bounds = (
        header["min_lon_e7"] / 1e7,
        header["min_lat_e7"] / 1e7,
        header["max_lon_e7"] / 1e7,
        header["max_lat_e7"] / 1e7,
    )
    return TilesetInfo(
        path=path,
        name=str(metadata.get("name", path.stem)),
        format=PMTILES_TYPES[kind],
        minzoom=int(header["min_zoom"]),
        maxzoom=int(header["max_zoom"]),
        bounds=bounds,
        attribution=str(metadata.get("attribution", "")),
    )


def read_info(path: Path) -> TilesetInfo:
    """The metadata of an MBTiles or PMTiles file, checked.

    Raises
    ------
    NotMBTiles
        The file is missing, not SQLite, has no ``tiles`` or ``metadata``, or holds tiles of
        a format a browser cannot draw.
    """
    if not path.is_file():
        raise NotMBTiles(say("{file}: no such file", file=str(path)))
    with path.open("rb") as stream:
        magic = stream.read(16)
    if magic.startswith(b"PMTiles"):
        return _pmtiles_info(path)
    if magic != b"SQLite format 3\x00":
        raise NotMBTiles(
            say("{file} is neither an MBTiles (SQLite) nor a PMTiles file", file=path.name)
        )
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            metadata = dict(db.execute("SELECT name, value FROM metadata").fetchall())
            zooms = db.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
    except sqlite3.Error as error:
        raise NotMBTiles(
            say("{file} is not an MBTiles file: {error}", file=path.name, error=str(error))
        ) from error
    tile_format = str(metadata.get("format", "png")).lower()
    if tile_format not in MEDIA_TYPES:
        raise NotMBTiles(
            say(
                "{file} holds {format} tiles; civop serves png, jpg, webp or pbf",
                file=path.name,
                format=tile_format,
            )
        )
    if zooms[0] is None:
        raise NotMBTiles(say("{file} holds no tiles", file=path.name))
    bounds = None
    if metadata.get("bounds"):
        parts = [float(v) for v in str(metadata["bounds"]).split(",")]
        if len(parts) == 4:
            bounds = (parts[0], parts[1], parts[2], parts[3])
    return TilesetInfo(
        path=path,
        name=str(metadata.get("name", path.stem)),
        format=tile_format,
        minzoom=int(metadata.get("minzoom", zooms[0])),
        maxzoom=int(metadata.get("maxzoom", zooms[1])),
        bounds=bounds,
        attribution=str(metadata.get("attribution", "")),
    )


def read_tile(path: Path, z: int, x: int, y: int) -> bytes | None:
    """The tile (XYZ numbering) of an MBTiles or PMTiles file, ``None`` when it holds none
    there."""
    if path.suffix.lower() == ".pmtiles":
        from pmtiles.reader import MmapSource, Reader

        with path.open("rb") as stream:
            reader = Reader(MmapSource(stream))  # type: ignore[no-untyped-call]
            data = reader.get(z, x, y)  # type: ignore[no-untyped-call]
        return None if data is None else bytes(data)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, 2**z - 1 - y),
        ).fetchone()
    return None if row is None else bytes(row[0])
