"""Naming a point by the places around it: distance, compass direction and the phrase analysts
write in reports ("3 km NE of Dorosa"), and MGRS references.

Distances and bearings are on the WGS 84 ellipsoid (``pyproj.Geod``); MGRS conversions use the
``mgrs`` package (GeoTrans). Nothing here reads a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import mgrs
from pyproj import Geod

_GEOD = Geod(ellps="WGS84")

#: The 8 compass points, clockwise from north.
COMPASS: tuple[str, ...] = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
#: Closer than this to a place, a point is "in" it.
IN_PLACE_KM = 1.0


@dataclass(frozen=True)
class Relation:
    """Where a point lies from a place."""

    place: str
    distance_km: float
    #: Degrees clockwise from true north, from the place to the point, in [0, 360).
    bearing: float

    @property
    def compass(self) -> str:
        return compass_point(self.bearing)

    @property
    def phrase(self) -> str:
        return phrase(self.place, self.distance_km, self.bearing)


def relation(place: str, place_lon: float, place_lat: float, lon: float, lat: float) -> Relation:
    """Distance and bearing from a place to a point.

    Parameters
    ----------
    place : str
        The place's name.
    place_lon, place_lat : float
        The place's position (WGS 84 degrees).
    lon, lat : float
        The point's position.

    Returns
    -------
    Relation
        Distance in km on the ellipsoid and the bearing from the place to the point.

    Examples
    --------
    >>> r = relation("Dorosa", 26.0, 6.0, 26.02, 6.02)
    >>> r.phrase
    '3 km NE of Dorosa'
    """
    forward, _, metres = _GEOD.inv(place_lon, place_lat, lon, lat)
    return Relation(place, metres / 1000.0, forward % 360.0)


def compass_point(bearing: float) -> str:
    """The nearest of the 8 compass points.

    Examples
    --------
    >>> compass_point(44.0), compass_point(330.0), compass_point(359.0)
    ('NE', 'NW', 'N')
    """
    return COMPASS[int(((bearing % 360.0) + 22.5) // 45.0) % 8]


def format_distance(km: float) -> str:
    """A distance as a report writes it: whole km from 2 km, one decimal below.

    Examples
    --------
    >>> format_distance(3.2), format_distance(12.6), format_distance(1.43)
    ('3 km', '13 km', '1.4 km')
    """
    if km >= 2:
        return f"{round(km):d} km"
    return f"{km:.1f} km"


def phrase(place: str, distance_km: float, bearing: float) -> str:
    """ "3 km NE of Dorosa"; "in Dorosa" when closer than :data:`IN_PLACE_KM`.

    Examples
    --------
    >>> phrase("Dorosa", 3.2, 47.0)
    '3 km NE of Dorosa'
    >>> phrase("Dorosa", 0.4, 200.0)
    'in Dorosa'
    """
    if distance_km < IN_PLACE_KM:
        return f"in {place}"
    return f"{format_distance(distance_km)} {compass_point(bearing)} of {place}"


@cache
def _converter() -> mgrs.MGRS:
    return mgrs.MGRS()


def to_mgrs(lon: float, lat: float, precision: int = 5) -> str:
    """The MGRS reference of a point, grouped as troops write it.

    ``precision`` is the digits per easting and northing: 5 is 1 m, 4 is 10 m, 3 is 100 m.

    Examples
    --------
    >>> to_mgrs(26.0, 6.0)
    '35N LG 89325 63305'
    """
    plain = _converter().toMGRS(lat, lon, MGRSPrecision=precision)
    return _grouped(plain)


_MGRS = re.compile(r"^(\d{1,2})([C-HJ-NP-X])([A-HJ-NP-Z]{2})(\d*)$")


def _grouped(plain: str) -> str:
    match = _MGRS.match(plain)
    if not match:
        return plain
    zone, band, square, digits = match.groups()
    half = len(digits) // 2
    parts = [f"{zone}{band}", square]
    if digits:
        parts += [digits[:half], digits[half:]]
    return " ".join(parts)


def from_mgrs(reference: str) -> tuple[float, float]:
    """The (lon, lat) of an MGRS reference, spaces allowed; the centre of its square.

    Raises
    ------
    ValueError
        ``reference`` is not an MGRS reference.

    Examples
    --------
    >>> lon, lat = from_mgrs("35N LG 89325 63305")
    >>> round(lon, 4), round(lat, 4)
    (26.0, 6.0)
    """
    plain = re.sub(r"\s+", "", reference).upper()
    match = _MGRS.match(plain)
    if not match or len(match.group(4)) % 2 or len(match.group(4)) > 10:
        raise ValueError(f"{reference!r} is not an MGRS reference (e.g. 35N LG 89325 63305)")
    lat, lon = _converter().toLatLon(plain)
    return float(lon), float(lat)
