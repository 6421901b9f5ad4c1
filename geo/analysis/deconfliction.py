"""De-confliction: where a planned patrol route passes humanitarian sites and actors.

A *conflict* is a humanitarian location (an IDP site, a humanitarian actor's office or area, a
project) within ``buffer_km`` of the route. Each conflict says how close the route comes and
how far along the route (from its start) that happens, so a planner can move that leg.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from geo.analysis.geodesy import to_local_km
from geo.analysis.proximity import pairs_within_lines, to_local_shape


@dataclass(frozen=True)
class RouteConflict:
    """One location too close to a route.

    Attributes
    ----------
    index : int
        Position of the location in the input.
    distance_km : float
        Closest approach of the route (0 when the route crosses an area).
    along_km : float
        Distance along the route from its start to the closest approach; for an area the
        route crosses, to where it enters the area.
    """

    index: int
    distance_km: float
    along_km: float


def route_conflicts(
    route: BaseGeometry,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    buffer_km: float = 2.0,
    *,
    shapes: Sequence[BaseGeometry | None] | None = None,
) -> list[RouteConflict]:
    """Locations within ``buffer_km`` of a route, nearest first.

    Parameters
    ----------
    route : shapely LineString
        The planned route, lon/lat.
    lon, lat : array_like
        Locations (a representative point of an area, see ``shapes``).
    buffer_km : float, default 2
        How close is too close.
    shapes : sequence of shapely geometry or None, optional
        Locations that are areas.

    Returns
    -------
    list of RouteConflict

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> route = LineString([(25.0, 5.0), (25.2, 5.0)])
    >>> [(c.index, round(c.distance_km, 2), round(c.along_km, 1))
    ...  for c in route_conflicts(route, [25.1, 25.1], [5.01, 5.2], buffer_km=2.0)]
    [(0, 1.11, 11.1)]
    """
    if route.geom_type != "LineString":
        raise ValueError(f"a route is a LineString, not a {route.geom_type}")
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    pairs = pairs_within_lines(x, y, [route], buffer_km, point_shapes=shapes)
    conflicts: list[RouteConflict] = []
    coords = shapely.get_coordinates(route)
    for i, distance in zip(pairs.source.tolist(), pairs.distance_km.tolist(), strict=True):
        # Along-route position in the location's own frame, where lengths are true.
        rx, ry = to_local_km(coords[:, 0], coords[:, 1], x[i], y[i])
        local_route = shapely.linestrings(np.column_stack([rx, ry]))
        shape = shapes[i] if shapes is not None else None
        target: BaseGeometry = shapely.points(0.0, 0.0)
        if shape is not None and shape.geom_type != "Point":
            target = to_local_shape(shape, float(x[i]), float(y[i]))
        if target.geom_type != "Point" and local_route.intersects(target):
            # The route enters the area: where it first does, not some point inside.
            inside = shapely.get_coordinates(local_route.intersection(target))
            along = float(shapely.line_locate_point(local_route, shapely.points(inside)).min())
        else:
            nearest_on_route = shapely.shortest_line(local_route, target)
            start = shapely.get_point(nearest_on_route, 0)
            along = float(shapely.line_locate_point(local_route, start))
        conflicts.append(RouteConflict(int(i), float(distance), along))
    conflicts.sort(key=lambda c: (c.distance_km, c.index))
    return conflicts
