"""Coordinate reference systems of OGC API - Features Part 2: the CRS a client may ask the
features in (``crs``) and give its ``bbox`` in (``bbox-crs``), named by their OGC URIs. The
service stores and serves WGS 84 longitude/latitude (CRS84); PostGIS transforms."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from pyproj import CRS, Transformer

from service.config import get_settings
from service.errors import InvalidInput, shown
from service.i18n import _

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
_EPSG = re.compile(r"^(?:https?://www\.opengis\.net/def/crs/EPSG/0/|EPSG:)(\d{4,6})$")
#: Features in metres are given to the millimetre; in degrees to about 1 cm.
METRE_DECIMALS = 3


@dataclass(frozen=True)
class Crs:
    """A CRS the service serves: its URI, PostGIS SRID, and whether its first axis is
    latitude (EPSG:4326 as EPSG defines it; CRS84 is longitude first)."""

    uri: str
    srid: int
    lat_first: bool = False

    @property
    def decimals(self) -> int:
        return 7 if self.srid == 4326 else METRE_DECIMALS


CRS84 = Crs(CRS84_URI, 4326)


def utm_zones(bbox: tuple[float, float, float, float]) -> list[int]:
    """EPSG codes of the WGS 84 / UTM zones that cover the mission area (north or south)."""
    min_lon, min_lat, max_lon, max_lat = bbox
    first = math.floor((min_lon + 180) / 6) + 1
    # A zone's eastern edge belongs to the next zone: an area ending on it is not in that one.
    last = math.ceil((max_lon + 180) / 6)
    codes: list[int] = []
    for zone in range(max(first, 1), min(last, 60) + 1):
        if max_lat >= 0:
            codes.append(32600 + zone)
        if min_lat < 0:
            codes.append(32700 + zone)
    return codes


@functools.cache
def _supported(bbox: tuple[float, float, float, float]) -> tuple[Crs, ...]:
    listed = [CRS84, Crs(_EPSG_URI.format(code=4326), 4326, lat_first=True)]
    listed.append(Crs(_EPSG_URI.format(code=3857), 3857))
    listed += [Crs(_EPSG_URI.format(code=code), code) for code in utm_zones(bbox)]
    return tuple(listed)


def supported() -> tuple[Crs, ...]:
    """CRS84, EPSG:4326, Web Mercator and the mission's UTM zones."""
    return _supported(tuple(get_settings().mission_bbox))


def parse(value: str | None, parameter: str) -> Crs:
    """The CRS a ``crs`` or ``bbox-crs`` parameter names (CRS84 when absent)."""
    if value is None or value == "":
        return CRS84
    text = value.strip().strip("[]")
    found = _EPSG.match(text)
    for crs in supported():
        if text == crs.uri or (found is not None and crs.uri.endswith("/" + found.group(1))):
            if crs.srid == 4326 and text in (CRS84_URI, "OGC:CRS84"):
                return CRS84
            return crs
    if text == "OGC:CRS84":
        return CRS84
    listed = ", ".join(c.uri for c in supported())
    raise InvalidInput(
        ["query", parameter],
        _(
            "{value!r} is not a CRS served here; use one of: {listed}",
            value=shown(value),
            listed=listed,
        ),
    )


@functools.cache
def _to_lonlat(srid: int) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(srid), CRS.from_epsg(4326), always_xy=True)


def bbox_to_crs84(
    bbox: tuple[float, float, float, float], crs: Crs
) -> tuple[float, float, float, float]:
    """A ``bbox`` given in ``crs`` as the longitude/latitude box that contains it (the edges
    are followed, so a projected box is wholly inside)."""
    if crs.srid == 4326:
        if crs.lat_first:
            min_lat, min_lon, max_lat, max_lon = bbox
            return min_lon, min_lat, max_lon, max_lat
        return bbox
    west, south, east, north = _to_lonlat(crs.srid).transform_bounds(*bbox, densify_pts=21)
    return (
        max(-180.0, float(west)),
        max(-90.0, float(south)),
        min(180.0, float(east)),
        min(90.0, float(north)),
    )


def content_crs(crs: Crs) -> str:
    """The ``Content-Crs`` header of features in ``crs``."""
    return f"<{crs.uri}>"
