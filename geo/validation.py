"""Checks on incoming geometries, with messages a user can act on.

Pure functions on GeoJSON-like mappings and shapely geometries; used by the API and imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity


class GeometryProblem(ValueError):
    """A geometry that cannot be stored, with the reason and what to do."""


@dataclass(frozen=True)
class SizeLimits:
    """The most vertices, parts and holes one geometry may have.

    Every map tile and analysis that meets a geometry works through all of its vertices; these
    bounds keep that work small enough to finish within a request's time."""

    vertices: int
    parts: int
    holes: int


def size_problem(geometry: BaseGeometry, limits: SizeLimits) -> str | None:
    """Why a geometry is too big to store under ``limits``, or ``None``.

    Parameters
    ----------
    geometry : shapely geometry
        The geometry as read (any type).
    limits : SizeLimits
        Bounds on the positions (every position of every ring and part, closing ones
        included), the parts of a multi geometry, and the holes of all its polygons.

    Returns
    -------
    str or None
        A message that names the count found, the limit and what to do.

    Examples
    --------
    >>> size_problem(box(0, 0, 1, 1), SizeLimits(vertices=4, parts=1, holes=0))[:51]
    'the geometry has 5 vertices, at most 4 are accepted'
    """
    vertices = int(shapely.get_num_coordinates(geometry))
    if vertices > limits.vertices:
        return (
            f"the geometry has {vertices:,} vertices, at most {limits.vertices:,} are accepted; "
            "simplify it (e.g. in QGIS: Vector > Geometry Tools > Simplify) or split it into "
            "several records"
        )
    parts = int(shapely.get_num_geometries(geometry))
    if parts > limits.parts:
        return (
            f"the geometry has {parts:,} parts, at most {limits.parts:,} are accepted; split it "
            "into several records or merge its small parts"
        )
    polygons = shapely.get_parts(geometry)
    holes = int(shapely.get_num_interior_rings(polygons[shapely.get_type_id(polygons) == 3]).sum())
    if holes > limits.holes:
        return (
            f"the geometry has {holes:,} holes, at most {limits.holes:,} are accepted; fill the "
            "small holes (e.g. in QGIS: Vector > Geometry Tools > Delete Holes) or split it "
            "into several records"
        )
    return None


def check_geometry(
    geojson: Mapping[str, Any],
    allowed: Sequence[str],
    mission_bbox: tuple[float, float, float, float] | None = None,
    limits: SizeLimits | None = None,
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
    limits : SizeLimits, optional
        The most vertices, parts and holes accepted; checked before anything that works
        through the whole geometry.

    Returns
    -------
    shapely geometry
        Two-dimensional (Z and M dropped).

    Raises
    ------
    GeometryProblem
        Empty, of a type not allowed, too big, outside -180..180 / -90..90, probably swapped,
        or invalid.

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
    if limits is not None and (problem := size_problem(geometry, limits)) is not None:
        raise GeometryProblem(problem)
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
