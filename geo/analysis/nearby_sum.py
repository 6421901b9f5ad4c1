"""Decayed sums over the points near each site, without listing the pairs (numba).

Exposure sums, for every IDP site, the weight of each incident within a radius, decayed with
distance. On a mission's archive that is millions of (site, incident) pairs: listing them
(:func:`geo.analysis.proximity.pairs_within`) costs seconds in memory traffic alone. Here the
incidents are sorted into buckets one radius wide, and a compiled loop (numba) visits, for
each site, the incidents of the 25 buckets (half a radius wide) around it, measures each on the ellipsoid
exactly as :func:`~geo.analysis.proximity.pairs_within` does (the chord between Earth-centred
points turned into the arc), adds the contribution and keeps the largest few: the same
numbers as the pairs give, in a fraction of the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from geo.analysis.geodesy import R_MEAN_KM, ecef_km, km_per_degree

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class NearbySums:
    """Per site: the sum, how many points count, and the largest contributions.

    Attributes
    ----------
    total : ndarray
        Sum of ``weight * 0.5 ** (distance / half_distance)`` over the points within the
        radius.
    count : ndarray of int
        Points within the radius with a positive contribution.
    top_index, top_distance_km, top_contribution : ndarray, shape (sites, top)
        The largest contributions, largest first; index -1 where there are fewer.
    """

    total: FloatArray
    count: IntArray
    top_index: IntArray
    top_distance_km: FloatArray
    top_contribution: FloatArray


@njit(cache=True, nogil=True)
def _sums(
    site_xyz: Any,
    site_cell: Any,
    point_xyz: Any,
    weight: Any,
    starts: Any,
    columns: int,
    rows: int,
    radius_km: float,
    half_distance_km: float,
    top: int,
    r_mean: float,
) -> Any:
    n_sites = site_xyz.shape[0]
    total = np.zeros(n_sites)
    count = np.zeros(n_sites, dtype=np.int64)
    top_index = np.full((n_sites, max(top, 1)), -1, dtype=np.int64)
    top_distance = np.full((n_sites, max(top, 1)), np.nan)
    top_value = np.zeros((n_sites, max(top, 1)))
    # The chord of an arc of radius_km: no pair farther than this can count.
    chord_max = 2.0 * r_mean * np.sin(min(radius_km / (2.0 * r_mean), np.pi / 2))
    chord_max2 = chord_max * chord_max * (1.0 + 1e-12)
    ln2 = np.log(2.0)
    inv_24r2 = 1.0 / (24.0 * r_mean * r_mean)
    for s in range(n_sites):
        sx, sy, sz = site_xyz[s, 0], site_xyz[s, 1], site_xyz[s, 2]
        column, row = site_cell[s, 0], site_cell[s, 1]
        for dr in range(-2, 3):
            r = row + dr
            if r < 0 or r >= rows:
                continue
            for dc in range(-2, 3):
                c = column + dc
                if c < 0 or c >= columns:
                    continue
                bucket = r * columns + c
                for p in range(starts[bucket], starts[bucket + 1]):
                    dx = point_xyz[p, 0] - sx
                    dy = point_xyz[p, 1] - sy
                    dz = point_xyz[p, 2] - sz
                    chord2 = dx * dx + dy * dy + dz * dz
                    if chord2 > chord_max2:
                        continue
                    chord = np.sqrt(chord2)
                    # The arc 2R asin(c / 2R) by its series c + c³/24R²: the next term is below a
                    # micrometre up to 200 km.
                    distance = chord * (1.0 + chord2 * inv_24r2)
                    if distance > radius_km:
                        continue
                    value = weight[p] * np.exp(-ln2 * distance / half_distance_km)
                    if value <= 0.0:
                        continue
                    total[s] += value
                    count[s] += 1
                    if top > 0 and value > top_value[s, top - 1]:
                        k = top - 1
                        while k > 0 and top_value[s, k - 1] < value:
                            top_value[s, k] = top_value[s, k - 1]
                            top_index[s, k] = top_index[s, k - 1]
                            top_distance[s, k] = top_distance[s, k - 1]
                            k -= 1
                        top_value[s, k] = value
                        top_index[s, k] = p
                        top_distance[s, k] = distance
    return total, count, top_index, top_distance, top_value


def nearby_sums(
    site_lon: npt.ArrayLike,
    site_lat: npt.ArrayLike,
    point_lon: npt.ArrayLike,
    point_lat: npt.ArrayLike,
    weight: npt.ArrayLike,
    radius_km: float,
    half_distance_km: float,
    top: int = 3,
) -> NearbySums:
    """For each site, the sum of ``weight * 0.5 ** (distance / half_distance_km)`` over the
    points within ``radius_km`` (geodesic, as :func:`geo.analysis.proximity.pairs_within`
    measures), and the ``top`` largest terms.

    Parameters
    ----------
    site_lon, site_lat : array_like
        Sites (points), degrees.
    point_lon, point_lat, weight : array_like
        Points and their weight before the distance decay.
    radius_km, half_distance_km : float
        Points farther do not count; distance at which a point counts half.
    top : int, default 3
        Largest contributions kept per site.

    Returns
    -------
    NearbySums

    Examples
    --------
    >>> sums = nearby_sums([25.0], [5.0], [25.0, 25.0451, 26.0], [5.0, 5.0, 5.0], [2.0, 2.0, 2.0],
    ...                    radius_km=10.0, half_distance_km=5.0)
    >>> [round(v, 3) for v in sums.total.tolist()], sums.count.tolist(), sums.top_index.tolist()
    ([3.0], [2], [[0, 1, -1]])
    """
    s_lon = np.asarray(site_lon, dtype=np.float64)
    s_lat = np.asarray(site_lat, dtype=np.float64)
    p_lon = np.asarray(point_lon, dtype=np.float64)
    p_lat = np.asarray(point_lat, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    n_sites, keep = s_lon.size, max(top, 1)
    if n_sites == 0 or p_lon.size == 0:
        return NearbySums(
            np.zeros(n_sites),
            np.zeros(n_sites, dtype=np.int64),
            np.full((n_sites, keep), -1, dtype=np.int64),
            np.full((n_sites, keep), np.nan),
            np.zeros((n_sites, keep)),
        )
    # Buckets at least one radius wide everywhere in the data (longitudes shrink poleward).
    widest_lat = min(89.0, float(max(np.abs(p_lat).max(), np.abs(s_lat).max())) + 1.0)
    kx, _ = km_per_degree(widest_lat)
    ky = float(km_per_degree(0.0)[1])
    # Half a radius wide: the 5 x 5 buckets around a site cover less ground than 3 x 3 of a
    # radius would, so fewer points are measured for nothing.
    step_lon = radius_km / float(kx) * 1.001 / 2
    step_lat = radius_km / ky * 1.001 / 2
    lon0 = float(min(p_lon.min(), s_lon.min()))
    lat0 = float(min(p_lat.min(), s_lat.min()))
    columns = int((max(p_lon.max(), s_lon.max()) - lon0) // step_lon) + 1
    rows = int((max(p_lat.max(), s_lat.max()) - lat0) // step_lat) + 1
    p_col = ((p_lon - lon0) // step_lon).astype(np.int64)
    p_row = ((p_lat - lat0) // step_lat).astype(np.int64)
    bucket = p_row * columns + p_col
    order = np.argsort(bucket, kind="stable")
    starts = np.searchsorted(bucket[order], np.arange(rows * columns + 1)).astype(np.int64)
    site_cell = np.column_stack(
        [
            ((s_lon - lon0) // step_lon).astype(np.int64),
            ((s_lat - lat0) // step_lat).astype(np.int64),
        ]
    )
    total, count, top_index, top_distance, top_value = _sums(
        np.ascontiguousarray(ecef_km(s_lon, s_lat)),
        site_cell,
        np.ascontiguousarray(ecef_km(p_lon[order], p_lat[order])),
        np.ascontiguousarray(w[order]),
        starts,
        columns,
        rows,
        float(radius_km),
        float(half_distance_km),
        int(top),
        float(R_MEAN_KM),
    )
    top_index = np.where(top_index >= 0, order[np.maximum(top_index, 0)], -1)
    return NearbySums(total, count, top_index, top_distance, top_value)
