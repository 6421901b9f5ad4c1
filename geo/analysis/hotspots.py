"""Hot spots: Getis-Ord Gi* on cell counts, with permutation inference and false-discovery
control, and their evolution over time (ESRI's Emerging Hot Spot Analysis).

Gi* asks, for each cell, whether the cell and its neighbours together hold more (or fewer)
incidents than the study area's average would give them, in standard deviations: a z-score.

**Inference.** Incident counts per cell are sparse and skewed (most cells hold nothing, a few
hold many), and there the normal approximation of Gi* fails: one incident gives its cell and
its six neighbours a z above 20. Significance is therefore judged by *conditional
permutation*, as esda (PySAL) does by default: each cell keeps its own count, its neighbours'
counts are drawn at random (without replacement) from the other cells ``permutations`` times
(999 by default, seeded, so the answer is reproducible), and the pseudo p-value is the share
of draws at least as extreme as what was observed. Ties count against significance: a
neighbourhood that every draw reproduces exactly is not significant. 999 draws cannot give a
p-value below 0.001, which the false-discovery control over thousands of cells may need:
cells that no draw matched and that the control would still reject are drawn again with ten
and a hundred times as many (at most :data:`MAX_PERMUTATIONS`). The draws depend only on
a cell's own count and its number of neighbours, so cells alike share one set of draws: the
test costs the number of distinct (count, neighbours) pairs, not the number of cells.

With thousands of cells tested at once some pass by chance, so p-values are adjusted with the
Benjamini-Hochberg procedure and a cell is a hot spot only when its adjusted p-value (``q``)
is below ``alpha``. And no cell is tested at all below :data:`MIN_INCIDENTS` incidents in
the study area (ESRI's guidance for Hot Spot Analysis: at least 30 features): the answer is
then "too few incidents to test", not a map.

**Emerging hot spots** run Gi* on each time step (oldest first, the last is the current one)
over the same cells, test the trend of each cell's z-scores with the Mann-Kendall test
(``pymannkendall``) and classify each cell as ESRI's Emerging Hot Spot Analysis does
(:func:`classify_esri`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Fewest incidents in the study area (all time steps together, for emerging hot spots)
#: before any cell is tested; below it the answer is "too few incidents to test".
MIN_INCIDENTS = 30
#: Random draws of each neighbourhood in the permutation test.
PERMUTATIONS = 999
#: The seed of those draws: the same data always gives the same answer.
SEED = 26_001

#: Share of time steps that must be significant for a persistent-type pattern (ESRI: 90 %).
MOSTLY = 0.9

Trend = Literal["new", "intensifying", "persistent", "diminishing"]
#: The early-warning comparison of the current window with the ones before
#: (:func:`compare_windows`, used by the scheduled hot-spot alerts).
TRENDS: tuple[Trend, ...] = ("new", "intensifying", "persistent", "diminishing")

#: ESRI's Emerging Hot Spot Analysis patterns, in the order they are tested.
KINDS = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "oscillating",
    "historical",
)
PATTERNS: tuple[str, ...] = tuple(
    f"{kind}_{side}_spot" for side in ("hot", "cold") for kind in KINDS
)


@dataclass(frozen=True)
class Hotspots:
    """Gi* of every cell.

    Attributes
    ----------
    z : ndarray
        Gi* z-score; positive where the neighbourhood holds more than the average. It
        measures intensity; significance comes from ``p``.
    p : ndarray
        Two-sided pseudo p-value from the conditional permutation test (twice the smaller
        one-sided share, at most 1); the normal p-value of ``z`` when ``permutations`` is 0.
    q : ndarray
        ``p`` adjusted for the false-discovery rate (Benjamini-Hochberg).
    hot, cold : ndarray of bool
        ``q < alpha`` with ``z > 0`` (hot) or ``z < 0`` (cold).
    confidence : ndarray of int
        99, 95 or 90 where ``q`` is below 0.01, 0.05 or 0.10; 0 otherwise.
    alpha : float
        The false-discovery rate used for ``hot`` and ``cold``.
    p_sim : ndarray
        One-sided pseudo p-value in the direction of the observed value (esda's ``p_sim``,
        with ties counted against significance).
    permutations : int
        Draws per neighbourhood; 0 for the normal approximation.
    tested : bool
        False when the study area held fewer than ``min_incidents``: nothing is significant.
    """

    z: FloatArray
    p: FloatArray
    q: FloatArray
    hot: BoolArray
    cold: BoolArray
    confidence: npt.NDArray[np.int64]
    alpha: float
    p_sim: FloatArray
    permutations: int
    tested: bool = True


def _draw_distinct(
    rng: np.random.Generator, population: int, k: int, draws: int
) -> npt.NDArray[np.int64]:
    """``draws`` rows of ``k`` distinct integers in ``[0, population)``."""
    picked = rng.integers(0, population, size=(draws, k))
    redraw = np.arange(draws)
    while k > 1 and redraw.size:
        part = picked[redraw]
        repeated = np.zeros(redraw.size, dtype=bool)
        for a in range(k):
            for b in range(a + 1, k):
                repeated |= part[:, a] == part[:, b]
        redraw = redraw[repeated]
        picked[redraw] = rng.integers(0, population, size=(redraw.size, k))
    return picked


def conditional_permutation(
    values: FloatArray,
    local_sum: FloatArray,
    cardinality: npt.NDArray[np.int64],
    *,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
    cells: npt.NDArray[np.int64] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """One-sided pseudo p-values of each cell's local sum, high side and low side.

    Parameters
    ----------
    values : ndarray
        One value per cell.
    local_sum : ndarray
        The cell's value plus its neighbours' (the Gi* numerator).
    cardinality : ndarray of int
        Neighbours of each cell (the cell itself not counted).
    permutations : int
        Draws of each neighbourhood.
    seed : int
        Seed of the random generator.
    cells : ndarray of int, optional
        Only these cells (the others get 1).

    Returns
    -------
    p_high, p_low : ndarray
        ``(1 + draws >= observed) / (1 + permutations)`` and the same with ``<=``.
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    ordered = np.sort(x)
    p_high = np.ones(n)
    p_low = np.ones(n)
    chosen = np.arange(n) if cells is None else np.asarray(cells, dtype=np.int64)
    if chosen.size == 0:
        return p_high, p_low
    rng = np.random.default_rng(seed)
    # Every neighbourhood of k cells uses the same random rows of k distinct positions (as
    # esda does); cells with the same value and the same k face the same null distribution
    # and are tested against one set of sums.
    pairs, group = np.unique(
        np.column_stack([x[chosen], cardinality[chosen]]), axis=0, return_inverse=True
    )
    group = group.ravel()
    members = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[members], np.arange(pairs.shape[0] + 1)).astype(np.int64)
    tolerance = 1e-9 * max(1.0, float(np.abs(x).sum()))
    cells_in_order = chosen[members]
    observed = np.ascontiguousarray(local_sum[cells_in_order], dtype=np.float64)
    high = np.zeros(cells_in_order.size, dtype=np.int64)
    low = np.zeros(cells_in_order.size, dtype=np.int64)
    values, ks = pairs[:, 0], pairs[:, 1].astype(np.int64)
    # The other cells' values for a cell of value v: the sorted values with one copy of v
    # taken out, i.e. position r read at r + 1 from the first copy of v on.
    at = np.searchsorted(ordered, values, side="left").astype(np.int64)
    for k in np.unique(ks).tolist():
        if k == 0:
            continue  # no neighbour to draw: nothing to test
        rows = _draw_distinct(rng, n - 1, int(k), permutations)
        groups = np.nonzero(ks == k)[0].astype(np.int64)
        _tails()(
            ordered,
            rows,
            values,
            at,
            groups,
            bounds,
            observed,
            tolerance,
            high,
            low,
        )
    tested = np.repeat(ks > 0, np.diff(bounds))
    p_high[cells_in_order[tested]] = (high[tested] + 1.0) / (permutations + 1.0)
    p_low[cells_in_order[tested]] = (low[tested] + 1.0) / (permutations + 1.0)
    return p_high, p_low


def _tail_counts(
    ordered: Any,
    rows: Any,
    values: Any,
    at: Any,
    groups: Any,
    bounds: Any,
    observed: Any,
    tolerance: float,
    high: Any,
    low: Any,
) -> None:  # pragma: no cover - compiled by numba
    """For each group (cells alike), each random row's neighbourhood sum, and per cell of the
    group how many sums reach its observed sum from above (``high``) and below (``low``)."""
    draws, k = rows.shape
    for g in groups:
        value, first = values[g], at[g]
        start, end = bounds[g], bounds[g + 1]
        for m in range(draws):
            total = value
            for j in range(k):
                r = rows[m, j]
                if r >= first:
                    r += 1
                total += ordered[r]
            for c in range(start, end):
                if total >= observed[c] - tolerance:
                    high[c] += 1
                if total <= observed[c] + tolerance:
                    low[c] += 1


_COMPILED: list[Any] = []


def _tails() -> Any:
    """:func:`_tail_counts` compiled by numba (once per process; cached on disk)."""
    if not _COMPILED:
        from numba import njit

        _COMPILED.append(njit(cache=True, nogil=True)(_tail_counts))
    return _COMPILED[0]


#: Most draws for a cell no draw matched (see :func:`getis_ord_gi_star`).
MAX_PERMUTATIONS = 99_999


def _permutation_p(
    x: FloatArray,
    local_sum: FloatArray,
    cardinality: npt.NDArray[np.int64],
    permutations: int,
    seed: int,
    alpha: float,
) -> tuple[FloatArray, FloatArray]:
    """Two-sided and one-sided pseudo p-values, with more draws where the first ones are too
    few for the false-discovery control to decide."""
    from scipy.stats import false_discovery_control

    p_high, p_low = conditional_permutation(
        x, local_sum, cardinality, permutations=permutations, seed=seed
    )
    draws = permutations
    while True:
        p_sim = np.minimum(p_high, p_low)
        p = np.minimum(1.0, 2.0 * p_sim)
        floor = np.nonzero(p_sim <= 1.0 / (draws + 1.0))[0]
        q = false_discovery_control(p, method="bh")
        # Cells beyond every draw that the FDR control (at alpha, or at 0.01 for the 99 %
        # confidence reported) cannot settle for want of resolution: draw ten times as many.
        finest = min(alpha, 0.01)
        if floor.size == 0 or (q[floor] < finest).all() or draws * 10 > MAX_PERMUTATIONS + 1:
            return p, p_sim
        draws = draws * 10 + 9
        finer_high, finer_low = conditional_permutation(
            x, local_sum, cardinality, permutations=draws, seed=seed + draws, cells=floor
        )
        p_high[floor], p_low[floor] = finer_high[floor], finer_low[floor]


def getis_ord_gi_star(
    values: npt.ArrayLike,
    neighbours: tuple[npt.NDArray[np.int64], ...],
    *,
    alpha: float = 0.05,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
    min_incidents: float = 0,
) -> Hotspots:
    """Getis-Ord Gi* with binary weights over each cell and its neighbours.

    For cell ``i`` with neighbourhood ``N(i)`` (the cell itself and its neighbours, ``W_i``
    cells), over ``n`` cells with mean ``x̄`` and standard deviation ``S``::

        z_i = (sum_{j in N(i)} x_j - x̄ W_i) / (S * sqrt((n W_i - W_i²) / (n - 1)))

    Significance comes from the conditional permutation test (see the module docstring).

    Parameters
    ----------
    values : array_like
        One count (or weight) per cell of the study area; cells with nothing count 0 and
        must be included, or the average is wrong.
    neighbours : (i, j) arrays
        Neighbouring positions, both ways, without ``i == j`` (the cell itself is added).
    alpha : float, default 0.05
        False-discovery rate for the ``hot`` and ``cold`` flags.
    permutations : int, default 999
        Random draws per neighbourhood; 0 uses the normal approximation of ``z`` (only sound
        for large, roughly normal values).
    seed : int
        Seed of the draws.
    min_incidents : float, default 0
        Below this total over the cells nothing is tested (``tested`` is False).

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
    cardinality = np.bincount(i, minlength=n) if len(i) else np.zeros(n, dtype=np.int64)
    local_sum = x + (np.bincount(i, weights=x[j], minlength=n) if len(i) else 0.0)
    weight = 1.0 + cardinality
    mean = x.mean()
    s = float(np.sqrt(max((x**2).mean() - mean**2, 0.0)))
    spread = s * np.sqrt(np.maximum(n * weight - weight**2, 0.0) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, (local_sum - mean * weight) / spread, 0.0)
    tested = bool(x.sum() >= min_incidents) and s > 0
    if not tested:
        p_sim = np.ones(n)
        p = np.ones(n)
    elif permutations > 0:
        p, p_sim = _permutation_p(x, local_sum, cardinality, permutations, seed, alpha)
    else:
        p = 2.0 * norm.sf(np.abs(z))
        p_sim = p / 2.0
    q = false_discovery_control(p, method="bh")
    significant = (q < alpha) & tested
    confidence = np.select([q < 0.01, q < 0.05, q < 0.10], [99, 95, 90], default=0)
    confidence = np.where(tested, confidence, 0)
    return Hotspots(
        z=z,
        p=p,
        q=q,
        hot=significant & (z > 0),
        cold=significant & (z < 0),
        confidence=confidence.astype(np.int64),
        alpha=alpha,
        p_sim=p_sim,
        permutations=permutations if tested else 0,
        tested=tested,
    )


@dataclass(frozen=True)
class EmergingHotspots:
    """Gi* per time step, the ESRI pattern and the Mann-Kendall trend of each cell.

    Attributes
    ----------
    windows : list of Hotspots
        One per time step, oldest first; the last is the current one.
    pattern : ndarray of object
        ESRI's Emerging Hot Spot pattern of each cell (one of :data:`PATTERNS`) or ``None``
        (no pattern detected); see :func:`classify_esri`.
    tau, trend_p : ndarray
        Mann-Kendall tau and two-sided p-value of each cell's z-scores over the steps
        (``nan`` where not computed: cells with no pattern).
    trend : ndarray of object
        The early-warning comparison of the current step with the ones before
        (:func:`compare_windows`), used by the scheduled hot-spot alerts.
    tested : bool
        False when the steps together held fewer than ``min_incidents``.
    """

    windows: list[Hotspots]
    pattern: npt.NDArray[np.object_]
    tau: FloatArray
    trend_p: FloatArray
    trend: npt.NDArray[np.object_]
    tested: bool = True

    @property
    def current(self) -> Hotspots:
        return self.windows[-1]


def compare_windows(
    hot: BoolArray, z: FloatArray, *, z_change: float = 1.0
) -> npt.NDArray[np.object_]:
    """An early-warning comparison of the current window with the ones before.

    Not ESRI's classification (see :func:`classify_esri`): a quick reading for alerts over
    few windows, where a trend test has no power.

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
    >>> compare_windows(hot, z).tolist()
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


def mann_kendall(
    z: FloatArray, cells: npt.NDArray[np.int64], *, alpha: float = 0.05
) -> tuple[FloatArray, FloatArray]:
    """Mann-Kendall tau and p-value of the z-score series of the given cells (``pymannkendall``).

    Parameters
    ----------
    z : ndarray, shape (steps, cells)
    cells : ndarray of int
        The cells to test; the others get ``nan``.
    alpha : float
        Passed to the test (it does not change tau or p).

    Returns
    -------
    tau, p : ndarray
    """
    import pymannkendall

    n = z.shape[1]
    tau = np.full(n, np.nan)
    p = np.full(n, np.nan)
    for c in np.asarray(cells, dtype=np.int64).tolist():
        series = z[:, c]
        if np.ptp(series) == 0:  # a flat series has no trend (the test divides by zero)
            tau[c], p[c] = 0.0, 1.0
            continue
        result = pymannkendall.original_test(series, alpha=alpha)
        tau[c], p[c] = float(result.Tau), float(result.p)
    return tau, p


def classify_esri(
    hot: BoolArray,
    cold: BoolArray,
    tau: FloatArray,
    trend_p: FloatArray,
    *,
    alpha: float = 0.05,
) -> npt.NDArray[np.object_]:
    """ESRI's Emerging Hot Spot Analysis patterns from significance per step and the trend.

    With ``T`` steps, a cell's *final run* the uninterrupted hot steps ending with the
    current one, and *mostly* at least 90 % of the steps, the hot-spot patterns are tested
    in this order (the first that holds wins), as ESRI defines them:

    - ``new_hot_spot``: hot in the current step and never significant before;
    - ``consecutive_hot_spot``: a final run of at least two hot steps, never significant
      before it, and hot in fewer than 90 % of the steps;
    - ``intensifying_hot_spot``: mostly hot, hot now, and the z-scores rise
      significantly (Mann-Kendall p < ``alpha``, tau > 0);
    - ``persistent_hot_spot``: mostly hot, hot now, no significant trend;
    - ``diminishing_hot_spot``: mostly hot, hot now, z-scores fall significantly;
    - ``sporadic_hot_spot``: hot now, on and off before, hot in fewer than 90 % of the
      steps, never a cold spot;
    - ``oscillating_hot_spot``: hot now, a cold spot in an earlier step, hot in fewer than
      90 % of the steps;
    - ``historical_hot_spot``: not hot now, but hot in at least 90 % of the steps.

    The cold-spot patterns are the same with hot and cold exchanged (an intensifying cold
    spot's z-scores fall). Cells in none of them: ``None`` ("no pattern detected").

    Parameters
    ----------
    hot, cold : ndarray of bool, shape (steps, cells)
        Significant hot and cold spots per step, oldest first.
    tau, trend_p : ndarray
        Mann-Kendall tau and p of each cell's z-scores (``nan`` where not computed).
    alpha : float, default 0.05
        Significance of the trend.

    Returns
    -------
    ndarray of object

    Examples
    --------
    Ten steps; a cell hot only in the last, one hot in the last three, one hot throughout:

    >>> hot = np.zeros((10, 3), dtype=bool); hot[-1, 0] = True; hot[-3:, 1] = True
    >>> hot[:, 2] = True
    >>> cold = np.zeros_like(hot)
    >>> classify_esri(hot, cold, np.zeros(3), np.ones(3)).tolist()
    ['new_hot_spot', 'consecutive_hot_spot', 'persistent_hot_spot']
    """
    steps, n = hot.shape
    pattern = np.full(n, None, dtype=object)
    significant = hot | cold
    rising = (trend_p < alpha) & (tau > 0)
    falling = (trend_p < alpha) & (tau < 0)
    for side, same, other, up, down in (
        ("hot", hot, cold, rising, falling),
        ("cold", cold, hot, falling, rising),
    ):
        now = same[-1]
        mostly = same.sum(axis=0) >= MOSTLY * steps
        run = np.cumprod(same[::-1], axis=0).sum(axis=0)
        before_run = np.arange(steps)[:, None] < (steps - run)[None, :]
        quiet_before = ~(significant & before_run).any(axis=0)
        other_before = other[:-1].any(axis=0)
        rules = [
            ("new", now & (run == 1) & quiet_before),
            ("consecutive", now & (run >= 2) & quiet_before & ~mostly),
            ("intensifying", now & mostly & up),
            ("persistent", now & mostly & ~up & ~down),
            ("diminishing", now & mostly & down),
            ("sporadic", now & ~mostly & ~other_before),
            ("oscillating", now & ~mostly & other_before),
            ("historical", ~now & mostly),
        ]
        for kind, holds in rules:
            pattern[holds & (pattern == None)] = f"{kind}_{side}_spot"  # noqa: E711
    return pattern


def emerging_hotspots(
    counts: npt.ArrayLike,
    neighbours: tuple[npt.NDArray[np.int64], ...],
    *,
    alpha: float = 0.05,
    z_change: float = 1.0,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
    min_incidents: float = 0,
) -> EmergingHotspots:
    """Gi* on each time step of counts over the same cells, and each cell's pattern.

    Parameters
    ----------
    counts : array_like, shape (steps, cells)
        Counts per cell in each step, oldest first; the last row is the current step.
    neighbours : (i, j) arrays
        As for :func:`getis_ord_gi_star`.
    alpha : float, default 0.05
        False-discovery rate in each step, and significance of the Mann-Kendall trend.
    z_change : float, default 1.0
        See :func:`compare_windows`.
    permutations, seed : int
        As for :func:`getis_ord_gi_star` (each step draws with its own seed).
    min_incidents : float, default 0
        Below this total over all steps nothing is tested.

    Returns
    -------
    EmergingHotspots
    """
    table = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    if table.shape[0] < 2:
        raise ValueError("emerging hot spots need the current step and at least one before")
    tested = bool(table.sum() >= min_incidents)
    windows = [
        getis_ord_gi_star(
            row,
            neighbours,
            alpha=alpha,
            permutations=permutations,
            seed=seed + k,
            min_incidents=0 if tested else np.inf,
        )
        for k, row in enumerate(table)
    ]
    hot = np.array([w.hot for w in windows])
    cold = np.array([w.cold for w in windows])
    z = np.array([w.z for w in windows])
    steps = table.shape[0]
    mostly = (hot.sum(axis=0) >= MOSTLY * steps) | (cold.sum(axis=0) >= MOSTLY * steps)
    candidates = np.nonzero(mostly | hot[-1] | cold[-1])[0]
    tau, trend_p = mann_kendall(z, candidates, alpha=alpha)
    return EmergingHotspots(
        windows=windows,
        pattern=classify_esri(hot, cold, tau, trend_p, alpha=alpha),
        tau=tau,
        trend_p=trend_p,
        trend=compare_windows(hot, z, z_change=z_change),
        tested=tested,
    )
