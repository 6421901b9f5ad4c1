"""Hot spots that hold on sparse data, and ESRI's emerging hot-spot patterns, on cases with
known answers: one incident is no hot spot, a planted cluster still is; the conditional
permutation test agrees with esda (PySAL); each of ESRI's sixteen patterns on a hand-made
series, with the Mann-Kendall trend of ``pymannkendall``."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Polygon

from geo.analysis import grid, hotspots

RNG = np.random.default_rng(2026_12_07)


def _study_area() -> tuple[grid.HexGrid, np.ndarray, tuple[np.ndarray, ...]]:
    hex_grid = grid.HexGrid(6)
    cells = hex_grid.cells_of_area(Polygon([(24, 4), (26, 4), (26, 6), (24, 6)]))
    return hex_grid, cells, hex_grid.neighbour_pairs(cells)


# --- sparse data ------------------------------------------------------------------------------


def test_one_incident_is_no_hot_spot() -> None:
    _, cells, neighbours = _study_area()
    one = np.zeros(cells.size)
    one[cells.size // 2] = 1
    # The normal approximation calls the cell and its six neighbours hot at 99 %: the
    # failure this test guards against.
    normal = hotspots.getis_ord_gi_star(one, neighbours, permutations=0)
    assert normal.hot.sum() == 7 and normal.z.max() > 10
    # The conditional permutation test does not: the cell holding the incident is matched by
    # every draw, its neighbours by the draws that pick it.
    permuted = hotspots.getis_ord_gi_star(one, neighbours)
    assert not permuted.hot.any() and not permuted.cold.any()
    assert permuted.p[cells.size // 2] == 1.0
    # And below the documented minimum nothing is tested at all.
    guarded = hotspots.getis_ord_gi_star(one, neighbours, min_incidents=hotspots.MIN_INCIDENTS)
    assert not guarded.tested and not guarded.hot.any() and (guarded.confidence == 0).all()
    assert hotspots.MIN_INCIDENTS == 30


def test_a_few_scattered_incidents_give_no_hot_spot() -> None:
    _, cells, neighbours = _study_area()
    for _ in range(10):
        counts = np.zeros(cells.size)
        counts[RNG.choice(cells.size, 40, replace=False)] = 1
        result = hotspots.getis_ord_gi_star(counts, neighbours)
        assert not result.hot.any()


def test_a_planted_cluster_is_still_a_hot_spot() -> None:
    hex_grid, cells, neighbours = _study_area()
    counts = RNG.poisson(0.05, cells.size).astype(float)  # sparse: about 70 incidents
    centre = hex_grid.cells_of_points([25.0], [5.0])
    cluster = np.isin(cells, hex_grid.disk(centre, 1))
    counts[cluster] += 5  # 35 incidents over the cell and its neighbours
    result = hotspots.getis_ord_gi_star(counts, neighbours)
    at = int(np.searchsorted(cells, centre[0]))
    assert result.hot[at] and result.q[at] < 0.01 and result.confidence[at] == 99
    assert np.isin(cells[result.hot], hex_grid.disk(centre, 2)).all()
    assert result.permutations == hotspots.PERMUTATIONS


def test_the_answer_is_the_same_every_time() -> None:
    _, cells, neighbours = _study_area()
    counts = RNG.poisson(2.0, cells.size).astype(float)
    first = hotspots.getis_ord_gi_star(counts, neighbours)
    again = hotspots.getis_ord_gi_star(counts, neighbours)
    assert np.array_equal(first.p, again.p)
    other_seed = hotspots.getis_ord_gi_star(counts, neighbours, seed=7)
    assert not np.array_equal(first.p, other_seed.p)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # esda's own, about its next release
def test_conditional_permutation_agrees_with_esda() -> None:
    esda = pytest.importorskip("esda")
    from libpysal.weights import W

    _, cells, neighbours = _study_area()
    i, j = neighbours
    n = cells.size
    values = RNG.lognormal(1.0, 0.8, n)  # continuous: no ties, where esda and we agree
    centre = n // 2
    values[[centre, *j[i == centre].tolist()]] += 10  # a cluster: the cell and its neighbours
    listed = {k: j[i == k].tolist() for k in range(n)}
    weights = W(listed, silence_warnings=True)
    theirs = esda.G_Local(
        values, weights, transform="B", star=True, permutations=9999, seed=3, n_jobs=1
    )
    ours = hotspots.getis_ord_gi_star(values, neighbours, permutations=9999)
    # The z-scores are the same formula.
    np.testing.assert_allclose(ours.z, theirs.Zs, rtol=1e-9, atol=1e-9)
    # The pseudo p-values agree within the Monte Carlo error of 9,999 draws.
    assert np.abs(ours.p_sim - theirs.p_sim).max() < 0.02
    assert ours.p_sim[centre] < 0.01 and theirs.p_sim[centre] < 0.01


def test_a_uniform_field_keeps_the_nominal_false_positive_rate() -> None:
    _, cells, neighbours = _study_area()
    rates, hits = [], []
    for _ in range(10):
        counts = RNG.poisson(10.0, cells.size).astype(float)
        result = hotspots.getis_ord_gi_star(counts, neighbours)
        rates.append(float((result.p < 0.05).mean()))
        hits.append(int((result.hot | result.cold).sum()))
    assert 0.03 < np.mean(rates) < 0.07
    assert np.mean(hits) < 1.0


# --- ESRI's emerging hot-spot patterns ----------------------------------------------------------

STEPS = 10
H, C, _ = "H", "C", "."


def _classify(*series: tuple[str, list[float]]) -> list[str | None]:
    """Each series: the significance per step as a string (H hot, C cold, . neither) and
    the z-score per step, from which the Mann-Kendall trend is computed."""
    hot = np.array([[s == H for s in flags] for flags, _ in series]).T
    cold = np.array([[s == C for s in flags] for flags, _ in series]).T
    z = np.array([values for _, values in series], dtype=float).T
    tau, p = hotspots.mann_kendall(z, np.arange(z.shape[1]))
    pattern: list[str | None] = hotspots.classify_esri(hot, cold, tau, p).tolist()
    return pattern


FLAT = [3.0, 3.2, 2.9, 3.1, 3.0, 3.3, 2.8, 3.1, 3.0, 3.2]
RISING = [2.0 + 0.5 * k for k in range(STEPS)]
FALLING = RISING[::-1]
LOW = [0.1, -0.2, 0.0, 0.3, -0.1, 0.2, 0.0, -0.3, 0.1, 0.0]


@pytest.mark.parametrize(
    ("flags", "z", "pattern"),
    [
        (".........H", [*LOW[:9], 3.0], "new_hot_spot"),
        ("......HHHH", [*LOW[:6], 3, 3, 3, 3], "consecutive_hot_spot"),
        ("HHHHHHHHHH", RISING, "intensifying_hot_spot"),
        ("HHHHHHHHHH", FLAT, "persistent_hot_spot"),
        ("H.HHHHHHHH", FLAT, "persistent_hot_spot"),  # 90 % of the steps is enough
        ("HHHHHHHHHH", FALLING, "diminishing_hot_spot"),
        ("..H..H...H", [0, 0, 3, 0, 0, 3, 0, 0, 0, 3], "sporadic_hot_spot"),
        ("..C....HHH", [0, 0, -3, 0, 0, 0, 0, 3, 3, 3], "oscillating_hot_spot"),
        ("HHHHHHHHH.", FLAT, "historical_hot_spot"),
        (".........C", [*LOW[:9], -3.0], "new_cold_spot"),
        ("........CC", [*LOW[:8], -3, -3], "consecutive_cold_spot"),
        ("CCCCCCCCCC", [-v for v in RISING], "intensifying_cold_spot"),
        ("CCCCCCCCCC", [-v for v in FLAT], "persistent_cold_spot"),
        ("CCCCCCCCCC", [-v for v in FALLING], "diminishing_cold_spot"),
        ("C...C....C", [-3, 0, 0, 0, -3, 0, 0, 0, 0, -3], "sporadic_cold_spot"),
        ("H.....CCCC", [3, 0, 0, 0, 0, 0, -3, -3, -3, -3], "oscillating_cold_spot"),
        ("CCCCCCCCC.", [-v for v in FLAT], "historical_cold_spot"),
        ("HHH.......", [3, 3, 3, *LOW[:7]], None),  # hot only long ago: no pattern
        ("..........", LOW, None),
    ],
)
def test_each_esri_pattern_on_a_hand_made_series(
    flags: str, z: list[float], pattern: str | None
) -> None:
    assert _classify((flags, z)) == [pattern]


def test_every_esri_pattern_is_named_and_tested() -> None:
    assert len(hotspots.PATTERNS) == 16
    assert set(hotspots.PATTERNS) == {
        f"{kind}_{side}_spot"
        for side in ("hot", "cold")
        for kind in (
            "new",
            "consecutive",
            "intensifying",
            "persistent",
            "diminishing",
            "sporadic",
            "oscillating",
            "historical",
        )
    }


def test_the_mann_kendall_trend_is_pymannkendall_s() -> None:
    import pymannkendall

    z = np.array([RISING, FLAT, FALLING]).T
    tau, p = hotspots.mann_kendall(z, np.arange(3))
    for k, series in enumerate([RISING, FLAT, FALLING]):
        expected = pymannkendall.original_test(series)
        assert tau[k] == pytest.approx(expected.Tau) and p[k] == pytest.approx(expected.p)
    assert tau[0] == 1.0 and p[0] < 0.001 and tau[2] == -1.0


def test_emerging_hot_spots_end_to_end_on_planted_clusters() -> None:
    hex_grid, cells, neighbours = _study_area()

    def disk(lon: float, lat: float) -> np.ndarray:
        return np.isin(cells, hex_grid.disk(hex_grid.cells_of_points([lon], [lat]), 1))

    def at(lon: float, lat: float) -> int:
        return int(np.searchsorted(cells, hex_grid.cells_of_points([lon], [lat])[0]))

    counts = RNG.poisson(0.3, (STEPS, cells.size)).astype(float)
    counts[-1, disk(24.5, 4.5)] += 8  # appears in the last step
    for k in range(STEPS):
        counts[k, disk(24.5, 5.5)] += 2 + k  # grows every step
    counts[:-1, disk(25.5, 5.5)] += 6  # gone in the last step
    result = hotspots.emerging_hotspots(counts, neighbours, min_incidents=30)
    assert result.tested
    assert result.pattern[at(24.5, 4.5)] == "new_hot_spot"
    assert result.pattern[at(24.5, 5.5)] == "intensifying_hot_spot"
    assert result.pattern[at(25.5, 5.5)] == "historical_hot_spot"
    # Far from the clusters, nothing.
    far = np.isin(cells, hex_grid.disk(hex_grid.cells_of_points([25.0], [5.0]), 2))
    assert all(p is None for p in result.pattern[far])

    # Alone, a cluster of the same size every step is persistent.
    steady = RNG.poisson(0.3, (STEPS, cells.size)).astype(float)
    steady[:, disk(25.5, 4.5)] += 6
    result = hotspots.emerging_hotspots(steady, neighbours, min_incidents=30)
    assert result.pattern[at(25.5, 4.5)] == "persistent_hot_spot"


def test_emerging_hot_spots_need_enough_incidents() -> None:
    _, cells, neighbours = _study_area()
    counts = np.zeros((STEPS, cells.size))
    counts[-1, 10] = 3
    result = hotspots.emerging_hotspots(counts, neighbours, min_incidents=30)
    assert not result.tested
    assert all(p is None for p in result.pattern)
