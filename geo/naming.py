"""Where a point is, in words: "3 km NE of Dorosa".

Reports and alerts name places so a reader knows where without a map: the distance and the
compass direction from a named point (a town, a camp) to the point being described, measured
on the WGS 84 ellipsoid with pyproj's geodesic.
"""

from __future__ import annotations

from pyproj import Geod

_GEOD = Geod(ellps="WGS84")

#: The eight compass points, clockwise from north.
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
#: Closer than this (km) a point is "at" the named place.
AT_KM = 0.5


def compass_point(bearing_deg: float) -> str:
    """The compass point (of eight) nearest a bearing in degrees clockwise from north.

    Examples
    --------
    >>> [compass_point(b) for b in (0, 44, 46, 180, 290.0, 330.0, 359)]
    ['N', 'NE', 'NE', 'S', 'W', 'NW', 'N']
    """
    return COMPASS[int(((bearing_deg % 360.0) + 22.5) // 45.0) % 8]


def distance_and_bearing(
    from_lon: float, from_lat: float, to_lon: float, to_lat: float
) -> tuple[float, float]:
    """Geodesic distance (km) and initial bearing (degrees from north, 0-360) between two
    points.

    Examples
    --------
    >>> km, bearing = distance_and_bearing(25.0, 5.0, 25.0, 5.1)
    >>> round(km, 2), round(bearing)
    (11.06, 0)
    """
    bearing, _, metres = _GEOD.inv(from_lon, from_lat, to_lon, to_lat)
    return metres / 1000.0, bearing % 360.0


def format_km(km: float) -> str:
    """A distance as a person says it: tenths under 10 km, whole kilometres above.

    Examples
    --------
    >>> [format_km(k) for k in (0.34, 2.26, 9.96, 12.4)]
    ['0.3 km', '2.3 km', '10 km', '12 km']
    """
    if round(km, 1) < 10.0:
        return f"{km:.1f} km"
    return f"{km:.0f} km"


def relative_to(name: str, place_lon: float, place_lat: float, lon: float, lat: float) -> str:
    """A point described from a named place: ``"3.0 km NE of Dorosa"``, or ``"at Dorosa"``
    within :data:`AT_KM`.

    Parameters
    ----------
    name : str
        The named place (a town from the gazetteer, a camp).
    place_lon, place_lat : float
        Where the named place is.
    lon, lat : float
        The point to describe.

    Returns
    -------
    str

    Examples
    --------
    >>> relative_to("Dorosa", 25.0, 5.0, 25.02, 5.02)
    '3.1 km NE of Dorosa'
    >>> relative_to("Dorosa", 25.0, 5.0, 25.001, 5.0)
    'at Dorosa'
    """
    km, bearing = distance_and_bearing(place_lon, place_lat, lon, lat)
    if km < AT_KM:
        return f"at {name}"
    return f"{format_km(km)} {compass_point(bearing)} of {name}"
