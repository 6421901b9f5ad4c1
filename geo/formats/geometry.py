"""Imported geometries made fit to store: parsed, two-dimensional, in WGS 84, of the
collection's type, valid (repaired where that is safe), and near the mission area.

Everything works on a batch (a numpy array of shapely geometries) at once; only rows with a
problem cost a Python step each.
"""

from __future__ import annotations

import binascii
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyproj import Transformer
from shapely.validation import explain_validity

from geo.formats.crs import SourceCRS, reproject
from geo.formats.problems import ProblemLog, shown
from geo.formats.values import clean_text
from geo.validation import SizeLimits, size_problem

Geometries = np.ndarray[tuple[int], np.dtype[np.object_]]

KM_PER_DEGREE = 111.32
#: A repair is safe when it changes the area by less than this share.
SAFE_AREA_CHANGE = 0.01
_TYPE_IDS = {
    "Point": 0,
    "LineString": 1,
    "Polygon": 3,
    "MultiPoint": 4,
    "MultiLineString": 5,
    "MultiPolygon": 6,
    "GeometryCollection": 7,
}
_NAMES = {v: k for k, v in _TYPE_IDS.items()} | {2: "LinearRing"}
_SINGLE_OF_MULTI = {4: 0, 5: 1, 6: 3}
_MULTI_OF_SINGLE = {0: 4, 1: 5, 3: 6}


def from_wkb(column: pa.Array) -> Geometries:
    """Geometries from a WKB column; ``None`` where a value is missing or cannot be read."""
    values = column.to_numpy(zero_copy_only=False)
    result: Geometries = shapely.from_wkb(values, on_invalid="ignore")
    return result


def from_text(column: pa.Array, row0: int, field: str, log: ProblemLog) -> Geometries:
    """Geometries from WKT or GeoJSON text (one per value)."""
    text = clean_text(column)
    texts = text.to_numpy(zero_copy_only=False).astype(object)
    present = pc.is_valid(text).to_numpy(zero_copy_only=False)
    is_json = pc.fill_null(pc.starts_with(text, "{"), False).to_numpy(zero_copy_only=False)
    result: Geometries = np.full(len(texts), None, dtype=object)
    wkt = present & ~is_json
    if wkt.any():
        result[wkt] = shapely.from_wkt(texts[wkt], on_invalid="ignore")
    if is_json.any():
        result[is_json] = shapely.from_geojson(texts[is_json], on_invalid="ignore")
    unread = np.flatnonzero(present & shapely.is_missing(result))
    if len(unread):
        log.add_rows(
            unread + row0,
            field,
            "not a geometry: write WKT (e.g. POINT (25.1 6.2)) or GeoJSON",
            [texts[i] for i in unread],
        )
    return result


def from_lonlat(longitude: pa.Array, latitude: pa.Array) -> Geometries:
    """Points from longitude and latitude numbers (missing when either is)."""
    lon = longitude.to_numpy(zero_copy_only=False).astype(float)
    lat = latitude.to_numpy(zero_copy_only=False).astype(float)
    missing = np.isnan(lon) | np.isnan(lat)
    points: Geometries = shapely.points(np.where(missing, 0.0, lon), np.where(missing, 0.0, lat))
    points[missing] = None
    return points


def _bbox_distance_km(
    bounds: np.ndarray[Any, Any], area: tuple[float, float, float, float]
) -> np.ndarray[Any, Any]:
    x0, y0, x1, y1 = area
    dx = np.maximum(0.0, np.maximum(x0 - bounds[:, 2], bounds[:, 0] - x1))
    dy = np.maximum(0.0, np.maximum(y0 - bounds[:, 3], bounds[:, 1] - y1))
    mid = np.radians(np.clip((bounds[:, 1] + bounds[:, 3]) / 2, -89.0, 89.0))
    distance: np.ndarray[Any, Any] = np.hypot(dx * np.cos(mid), dy) * KM_PER_DEGREE
    return distance


def _fits_swapped(bounds: np.ndarray[Any, Any], area: tuple[float, float, float, float]) -> Any:
    swapped = bounds[:, [1, 0, 3, 2]]
    return _bbox_distance_km(swapped, area) <= 0.0


def prepare(
    geometries: Geometries,
    *,
    row0: int,
    field: str,
    source_crs: SourceCRS | None,
    transformer: Transformer | None,
    allowed: tuple[str, ...],
    mission_bbox: tuple[float, float, float, float] | None,
    outside_km: float | None,
    log: ProblemLog,
    limits: SizeLimits | None = None,
) -> Geometries:
    """Check and fix one batch of geometries; refused ones become ``None`` (with a problem).

    Parameters
    ----------
    geometries : numpy array of shapely geometries or None
        As read from the file, in its CRS.
    row0 : int
        Row number of the first geometry.
    field : str
        Where the geometry came from in the file (``geometry``, ``wkt``, ``lat/lon``...).
    source_crs, transformer
        The file's CRS and the transformer to WGS 84 (``None`` when already WGS 84).
    allowed : tuple of str
        GeoJSON types the collection stores; single-part multi geometries become single.
    mission_bbox : tuple, optional
        The mission area; features more than ``outside_km`` away are refused.
    log : ProblemLog
        Where problems (and repairs, as warnings) go.
    limits : SizeLimits, optional
        The largest geometry accepted; bigger ones are refused before any other work on them.

    Returns
    -------
    numpy array
        WGS 84, 2D, valid geometries of an allowed type, or ``None`` for refused rows.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> log = ProblemLog()
    >>> out = prepare(np.array([shapely.Point(25, 6, 100), None], dtype=object), row0=1,
    ...               field="geometry", source_crs=None, transformer=None, allowed=("Point",),
    ...               mission_bbox=(22, 2, 30, 10), outside_km=500, log=log)
    >>> out[0].wkt, out[1], log.items[0].message
    ('POINT (25 6)', None, 'no geometry: every record needs a location')
    """
    result = geometries.copy()
    missing = shapely.is_missing(result)
    present = ~missing
    empty = np.zeros(len(result), dtype=bool)
    empty[present] = shapely.is_empty(result[present])
    refused = missing | empty
    if refused.any():
        log.add_rows(
            np.flatnonzero(refused) + row0, field, "no geometry: every record needs a location"
        )
        result[refused] = None
    live = ~refused
    if limits is not None:
        live = _check_size(result, live, row0, field, limits, log)
    if not live.any():
        return result
    if shapely.has_z(result[live]).any():
        result[live] = shapely.force_2d(result[live])
    result[live] = reproject(result[live], transformer)
    live = _check_coordinates(result, live, row0, field, source_crs, mission_bbox, outside_km, log)
    live = _coerce_types(result, live, row0, field, allowed, log)
    _repair(result, live, row0, field, log)
    return result


def _check_size(
    result: Geometries, live: Any, row0: int, field: str, limits: SizeLimits, log: ProblemLog
) -> Any:
    """Refuse rows whose geometry has more vertices, parts or holes than ``limits``."""
    indices = np.flatnonzero(live)
    vertices = shapely.get_num_coordinates(result[indices])
    parts = shapely.get_num_geometries(result[indices])
    suspects = indices[(vertices > min(limits.vertices, limits.holes + 4)) | (parts > limits.parts)]
    live = live.copy()
    for index in suspects.tolist():
        problem = size_problem(result[index], limits)
        if problem is not None:
            log.add_rows(np.array([index + row0]), field, problem)
            result[index] = None
            live[index] = False
    return live


def _check_coordinates(
    result: Geometries,
    live: Any,
    row0: int,
    field: str,
    source_crs: SourceCRS | None,
    mission_bbox: tuple[float, float, float, float] | None,
    outside_km: float | None,
    log: ProblemLog,
) -> Any:
    bounds = np.full((len(result), 4), np.nan)
    bounds[live] = shapely.bounds(result[live])
    checked = _check_bounds(bounds, live, row0, field, source_crs, mission_bbox, outside_km, log)
    result[~checked] = None
    return checked


def _check_bounds(
    bounds: np.ndarray[Any, Any],
    live: Any,
    row0: int,
    field: str,
    source_crs: SourceCRS | None,
    mission_bbox: tuple[float, float, float, float] | None,
    outside_km: float | None,
    log: ProblemLog,
) -> Any:
    """Refuse rows whose bounds are not finite, not degrees, or far from the mission area."""
    live = live.copy()
    crs = source_crs.label if source_crs else "WGS 84"
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(bounds).all(axis=1)
        bad = live & ~finite
        if bad.any():
            log.add_rows(np.flatnonzero(bad) + row0, field, "coordinates must be finite numbers")
            live &= ~bad
        in_range = (
            (bounds[:, 0] >= -180)
            & (bounds[:, 2] <= 180)
            & (bounds[:, 1] >= -90)
            & (bounds[:, 3] <= 90)
        )
    out = live & ~in_range
    for index in np.flatnonzero(out).tolist():
        box = bounds[index]
        if np.abs(box).max() > 1000:
            message = (
                f"coordinates like {box[0]:.0f}, {box[1]:.0f} are not degrees: the file is read "
                f"as {crs} but its numbers look projected (metres); give source_crs, e.g. "
                "EPSG:32635"
            )
        elif (np.abs(box[[0, 2]]) <= 90).all() and (np.abs(box[[1, 3]]) <= 180).all():
            message = (
                "coordinates out of range; they look like latitude, longitude: longitude (x) "
                "comes first"
            )
        else:
            message = (
                "coordinates out of range: longitude must be within -180..180 and latitude "
                "within -90..90"
            )
        log.add_rows(np.array([index + row0]), field, message, [f"{box[0]:.6g}, {box[1]:.6g}"])
    live &= ~out
    if mission_bbox is None or outside_km is None:
        return live
    with np.errstate(invalid="ignore"):
        distance = _bbox_distance_km(bounds, mission_bbox)
        far = live & (distance > outside_km)
    if far.any():
        swapped = _fits_swapped(bounds, mission_bbox)
        for index in np.flatnonzero(far).tolist():
            km, box = distance[index], bounds[index]
            if swapped[index]:
                message = (
                    f"{km:,.0f} km outside the mission area, but inside it with latitude and "
                    "longitude swapped: check which column is which"
                )
            else:
                message = (
                    f"{km:,.0f} km outside the mission area: is the CRS right? The file is "
                    f"read as {crs}; give source_crs if that is wrong"
                )
            log.add_rows(np.array([index + row0]), field, message, [f"{box[0]:.6f}, {box[1]:.6f}"])
        live &= ~far
    return live


def _coerce_types(
    result: Geometries, live: Any, row0: int, field: str, allowed: tuple[str, ...], log: ProblemLog
) -> Any:
    allowed_ids = {_TYPE_IDS[name] for name in allowed}
    indices = np.flatnonzero(live)
    types = shapely.get_type_id(result[indices])
    parts = shapely.get_num_geometries(result[indices])
    # One-part multi geometries become single where single ones are stored (a shapefile cannot
    # tell a polygon from a one-part multipolygon).
    for multi_kind, single_kind in _SINGLE_OF_MULTI.items():
        if single_kind not in allowed_ids:
            continue
        one = (types == multi_kind) & (parts == 1)
        if one.any():
            result[indices[one]] = shapely.get_geometry(result[indices[one]], 0)
            types[one] = single_kind
    polygonal = np.isin(types, [3, 6])
    if polygonal.any():
        # Exterior rings counter-clockwise, as RFC 7946 (GeoJSON) asks.
        result[indices[polygonal]] = shapely.orient_polygons(
            result[indices[polygonal]], exterior_cw=False
        )
    wrong = ~np.isin(types, list(allowed_ids))
    if not wrong.any():
        return live
    for position in np.flatnonzero(wrong).tolist():
        index = int(indices[position])
        kind = int(types[position])
        multi = _MULTI_OF_SINGLE.get(kind)
        if kind == 5 and 1 in allowed_ids:
            merged = shapely.line_merge(result[index])
            if shapely.get_type_id(merged) == 1:
                result[index] = merged
                continue
        if multi in allowed_ids:
            continue  # promoted to multi-part when stored
        log.add_rows(
            np.array([index + row0]),
            field,
            f"a {_NAMES.get(kind, 'geometry')} cannot be stored here; this collection takes "
            + " or ".join(allowed),
        )
        result[index] = None
        live[index] = False
    return live


def _repair(result: Geometries, live: Any, row0: int, field: str, log: ProblemLog) -> None:
    indices = np.flatnonzero(live)
    valid = shapely.is_valid(result[indices])
    if valid.all():
        return
    for index in indices[~valid].tolist():
        broken = result[index]
        reason = explain_validity(broken)
        fixed = shapely.make_valid(broken, method="structure", keep_collapsed=False)
        polygonal = shapely.get_type_id(broken) in (3, 6) and shapely.get_type_id(fixed) in (3, 6)
        before, after = abs(float(shapely.area(broken))), float(shapely.area(fixed))
        safe = (
            polygonal
            and not shapely.is_empty(fixed)
            and abs(after - before) <= SAFE_AREA_CHANGE * max(after, before, 1e-12)
        )
        if safe:
            result[index] = fixed
            log.add_rows(
                np.array([index + row0]),
                field,
                f"invalid geometry repaired ({reason}); check the shape",
                severity="warning",
            )
        else:
            result[index] = None
            log.add_rows(
                np.array([index + row0]),
                field,
                f"invalid geometry that cannot be repaired safely: {reason}; fix it in the "
                "source (no self-intersections, rings closed)",
                [shown(shapely.to_wkt(broken, rounding_precision=6))],
            )


_POINT_HEADER = b"\x01\x01\x00\x00\x00"
_POINT_WKB = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])


def _fixed_width(column: pa.Array, width: int) -> memoryview | None:
    """The values of a binary or text column laid end to end (a view, not a copy), when every
    one is present and ``width`` bytes long; else ``None``."""
    if column.null_count or len(column) == 0:
        return None
    large = pa.types.is_large_binary(column.type) or pa.types.is_large_string(column.type)
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64 if large else np.int32)
    offsets = offsets[column.offset : column.offset + len(column) + 1]
    if not (np.diff(offsets) == width).all():
        return None
    return memoryview(column.buffers()[2])[offsets[0] : offsets[-1]]


def simple_points(column: pa.Array) -> np.ndarray[Any, Any] | None:
    """Coordinates (n, 2) when every value is a 2D little-endian WKB point, else ``None``.

    The common case (incidents from a GeoPackage) then skips building a shapely object per row.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        return None
    data = _fixed_width(column, _POINT_WKB.itemsize)
    if data is None:
        return None
    records = np.frombuffer(data, dtype=_POINT_WKB)
    if not ((records["order"] == 1).all() and (records["kind"] == 1).all()):
        return None
    return np.column_stack([records["x"], records["y"]])


def prepare_points(
    coords: np.ndarray[Any, Any],
    *,
    row0: int,
    field: str,
    source_crs: SourceCRS | None,
    transformer: Transformer | None,
    mission_bbox: tuple[float, float, float, float] | None,
    outside_km: float | None,
    log: ProblemLog,
) -> pa.Array:
    """``prepare`` for points given as coordinates, straight to hex EWKB; NaN is missing."""
    x, y = coords[:, 0].astype(float), coords[:, 1].astype(float)
    missing = np.isnan(x) | np.isnan(y)
    if missing.any():
        log.add_rows(
            np.flatnonzero(missing) + row0, field, "no geometry: every record needs a location"
        )
    if transformer is not None:
        x, y = transformer.transform(x, y)
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    bounds = np.column_stack([x, y, x, y])
    live = ~missing
    live = _check_bounds(bounds, live, row0, field, source_crs, mission_bbox, outside_km, log)
    return _points_hex(x, y, live)


def _points_hex(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], live: Any) -> pa.Array:
    records = np.zeros(len(x), dtype=_POINT_EWKB)
    records["order"] = 1
    records["kind"] = 0x20000001
    records["srid"] = 4326
    records["x"] = x
    records["y"] = y
    text = binascii.hexlify(records.tobytes())
    width = _POINT_EWKB.itemsize * 2
    values = pa.array(np.frombuffer(text, dtype=f"S{width}"), pa.binary(width)).cast(pa.string())
    return pc.if_else(pa.array(live), values, pa.scalar(None, pa.string()))


_POINT_EWKB = np.dtype(
    [("order", "u1"), ("kind", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")]
)


def coordinates_of_ewkb_hex(column: pa.Array) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """x and y of a hex EWKB column of points, NaN where a value is missing (or is not a
    point); the 2D points ``prepare_points`` writes are decoded without parsing each value.

    Examples
    --------
    >>> hexes = _points_hex(np.array([24.5, 0.0]), np.array([6.5, 0.0]), [True, False])
    >>> coordinates_of_ewkb_hex(hexes)
    (array([24.5,  nan]), array([6.5, nan]))
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    present = pc.is_valid(column).to_numpy(zero_copy_only=False)
    x, y = np.full(len(column), np.nan), np.full(len(column), np.nan)
    values = column.filter(pa.array(present))
    if len(values) == 0:
        return x, y
    text = _fixed_width(values, _POINT_EWKB.itemsize * 2)
    if text is not None:
        records = np.frombuffer(binascii.unhexlify(text), dtype=_POINT_EWKB)
        if (records["order"] == 1).all() and (records["kind"] == 0x20000001).all():
            x[present], y[present] = records["x"], records["y"]
            return x, y
    shapes = shapely.from_wkb(values.to_numpy(zero_copy_only=False))
    x[present], y[present] = shapely.get_x(shapes), shapely.get_y(shapes)
    return x, y


def to_ewkb_hex(geometries: Geometries) -> pa.Array:
    """Hex EWKB with SRID 4326: PostGIS reads it straight into a geometry column."""
    with_srid = shapely.set_srid(geometries, 4326)
    hexes = shapely.to_wkb(with_srid, hex=True, include_srid=True)
    return pa.array(hexes, pa.string())
