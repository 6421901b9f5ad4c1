"""Checks on incoming geometries, with messages a user can act on.

Pure functions on GeoJSON-like mappings and shapely geometries; used by the API and imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity


class GeometryProblem(ValueError):
    """A geometry that cannot be stored, with the reason and what to do."""


def check_geometry(
    geojson: Mapping[str, Any],
    allowed: Sequence[str],
    mission_bbox: tuple[float, float, float, float] | None = None,
) -> BaseGeometry:
    """Parse and check a GeoJSON geometry.

    Parameters
    ----------
    geojson : mapping
        A GeoJSON geometry object (RFC 7946, longitude first).
    allowed : sequence of str
        GeoJSON type names accepted here, e.g. ``("Point",)``.
    mission_bbox : tuple of float, optional
        ``(lon_min, lat_min, lon_max, lat_max)`` of the mission area, used to recognise
        coordinates given as latitude, longitude.

    Returns
    -------
    shapely geometry
        Two-dimensional (Z and M dropped).

    Raises
    ------
    GeometryProblem
        Empty, of a type not allowed, outside -180..180 / -90..90, probably swapped, or invalid.

    Examples
    --------
    >>> check_geometry({"type": "Point", "coordinates": [25.1, 6.2]}, ["Point"]).wkt
    'POINT (25.1 6.2)'
    """
    kind = geojson.get("type")
    if kind not in allowed:
        raise GeometryProblem(
            f"geometry type {kind!r} is not accepted here; use one of {list(allowed)}"
        )
    try:
        geometry = shape(geojson)
    except (ValueError, TypeError, AttributeError, IndexError, GEOSException) as error:
        raise GeometryProblem(f"malformed {kind} coordinates: {error}") from error
    if geometry.is_empty:
        raise GeometryProblem("geometry is empty; give at least one coordinate")
    geometry = shapely.force_2d(geometry)
    coords = shapely.get_coordinates(geometry)
    if not np.isfinite(coords).all():
        raise GeometryProblem("coordinates must be finite numbers")
    lon, lat = coords[:, 0], coords[:, 1]
    if (abs(lat) > 90).any() or (abs(lon) > 180).any():
        hint = ""
        if (abs(lon) <= 90).all() and (abs(lat) <= 180).all():
            hint = "; they look like [latitude, longitude]: GeoJSON wants [longitude, latitude]"
        raise GeometryProblem(
            "coordinates out of range: longitude must be within -180..180 and latitude "
            f"within -90..90{hint}"
        )
    if mission_bbox is not None:
        area = box(*mission_bbox)
        if not geometry.intersects(area):
            swapped = shapely.transform(geometry, lambda xy: xy[:, ::-1])
            if swapped.intersects(area):
                raise GeometryProblem(
                    "coordinates are outside the mission area but fall inside it with latitude "
                    "and longitude swapped: GeoJSON wants [longitude, latitude]"
                )
    if not geometry.is_valid:
        raise GeometryProblem(
            f"invalid {geometry.geom_type}: {explain_validity(geometry)}; "
            "fix the ring (no self-intersections, closed, at least 4 positions)"
        )
    return geometry
