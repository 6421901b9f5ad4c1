"""Hot spots: Getis-Ord Gi* on cell counts, with false-discovery control, and their trend.

Gi* asks, for each cell, whether the cell and its neighbours together hold more (or fewer)
incidents than the study area's average would give them, in standard deviations: a z-score.
With thousands of cells tested at once some pass by chance, so p-values are adjusted with
the Benjamini-Hochberg procedure and a cell is a hot spot only when its adjusted p-value
(``q``) is below ``alpha``.

Emerging hot spots run Gi* on each of several equal windows (the current one and the ones
before it) over the same cells and compare them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Trend = Literal["new", "intensifying", "persistent", "diminishing"]
TRENDS: tuple[Trend, ...] = ("new", "intensifying", "persistent", "diminishing")


@dataclass(frozen=True)
class Hotspots:
    """Gi* of every cell.

    Attributes
    ----------
    z : ndarray
        Gi* z-score; positive where the neighbourhood holds more than the average.
    p : ndarray
        Two-sided p-value of ``z`` under the normal approximation.
    q : ndarray
        ``p`` adjusted for the false-discovery rate (Benjamini-Hochberg).
    hot, cold : ndarray of bool
        ``q < alpha`` with ``z > 0`` (hot) or ``z < 0`` (cold).
    confidence : ndarray of int
        99, 95 or 90 where ``q`` is below 0.01, 0.05 or 0.10; 0 otherwise.
    alpha : float
        The false-discovery rate used for ``hot`` and ``cold``.
    """

    z: FloatArray
    p: FloatArray
    q: FloatArray
    hot: BoolArray
    cold: BoolArray
    confidence: npt.NDArray[np.int64]
    alpha: float


def getis_ord_gi_star(
    values: npt.ArrayLike,
    neighbours: tuple[npt.NDArray[np.int64], ...],
    *,
    alpha: float = 0.05,
) -> Hotspots:
    """Getis-Ord Gi* with binary weights over each cell and its neighbours.

    For cell ``i`` with neighbourhood ``N(i)`` (the cell itself and its neighbours, ``W_i``
    cells), over ``n`` cells with mean ``x̄`` and standard deviation ``S``::

        z_i = (sum_{j in N(i)} x_j - x̄ W_i) / (S * sqrt((n W_i - W_i²) / (n - 1)))

    Parameters
    ----------
    values : array_like
        One count (or weight) per cell of the study area; cells with nothing count 0 and
        must be included, or the average is wrong.
    neighbours : (i, j) arrays
        Neighbouring positions, both ways, without ``i == j`` (the cell itself is added).
    alpha : float, default 0.05
        False-discovery rate for the ``hot`` and ``cold`` flags.

    Returns
    -------
    Hotspots

    Examples
    --------
    A line of five cells, each the neighbour of the next, with a peak in the middle:

    >>> i = np.array([0, 1, 1, 2, 2, 3, 3, 4]); j = np.array([1, 0, 2, 1, 3, 2, 4, 3])
    >>> result = getis_ord_gi_star([0, 1, 10, 1, 0], (i, j))
    >>> [round(z, 2) for z in result.z.tolist()]
    [-0.81, 0.81, 1.02, 0.81, -0.81]
    """
    from scipy.stats import false_discovery_control, norm

    x = np.asarray(values, dtype=np.float64)
    n = x.size
    i, j = neighbours
    if n < 3:
        raise ValueError("Gi* needs at least three cells")
    local_sum = x + (np.bincount(i, weights=x[j], minlength=n) if len(i) else 0.0)
    weight = 1.0 + (np.bincount(i, minlength=n) if len(i) else 0.0)
    mean = x.mean()
    s = float(np.sqrt(max((x**2).mean() - mean**2, 0.0)))
    spread = s * np.sqrt(np.maximum(n * weight - weight**2, 0.0) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, (local_sum - mean * weight) / spread, 0.0)
    p = 2.0 * norm.sf(np.abs(z))
    q = false_discovery_control(p, method="bh")
    significant = q < alpha
    confidence = np.select([q < 0.01, q < 0.05, q < 0.10], [99, 95, 90], default=0)
    return Hotspots(
        z=z,
        p=p,
        q=q,
        hot=significant & (z > 0),
        cold=significant & (z < 0),
        confidence=confidence.astype(np.int64),
        alpha=alpha,
    )


@dataclass(frozen=True)
class EmergingHotspots:
    """Gi* per window and the trend of each cell.

    Attributes
    ----------
    windows : list of Hotspots
        Oldest first; the last is the current window.
    trend : ndarray of object
        ``"new"``, ``"intensifying"``, ``"persistent"``, ``"diminishing"`` or ``None``.
    """

    windows: list[Hotspots]
    trend: npt.NDArray[np.object_]

    @property
    def current(self) -> Hotspots:
        return self.windows[-1]


def classify_emerging(
    hot: BoolArray, z: FloatArray, *, z_change: float = 1.0
) -> npt.NDArray[np.object_]:
    """The trend of each cell from its hot-spot flags and z-scores per window.

    Parameters
    ----------
    hot : ndarray of bool, shape (windows, cells)
        Significant hot spot in each window, oldest first.
    z : ndarray, shape (windows, cells)
        Gi* z-score in each window.
    z_change : float, default 1.0
        Rise or fall of the current z over the mean of the earlier windows that counts as a
        change of intensity.

    Returns
    -------
    ndarray of object
        Per cell:

        - ``"new"``: hot now, in none of the earlier windows;
        - ``"intensifying"``: hot now and before, z up by at least ``z_change``;
        - ``"persistent"``: hot now and before, z within ``z_change``;
        - ``"diminishing"``: hot before and either no longer hot or z down by at least
          ``z_change``;
        - ``None``: never hot.

    Examples
    --------
    >>> hot = np.array([[False, True, True, False], [True, True, True, False]])
    >>> z = np.array([[0.0, 3.0, 5.0, 0.0], [4.0, 4.5, 3.0, 0.0]])
    >>> classify_emerging(hot, z).tolist()
    ['new', 'intensifying', 'diminishing', None]
    """
    hot_now, hot_before = hot[-1], hot[:-1].any(axis=0)
    change = z[-1] - z[:-1].mean(axis=0)
    trend = np.full(hot.shape[1], None, dtype=object)
    trend[hot_before] = "persistent"
    trend[hot_before & (change >= z_change)] = "intensifying"
    trend[hot_before & ((change <= -z_change) | ~hot_now)] = "diminishing"
    trend[hot_now & ~hot_before] = "new"
    return trend


def emerging_hotspots(
    counts: npt.ArrayLike,
    neighbours: tuple[npt.NDArray[np.int64], ...],
    *,
    alpha: float = 0.05,
    z_change: float = 1.0,
) -> EmergingHotspots:
    """Gi* on each window of counts over the same cells, and the trend of each cell.

    Parameters
    ----------
    counts : array_like, shape (windows, cells)
        Counts per cell in each window, oldest first; the last row is the current window.
    neighbours : (i, j) arrays
        As for :func:`getis_ord_gi_star`.
    alpha : float, default 0.05
        False-discovery rate, in each window.
    z_change : float, default 1.0
        See :func:`classify_emerging`.

    Returns
    -------
    EmergingHotspots
    """
    table = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    if table.shape[0] < 2:
        raise ValueError("emerging hot spots need the current window and at least one before")
    windows = [getis_ord_gi_star(row, neighbours, alpha=alpha) for row in table]
    hot = np.array([w.hot for w in windows])
    z = np.array([w.z for w in windows])
    return EmergingHotspots(windows, classify_emerging(hot, z, z_change=z_change))
