"""What is near what: pairs within a radius, nearest neighbours and counts of the pairs.

Points are searched in k-d trees of Earth-centred coordinates on the ellipsoid, where short
straight-line distances are geodesic distances; an area (a camp drawn as a polygon) is
measured from its edge on the plane tangent at the area, where a point inside is at 0 km.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from geo.analysis.geodesy import (
    R_MEAN_KM,
    FloatArray,
    chord_to_km,
    ecef_km,
    to_local_km,
)

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Pairs:
    """Pairs (source, target) within a radius, with their distance.

    Attributes
    ----------
    source, target : ndarray of int
        Indices into the source and target arrays the pairs were found from.
    distance_km : ndarray of float
        Distance of each pair on the ellipsoid.
    """

    source: IntArray
    target: IntArray
    distance_km: FloatArray

    def __len__(self) -> int:
        return int(self.source.size)

    def take(self, keep: npt.NDArray[np.bool_] | IntArray) -> Pairs:
        """The pairs selected by a boolean mask or an index array."""
        return Pairs(self.source[keep], self.target[keep], self.distance_km[keep])


def _empty_pairs() -> Pairs:
    return Pairs(
        np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    )


def to_local_shape(shape: BaseGeometry, lon0: float, lat0: float) -> BaseGeometry:
    """A lon/lat geometry in kilometres on the plane tangent at ``(lon0, lat0)``."""
    coords = shapely.get_coordinates(shape)
    x, y = to_local_km(coords[:, 0], coords[:, 1], lon0, lat0)
    moved: BaseGeometry = shapely.set_coordinates(
        shapely.from_wkb(shapely.to_wkb(shape)), np.column_stack([x, y])
    )
    return moved


def _grouped(source: IntArray, n_sources: int) -> IntArray:
    """Positions that group pairs by source, keeping their order within a source."""
    if n_sources < 2**16:  # numpy radix-sorts 16-bit keys in linear time
        return np.argsort(source.astype(np.uint16), kind="stable").astype(np.int64)
    return np.argsort(source, kind="stable").astype(np.int64)


def pairs_within(
    source_lon: npt.ArrayLike,
    source_lat: npt.ArrayLike,
    target_lon: npt.ArrayLike,
    target_lat: npt.ArrayLike,
    radius_km: float,
    *,
    source_shapes: Sequence[BaseGeometry | None] | None = None,
) -> Pairs:
    """Every (source, target) pair no farther apart than ``radius_km``.

    Both sets go into k-d trees of Earth-centred coordinates on the ellipsoid
    (:func:`geo.analysis.geodesy.ecef_km`), where the straight-line distance between two
    points a few dozen kilometres apart is the geodesic to the millimetre; the trees find
    the pairs (in C) without a Python object per pair, so millions of pairs take a fraction
    of a second.

    Parameters
    ----------
    source_lon, source_lat : array_like
        Source points in degrees: IDP sites, or a representative point of each (see
        ``source_shapes``).
    target_lon, target_lat : array_like
        Target points in degrees, e.g. incidents.
    radius_km : float
        Search radius on the ellipsoid.
    source_shapes : sequence of shapely geometry or None, optional
        Where a source is an area, its polygon (lon/lat); distances are then measured from
        the area's edge and a target inside it is at 0 km. ``None`` entries are points.
        The source point of an area must lie inside or on it (a representative point).

    Returns
    -------
    Pairs
        Grouped by source, in source order; targets of one source in no particular order.

    Examples
    --------
    >>> pairs = pairs_within([25.0], [5.0], [25.05, 25.2], [5.0, 5.0], radius_km=10.0)
    >>> pairs.target.tolist(), [round(d, 2) for d in pairs.distance_km.tolist()]
    ([0], [5.54])
    """
    from scipy.spatial import cKDTree

    s_lon = np.asarray(source_lon, dtype=np.float64)
    s_lat = np.asarray(source_lat, dtype=np.float64)
    t_lon = np.asarray(target_lon, dtype=np.float64)
    t_lat = np.asarray(target_lat, dtype=np.float64)
    if s_lon.size == 0 or t_lon.size == 0:
        return _empty_pairs()

    extent = np.zeros(s_lon.size, dtype=np.float64)
    local_shapes: dict[int, BaseGeometry] = {}
    if source_shapes is not None:
        for i, shape in enumerate(source_shapes):
            if shape is None or shape.geom_type == "Point":
                continue
            local = to_local_shape(shape, float(s_lon[i]), float(s_lat[i]))
            coords = shapely.get_coordinates(local)
            extent[i] = float(np.hypot(coords[:, 0], coords[:, 1]).max(initial=0.0))
            local_shapes[i] = local

    source_tree = cKDTree(ecef_km(s_lon, s_lat))
    target_tree = cKDTree(ecef_km(t_lon, t_lat))
    # A chord is never longer than the surface distance: this radius misses no pair.
    found = source_tree.sparse_distance_matrix(
        target_tree, max_distance=radius_km + float(extent.max()), output_type="ndarray"
    )
    order = _grouped(found["i"], s_lon.size)
    source = found["i"][order].astype(np.int64)
    target = found["j"][order].astype(np.int64)
    distance = chord_to_km(found["v"][order])
    if local_shapes:
        is_area = np.zeros(s_lon.size, dtype=bool)
        is_area[list(local_shapes)] = True
        on_area = is_area[source]
        if on_area.any():
            s_idx, t_idx = source[on_area], target[on_area]
            x, y = to_local_km(t_lon[t_idx], t_lat[t_idx], s_lon[s_idx], s_lat[s_idx])
            shapes = np.empty(s_lon.size, dtype=object)
            for i, local in local_shapes.items():
                shapes[i] = local
            distance[on_area] = shapely.distance(shapes[s_idx], shapely.points(x, y))
    keep = distance <= radius_km
    return Pairs(source[keep], target[keep], distance[keep])


def count_by(
    source: npt.ArrayLike, codes: npt.ArrayLike, n_sources: int, n_codes: int
) -> npt.NDArray[np.int64]:
    """A table of counts: rows are sources, columns are codes (a category, a severity).

    Parameters
    ----------
    source : array_like of int
        The source of each pair (``Pairs.source``).
    codes : array_like of int
        The code of each pair's target, ``0 <= code < n_codes``.
    n_sources, n_codes : int
        Shape of the table.

    Returns
    -------
    ndarray of int, shape (n_sources, n_codes)

    Examples
    --------
    >>> count_by([0, 0, 1], [2, 2, 0], n_sources=2, n_codes=3).tolist()
    [[0, 0, 2], [1, 0, 0]]
    """
    s = np.asarray(source, dtype=np.int64)
    c = np.asarray(codes, dtype=np.int64)
    flat = np.bincount(s * n_codes + c, minlength=n_sources * n_codes)
    return flat.reshape(n_sources, n_codes).astype(np.int64)


def chord_radius_km(radius_km: float) -> float:
    """The straight-line (chord) distance that matches a surface distance (mean sphere)."""
    return float(2.0 * R_MEAN_KM * np.sin(min(radius_km / (2.0 * R_MEAN_KM), np.pi / 2)))


def count_within(
    source_lon: npt.ArrayLike,
    source_lat: npt.ArrayLike,
    target_lon: npt.ArrayLike,
    target_lat: npt.ArrayLike,
    radius_km: float,
    codes: npt.ArrayLike,
    n_codes: int,
    *,
    source_shapes: Sequence[BaseGeometry | None] | None = None,
) -> npt.NDArray[np.int64]:
    """Targets within ``radius_km`` of each source, counted by the targets' codes.

    The same answer as ``count_by(pairs.source, codes[pairs.target], ...)`` over
    :func:`pairs_within`, without listing the pairs: one k-d tree per code, each asked only
    how many points lie within the radius. For all IDP sites against a quarter of a million
    incidents that is a tenth of the time.

    Parameters
    ----------
    source_lon, source_lat, target_lon, target_lat : array_like
        Degrees.
    radius_km : float
        Search radius.
    codes : array_like of int
        Code of each target, ``0 <= code < n_codes`` (e.g. category x 5 + severity - 1).
    n_codes : int
        Number of codes.
    source_shapes : sequence of shapely geometry or None, optional
        Sources that are areas, measured from their edge (as in :func:`pairs_within`).

    Returns
    -------
    ndarray of int, shape (n_sources, n_codes)

    Examples
    --------
    >>> count_within([25.0], [5.0], [25.05, 25.06, 25.2], [5.0, 5.0, 5.0], 10.0, [1, 1, 0], 2)
    array([[0, 2]])
    """
    from scipy.spatial import cKDTree

    s_lon = np.asarray(source_lon, dtype=np.float64)
    s_lat = np.asarray(source_lat, dtype=np.float64)
    t_lon = np.asarray(target_lon, dtype=np.float64)
    t_lat = np.asarray(target_lat, dtype=np.float64)
    c = np.asarray(codes, dtype=np.int64)
    counts = np.zeros((s_lon.size, n_codes), dtype=np.int64)
    if s_lon.size == 0 or t_lon.size == 0:
        return counts
    is_area = np.array(
        [
            shape is not None and shape.geom_type != "Point"
            for shape in (source_shapes or [None] * s_lon.size)
        ],
        dtype=bool,
    )
    targets = ecef_km(t_lon, t_lat)
    order = np.argsort(c, kind="stable")
    bounds = np.searchsorted(c[order], np.arange(n_codes + 1))
    points = np.nonzero(~is_area)[0]
    areas = np.nonzero(is_area)[0]
    where = ecef_km(s_lon, s_lat)
    local: list[BaseGeometry] = []
    reach = np.empty(0)
    if areas.size:
        assert source_shapes is not None
        local = [to_local_shape(source_shapes[i], s_lon[i], s_lat[i]) for i in areas.tolist()]
        extent = [float(np.hypot(*shapely.get_coordinates(g).T).max()) for g in local]
        reach = np.array([chord_radius_km(radius_km + e) for e in extent])
    chord = chord_radius_km(radius_km)

    def count(code: int) -> None:
        members = order[bounds[code] : bounds[code + 1]]
        if not members.size:
            return
        tree = cKDTree(targets[members], balanced_tree=False, compact_nodes=False)
        if points.size:
            counts[points, code] = tree.query_ball_point(where[points], chord, return_length=True)
        if areas.size:
            # Areas: candidates within the radius plus the area's reach, then measured exactly.
            found = tree.query_ball_point(where[areas], reach)
            for k, (i, shape) in enumerate(zip(areas.tolist(), local, strict=True)):
                near = members[np.asarray(found[k], dtype=np.int64)]
                if near.size:
                    x, y = to_local_km(t_lon[near], t_lat[near], s_lon[i], s_lat[i])
                    km = shapely.distance(shape, shapely.points(x, y))
                    counts[i, code] = int((km <= radius_km).sum())

    # The trees are built and searched without the GIL: two threads share the codes.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(count, range(n_codes)))
    return counts


def within_any(
    source_lon: npt.ArrayLike,
    source_lat: npt.ArrayLike,
    target_lon: npt.ArrayLike,
    target_lat: npt.ArrayLike,
    radius_km: float,
) -> npt.NDArray[np.bool_]:
    """Whether each target lies within ``radius_km`` of any source point.

    Examples
    --------
    >>> within_any([25.0], [5.0], [25.05, 25.2], [5.0, 5.0], 10.0).tolist()
    [True, False]
    """
    from scipy.spatial import cKDTree

    s_lon = np.asarray(source_lon, dtype=np.float64)
    t_lon = np.asarray(target_lon, dtype=np.float64)
    if s_lon.size == 0 or t_lon.size == 0:
        return np.zeros(t_lon.size, dtype=bool)
    tree = cKDTree(ecef_km(s_lon, source_lat))
    distance, _ = tree.query(
        ecef_km(t_lon, target_lat), k=1, distance_upper_bound=chord_radius_km(radius_km)
    )
    return np.asarray(np.isfinite(distance))


def _local_geometries(
    shapes: npt.NDArray[np.object_], lon0: FloatArray, lat0: FloatArray
) -> npt.NDArray[np.object_]:
    """Each shape moved onto the plane tangent at its own origin (vectorised)."""
    coords, index = shapely.get_coordinates(shapes, return_index=True)
    x, y = to_local_km(coords[:, 0], coords[:, 1], lon0[index], lat0[index])
    moved = np.array(shapes, dtype=object, copy=True)
    return np.asarray(shapely.set_coordinates(moved, np.column_stack([x, y])))


def nearest(
    source_lon: npt.ArrayLike,
    source_lat: npt.ArrayLike,
    target_lon: npt.ArrayLike,
    target_lat: npt.ArrayLike,
    *,
    source_shapes: Sequence[BaseGeometry | None] | None = None,
    target_shapes: Sequence[BaseGeometry | None] | None = None,
    candidates: int = 8,
) -> tuple[IntArray, FloatArray]:
    """The nearest target of each source and the geodesic distance between them.

    Point targets are proposed by a k-d tree (the ``candidates`` nearest by straight line);
    every area target is a candidate. For each candidate the closest points of the two
    geometries are found on the plane tangent at the source, and the distance between them
    is measured on the ellipsoid (pyproj); the smallest wins.

    Parameters
    ----------
    source_lon, source_lat, target_lon, target_lat : array_like
        Degrees: the representative point of each source and target.
    source_shapes, target_shapes : sequence of shapely geometry or None, optional
        Sources or targets that are areas (``None`` or a point: the point itself).
    candidates : int, default 8
        Point targets re-measured per source.

    Returns
    -------
    (index, distance_km) : tuple of ndarray
        ``-1`` and ``nan`` where there is no target; 0 km where the geometries touch.

    Examples
    --------
    >>> index, km = nearest([25.0], [5.0], [26.0, 25.1], [5.0, 5.0])
    >>> index.tolist(), round(float(km[0]), 2)
    ([1], 11.09)
    """
    from scipy.spatial import cKDTree

    from geo.analysis.geodesy import geodesic_km, km_per_degree

    s_lon = np.asarray(source_lon, dtype=np.float64)
    s_lat = np.asarray(source_lat, dtype=np.float64)
    t_lon = np.asarray(target_lon, dtype=np.float64)
    t_lat = np.asarray(target_lat, dtype=np.float64)
    n_s, n_t = s_lon.size, t_lon.size
    if n_t == 0 or n_s == 0:
        return np.full(n_s, -1, dtype=np.int64), np.full(n_s, np.nan)

    def geometries(
        lon: FloatArray, lat: FloatArray, shapes: Sequence[BaseGeometry | None] | None
    ) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]:
        geoms = shapely.points(lon, lat)
        is_area = np.zeros(lon.size, dtype=bool)
        for i, shape in enumerate(shapes or ()):
            if shape is not None and shape.geom_type != "Point":
                geoms[i], is_area[i] = shape, True
        return np.asarray(geoms, dtype=object), is_area

    s_geoms, s_area = geometries(s_lon, s_lat, source_shapes)
    t_geoms, t_area = geometries(t_lon, t_lat, target_shapes)

    columns: list[IntArray] = []
    points = np.nonzero(~t_area)[0]
    if points.size:
        k = min(candidates, points.size)
        _, found = cKDTree(ecef_km(t_lon[points], t_lat[points])).query(ecef_km(s_lon, s_lat), k=k)
        columns.append(points[np.asarray(found, dtype=np.int64).reshape(n_s, k)])
    areas = np.nonzero(t_area)[0]
    if areas.size:
        columns.append(np.broadcast_to(areas, (n_s, areas.size)))
    candidate = np.concatenate(columns, axis=1)
    width = candidate.shape[1]
    source = np.repeat(np.arange(n_s), width)
    target = candidate.ravel()

    lon_a, lat_a = s_lon[source], s_lat[source]
    lon_b, lat_b = t_lon[target].copy(), t_lat[target].copy()
    shaped = s_area[source] | t_area[target]
    if shaped.any():
        # Closest points of the two geometries, found on the plane tangent at the source.
        lon0, lat0 = lon_a[shaped], lat_a[shaped]
        here = _local_geometries(s_geoms[source[shaped]], lon0, lat0)
        there = _local_geometries(t_geoms[target[shaped]], lon0, lat0)
        ends = shapely.get_coordinates(shapely.shortest_line(here, there)).reshape(-1, 2, 2)
        kx, ky = km_per_degree(lat0)
        lon_a, lat_a = lon_a.copy(), lat_a.copy()
        lon_a[shaped], lat_a[shaped] = lon0 + ends[:, 0, 0] / kx, lat0 + ends[:, 0, 1] / ky
        lon_b[shaped], lat_b[shaped] = lon0 + ends[:, 1, 0] / kx, lat0 + ends[:, 1, 1] / ky
    km = geodesic_km(lon_a, lat_a, lon_b, lat_b).reshape(n_s, width)
    best = np.argmin(km, axis=1)
    rows = np.arange(n_s)
    return candidate[rows, best].astype(np.int64), km[rows, best]


def pairs_within_lines(
    point_lon: npt.ArrayLike,
    point_lat: npt.ArrayLike,
    lines: Sequence[BaseGeometry] | npt.NDArray[np.object_],
    radius_km: float,
    *,
    point_shapes: Sequence[BaseGeometry | None] | None = None,
) -> Pairs:
    """Every (point, line) pair no farther apart than ``radius_km``: sites and patrol routes.

    Candidates come from an R-tree on the lines (a box in degrees that covers the radius);
    each candidate is measured on the plane tangent at the point, where a route of a few
    dozen kilometres keeps its length to a fraction of a per cent.

    Parameters
    ----------
    point_lon, point_lat : array_like
        Points in degrees (a representative point of an area, see ``point_shapes``).
    lines : sequence of shapely LineString
        Routes in lon/lat.
    radius_km : float
        Search radius.
    point_shapes : sequence of shapely geometry or None, optional
        Areas to measure from instead of the points, as in :func:`pairs_within`.

    Returns
    -------
    Pairs
        ``source`` indexes the points, ``target`` the lines; sorted by point, then line.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> route = LineString([(25.0, 5.05), (25.2, 5.05)])
    >>> pairs = pairs_within_lines([25.1, 25.1], [5.0, 5.5], [route], radius_km=10.0)
    >>> pairs.source.tolist(), [round(d, 2) for d in pairs.distance_km.tolist()]
    ([0], [5.53])
    """
    from geo.analysis.geodesy import degree_margin

    p_lon = np.asarray(point_lon, dtype=np.float64)
    p_lat = np.asarray(point_lat, dtype=np.float64)
    geoms = np.asarray(lines, dtype=object)
    if p_lon.size == 0 or geoms.size == 0:
        return _empty_pairs()
    shapes = np.empty(p_lon.size, dtype=object)
    extent = np.zeros(p_lon.size)
    if point_shapes is not None:
        for i, shape in enumerate(point_shapes):
            if shape is not None and shape.geom_type != "Point":
                shapes[i] = to_local_shape(shape, float(p_lon[i]), float(p_lat[i]))
                coords = shapely.get_coordinates(shapes[i])
                extent[i] = float(np.hypot(coords[:, 0], coords[:, 1]).max(initial=0.0))
    max_lat = float(np.abs(p_lat).max()) + 1.0
    dlon, dlat = degree_margin(radius_km + float(extent.max()), max_lat)
    boxes = shapely.box(p_lon - dlon, p_lat - dlat, p_lon + dlon, p_lat + dlat)
    source, target = shapely.STRtree(geoms).query(boxes, predicate="intersects")
    if source.size == 0:
        return _empty_pairs()
    source, target = source.astype(np.int64), target.astype(np.int64)
    order = np.lexsort((target, source))
    source, target = source[order], target[order]

    # Each candidate line, moved into the frame of its point.
    coords, part = shapely.get_coordinates(geoms[target], return_index=True)
    x, y = to_local_km(coords[:, 0], coords[:, 1], p_lon[source[part]], p_lat[source[part]])
    local_lines = shapely.linestrings(np.column_stack([x, y]), indices=part)
    origin = shapely.points(np.zeros(source.size), np.zeros(source.size))
    from_what = np.where(shapes[source] == None, origin, shapes[source])  # noqa: E711
    distance = np.asarray(shapely.distance(from_what, local_lines), dtype=np.float64)
    keep = distance <= radius_km
    return Pairs(source[keep], target[keep], distance[keep])
