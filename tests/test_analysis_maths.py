"""The analysis maths (``geo.analysis``) on hand-built cases with known answers: distances
against pyproj's geodesic, decay and weights computed by hand, a planted hot-spot cluster
found, and a uniform random field giving about the nominal false-positive rate."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from shapely.geometry import LineString, Point, Polygon

from geo.analysis import coverage, deconfliction, exposure, grid, hotspots, proximity, risk
from geo.analysis.geodesy import geodesic_km, local_distance_km

RNG = np.random.default_rng(20261123)


@pytest.mark.parametrize(
    "module",
    [
        "geo.analysis.geodesy",
        "geo.analysis.proximity",
        "geo.analysis.exposure",
        "geo.analysis.grid",
        "geo.analysis.risk",
        "geo.analysis.hotspots",
        "geo.analysis.coverage",
        "geo.analysis.deconfliction",
        "geo.analysis.nearby_sum",
        "geo.places",
    ],
)
def test_docstring_examples_hold(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module} has no examples"
    assert result.failed == 0


# --- distances --------------------------------------------------------------------------------


def _random_pairs(n: int, max_km: float) -> tuple[np.ndarray, ...]:
    lon0 = RNG.uniform(22, 30, n)
    lat0 = RNG.uniform(2, 10, n)
    bearing = RNG.uniform(0, 2 * np.pi, n)
    km = RNG.uniform(0.05, max_km, n)
    lon1 = lon0 + km * np.sin(bearing) / (111.32 * np.cos(np.radians(lat0)))
    lat1 = lat0 + km * np.cos(bearing) / 110.57
    return lon0, lat0, lon1, lat1


def test_local_distance_is_within_half_a_percent_of_the_geodesic() -> None:
    lon0, lat0, lon1, lat1 = _random_pairs(2000, 300.0)
    reference = geodesic_km(lon0, lat0, lon1, lat1)
    relative = np.abs(local_distance_km(lon0, lat0, lon1, lat1) / reference - 1)
    assert relative.max() < 0.005
    # Analysis distances are short: there it is far better than required.
    short = reference < 50
    assert relative[short].max() < 1e-4


def test_pairs_within_finds_exactly_the_geodesic_neighbours() -> None:
    sites_lon, sites_lat = RNG.uniform(24, 26, 40), RNG.uniform(4, 6, 40)
    inc_lon, inc_lat = RNG.uniform(23.8, 26.2, 5000), RNG.uniform(3.8, 6.2, 5000)
    pairs = proximity.pairs_within(sites_lon, sites_lat, inc_lon, inc_lat, 10.0)
    truth = geodesic_km(sites_lon[:, None], sites_lat[:, None], inc_lon[None, :], inc_lat[None, :])
    expected = set(zip(*np.nonzero(truth <= 10.0), strict=True))
    found = set(zip(pairs.source.tolist(), pairs.target.tolist(), strict=True))
    assert found == expected
    reference = truth[pairs.source, pairs.target]
    assert np.abs(pairs.distance_km / reference - 1).max() < 0.005
    assert np.all(np.diff(pairs.source) >= 0), "grouped by site"


def test_an_area_site_measures_from_its_edge() -> None:
    camp = Polygon([(25.0, 5.0), (25.02, 5.0), (25.02, 5.02), (25.0, 5.02)])
    inside, east = (25.01, 5.01), (25.02 + 0.05, 5.01)
    pairs = proximity.pairs_within(
        [25.01], [5.01], [inside[0], east[0]], [inside[1], east[1]], 10.0, source_shapes=[camp]
    )
    by_target = dict(zip(pairs.target.tolist(), pairs.distance_km.tolist(), strict=True))
    assert by_target[0] == 0.0
    assert by_target[1] == pytest.approx(float(geodesic_km(25.02, 5.01, *east)), rel=0.005)


def test_counting_without_pairs_gives_the_same_table() -> None:
    sites_lon, sites_lat = RNG.uniform(24, 26, 30), RNG.uniform(4, 6, 30)
    inc_lon, inc_lat = RNG.uniform(23.8, 26.2, 4000), RNG.uniform(3.8, 6.2, 4000)
    codes = RNG.integers(0, 7, 4000)
    camp = Point(sites_lon[3], sites_lat[3]).buffer(0.05)
    shapes = [None] * 30
    shapes[3] = camp
    pairs = proximity.pairs_within(
        sites_lon, sites_lat, inc_lon, inc_lat, 8.0, source_shapes=shapes
    )
    table = proximity.count_within(
        sites_lon, sites_lat, inc_lon, inc_lat, 8.0, codes, 7, source_shapes=shapes
    )
    assert (table == proximity.count_by(pairs.source, codes[pairs.target], 30, 7)).all()
    assert table[3].sum() > table[2].sum() * 0.5  # the area reaches farther than its centre


def test_nearest_agrees_with_a_brute_force_geodesic_search() -> None:
    sites_lon, sites_lat = RNG.uniform(24, 26, 50), RNG.uniform(4, 6, 50)
    groups_lon, groups_lat = RNG.uniform(22, 28, 30), RNG.uniform(2, 8, 30)
    index, km = proximity.nearest(sites_lon, sites_lat, groups_lon, groups_lat)
    truth = geodesic_km(
        sites_lon[:, None], sites_lat[:, None], groups_lon[None, :], groups_lat[None, :]
    )
    assert (index == truth.argmin(axis=1)).all()
    assert np.abs(km / truth.min(axis=1) - 1).max() < 0.005


def test_nearest_area_is_measured_to_its_edge() -> None:
    area = Polygon([(25.2, 4.9), (25.3, 4.9), (25.3, 5.1), (25.2, 5.1)])
    index, km = proximity.nearest(
        [25.0], [5.0], [25.25, 25.4], [5.0, 5.0], target_shapes=[area, None]
    )
    assert index.tolist() == [0]
    assert km[0] == pytest.approx(float(geodesic_km(25.0, 5.0, 25.2, 5.0)), rel=0.005)


def test_lines_within_measure_to_the_route_not_its_vertices() -> None:
    route = LineString([(25.0, 5.05), (25.2, 5.05)])  # passes 0.05 deg north of the site
    pairs = proximity.pairs_within_lines([25.1], [5.0], [route], 10.0)
    assert pairs.distance_km[0] == pytest.approx(
        float(geodesic_km(25.1, 5.0, 25.1, 5.05)), rel=0.005
    )


# --- decay and weights ------------------------------------------------------------------------


def test_exposure_of_tiny_cases_computed_by_hand() -> None:
    # Site 0 (1,000 people): severity 4 at 5 km, 30 days old -> 4 x 0.5 x 0.5 = 1.
    #                         severity 1 at 0 km, today       -> 1 x 1 x 1     = 1.
    # Site 1 (3,000 people): severity 2 at 10 km, 60 days old -> 2 x 0.25 x 0.25 = 0.125.
    # Site 2 (unknown): the severity-5 incident 25 km away is beyond the radius: 0.
    pairs = proximity.Pairs(
        np.array([0, 0, 1, 2]), np.array([0, 1, 2, 3]), np.array([5.0, 0.0, 10.0, 25.0])
    )
    result = exposure.site_exposure(
        pairs, [4, 1, 2, 5], [30.0, 0.0, 60.0, 0.0], [1000.0, 3000.0, np.nan]
    )
    assert result.hazard.tolist() == [2.0, 0.125, 0.0]
    assert result.exposure.tolist() == [2.0, 0.375, 0.0]  # x 1000 / 1000, x 3, unknown: 1000
    assert result.rank.tolist() == [1, 2, 3]
    assert result.incidents.tolist() == [2, 1, 0]
    assert [pairs.target[t].tolist() for t in result.top] == [[0, 1], [2], []]


def test_severity_weights_and_half_lives_are_parameters() -> None:
    pairs = proximity.Pairs(np.array([0]), np.array([0]), np.array([2.0]))
    parameters = exposure.ExposureParameters(
        half_distance_km=2.0, half_life_days=10.0, severity_weights=(1, 2, 4, 8, 16)
    )
    result = exposure.site_exposure(pairs, [5], [20.0], [500.0], parameters)
    assert result.hazard[0] == pytest.approx(16 * 0.5 * 0.25)
    assert result.exposure[0] == pytest.approx(2.0 * 0.5)


def test_top_contributions_are_the_largest() -> None:
    n = 50
    pairs = proximity.Pairs(np.zeros(n, dtype=np.int64), np.arange(n), RNG.uniform(0, 20, n))
    severity, ages = RNG.integers(1, 6, n), RNG.uniform(0, 90, n)
    result = exposure.site_exposure(pairs, severity, ages, [1000.0])
    expected = np.argsort(-result.contribution)[:3]
    assert result.top[0].tolist() == expected.tolist()
    assert result.hazard[0] == pytest.approx(result.contribution.sum())


# --- grid and risk ----------------------------------------------------------------------------


def test_grid_neighbours_are_the_six_h3_neighbours() -> None:
    hex_grid = grid.HexGrid(7)
    centre = hex_grid.cells_of_points([25.0], [5.0])
    cells = hex_grid.disk(centre, 2)
    i, j = hex_grid.neighbour_pairs(cells)
    at = int(np.searchsorted(cells, centre[0]))
    import h3

    expected = {h3.str_to_int(c) for c in h3.grid_ring(h3.int_to_str(int(centre[0])), 1)}
    assert {int(cells[b]) for a, b in zip(i, j, strict=True) if a == at} == expected
    assert len(cells) == 19 and np.bincount(i, minlength=19).max() == 6


def test_risk_components_on_a_hand_built_cell() -> None:
    hex_grid = grid.HexGrid(7)
    cell = hex_grid.cells_of_points([25.0], [5.0])
    area = hex_grid.disk(cell, 2)
    lon, lat = hex_grid.centres(cell)
    route = LineString([(lon[0] - 0.005, lat[0]), (lon[0] + 0.005, lat[0])])
    overlay = risk.risk_overlay(
        hex_grid,
        area,
        [lon[0], lon[0]],
        [lat[0], lat[0]],
        [4, 2],  # weights 4 and 2
        [0.0, 30.0],  # the second one half-life old: 2 x 0.5 = 1
        [lon[0]],
        [lat[0]],
        [2000.0],
        [route],
        [0.0],  # one patrol today: presence 1, coverage 0.5
    )
    at = int(np.searchsorted(overlay.cells, cell[0]))
    assert overlay.hazard_raw[at] == pytest.approx(5.0)
    assert overlay.hazard[at] == pytest.approx(5.0 / 4)  # alone among its neighbours
    assert overlay.vulnerability[at] == pytest.approx(np.log1p(2.0) + 0.25)
    assert overlay.coverage[at] == pytest.approx(0.5)
    assert overlay.risk[at] == pytest.approx(1.25 * (1 + np.log1p(2.0) + 0.25) * 0.75)
    ring = set(hex_grid.disk(cell, 1).tolist()) - {int(cell[0])}
    for k, c in enumerate(overlay.cells.tolist()):
        if c in ring:
            assert overlay.hazard[k] == pytest.approx(5.0 * 0.5 / 4)  # smoothed to neighbours
            assert overlay.sites[k] == 1  # the site counts for its neighbours too


def test_patrols_lower_risk_but_never_remove_it() -> None:
    hex_grid = grid.HexGrid(7)
    cell = hex_grid.cells_of_points([25.0], [5.0])
    lon, lat = hex_grid.centres(cell)
    routes = [LineString([(lon[0] - 0.004, lat[0]), (lon[0] + 0.004, lat[0])])] * 50
    args = (hex_grid, cell, [lon[0]], [lat[0]], [5], [0.0], [], [], [])
    without = risk.risk_overlay(*args, [], [])
    with_many = risk.risk_overlay(*args, routes, [0.0] * 50)
    assert with_many.risk[0] < without.risk[0]
    assert with_many.risk[0] > without.risk[0] * 0.5


# --- hot spots --------------------------------------------------------------------------------


def _study_area() -> tuple[grid.HexGrid, np.ndarray, tuple[np.ndarray, ...]]:
    hex_grid = grid.HexGrid(6)
    cells = hex_grid.cells_of_area(Polygon([(24, 4), (26, 4), (26, 6), (24, 6)]))
    return hex_grid, cells, hex_grid.neighbour_pairs(cells)


def test_a_planted_cluster_is_found_as_a_hot_spot() -> None:
    hex_grid, cells, neighbours = _study_area()
    counts = RNG.poisson(3.0, cells.size).astype(float)
    centre = hex_grid.cells_of_points([25.0], [5.0])
    cluster = np.isin(cells, hex_grid.disk(centre, 1))
    counts[cluster] += 12
    result = hotspots.getis_ord_gi_star(counts, neighbours)
    at = int(np.searchsorted(cells, centre[0]))
    assert result.p[at] < 0.05 and result.q[at] < 0.05 and result.z[at] > 3
    assert result.hot[at] and result.confidence[at] == 99
    # Hot spots found are in or next to the cluster, nowhere else.
    assert np.isin(cells[result.hot], hex_grid.disk(centre, 2)).all()


def test_gi_star_of_a_tiny_line_computed_by_hand() -> None:
    i = np.array([0, 1, 1, 2, 2, 3, 3, 4])
    j = np.array([1, 0, 2, 1, 3, 2, 4, 3])
    result = hotspots.getis_ord_gi_star([0, 1, 10, 1, 0], (i, j))
    # x̄ = 2.4, S = sqrt(20.4 - 5.76); cell 2: (12 - 7.2) / (S sqrt((5*3 - 9) / 4))
    s = np.sqrt(20.4 - 2.4**2)
    assert result.z[2] == pytest.approx(4.8 / (s * np.sqrt(1.5)))
    assert result.z[0] == pytest.approx((1 - 4.8) / (s * np.sqrt((10 - 4) / 4)))


# --- coverage and de-confliction --------------------------------------------------------------


def test_coverage_gap_by_days_and_distance() -> None:
    old_route = LineString([(25.0, 5.02), (25.1, 5.02)])  # 2.2 km north of site 0
    new_route = LineString([(25.0, 5.2), (25.1, 5.2)])  # 2.2 km north of site 1
    gaps = coverage.coverage_gaps(
        [25.05, 25.05, 26.0],
        [5.0, 5.18, 5.0],
        [old_route, new_route],
        [20.0, 1.0],
        radius_km=5.0,
        days=14.0,
    )
    # Site 0: its last patrol is 20 days old; site 1: yesterday; site 2: none at all.
    assert gaps.gap.tolist() == [True, False, True]
    assert gaps.last.patrol.tolist() == [0, 1, -1]
    assert gaps.last.age_days.tolist()[:2] == [20.0, 1.0]
    assert gaps.last.distance_km[0] == pytest.approx(
        float(geodesic_km(25.05, 5.0, 25.05, 5.02)), rel=0.005
    )


def test_deconfliction_returns_each_conflict_with_its_distance() -> None:
    route = LineString([(25.0, 5.0), (25.2, 5.0)])
    camp = Polygon([(25.09, 5.005), (25.11, 5.005), (25.11, 5.02), (25.09, 5.02)])
    conflicts = deconfliction.route_conflicts(
        route,
        [25.15, 25.1, 25.1],
        [5.01, 5.0125, 5.5],
        2.0,
        shapes=[None, camp, None],
    )
    assert [c.index for c in conflicts] == [1, 0]
    assert conflicts[0].distance_km == pytest.approx(
        float(geodesic_km(25.1, 5.0, 25.1, 5.005)), rel=0.005
    )
    assert conflicts[1].distance_km == pytest.approx(
        float(geodesic_km(25.15, 5.0, 25.15, 5.01)), rel=0.005
    )
    assert conflicts[1].along_km == pytest.approx(
        float(geodesic_km(25.0, 5.0, 25.15, 5.0)), rel=0.005
    )


def test_a_route_crossing_a_camp_meets_it_where_it_enters() -> None:
    # A camp 1 km wide (east-west), from 2 km to 3 km along a west-to-east route.
    start = (25.0, 5.0)
    km = 1 / (111.32 * np.cos(np.radians(5.0)))
    camp = Polygon(
        [(25 + 2 * km, 4.995), (25 + 3 * km, 4.995), (25 + 3 * km, 5.005), (25 + 2 * km, 5.005)]
    )
    route = LineString([start, (25 + 5 * km, 5.0)])
    (conflict,) = deconfliction.route_conflicts(
        route, [camp.centroid.x], [camp.centroid.y], 1.0, shapes=[camp]
    )
    assert conflict.distance_km == 0.0
    assert conflict.along_km == pytest.approx(2.0, abs=0.01)  # not 3.0, where it leaves
    # Driven the other way, it enters at 2 km from the new start too.
    (back,) = deconfliction.route_conflicts(
        LineString(route.coords[::-1]), [camp.centroid.x], [camp.centroid.y], 1.0, shapes=[camp]
    )
    assert back.along_km == pytest.approx(2.0, abs=0.01)


def test_a_route_clipping_a_cells_corner_passes_through_it() -> None:
    hex_grid = grid.HexGrid(7)
    cell = hex_grid.cells_of_points([25.0], [5.0])
    ring = np.array(hex_grid.polygons(cell)[0][:-1])
    # A short route across one corner of the hexagon: 40 m inside it, never near a sample.
    corner = ring[0]
    centre = ring.mean(axis=0)
    inward = (centre - corner) / np.linalg.norm(centre - corner)
    across = np.array([-inward[1], inward[0]])
    depth = 0.04 / 111.32  # 40 m, in degrees
    a = corner + inward * depth - across * 0.01
    b = corner + inward * depth + across * 0.01
    route = LineString([a, b])
    assert route.intersects(Polygon(ring))
    _, cells = hex_grid.cells_of_lines([route])
    assert cell[0] in cells.tolist()
    # Every cell returned is one the route really crosses.
    hexagons = [Polygon(r) for r in hex_grid.polygons(cells)]
    assert all(route.intersects(h) for h in hexagons)


def test_patrol_coverage_counts_a_route_that_clips_a_neighbourhood() -> None:
    hex_grid = grid.HexGrid(7)
    cell = hex_grid.cells_of_points([25.0], [5.0])
    area = hex_grid.disk(cell, 1)
    outer = hex_grid.disk(cell, 2)
    ring2 = np.setdiff1d(outer, area)
    # A route that only clips one cell of the outer ring at a corner.
    target = ring2[:1]
    hexagon = np.array(hex_grid.polygons(target)[0][:-1])
    centre = hexagon.mean(axis=0)
    far_corner = max(hexagon.tolist(), key=lambda p: float(np.hypot(*(np.array(p) - [25.0, 5.0]))))
    inward = (centre - far_corner) / np.linalg.norm(centre - far_corner)
    across = np.array([-inward[1], inward[0]])
    depth = 0.03 / 111.32
    route = LineString(
        [far_corner + inward * depth - across * 0.005, far_corner + inward * depth + across * 0.005]
    )
    _, crossed = hex_grid.cells_of_lines([route])
    assert target[0] in crossed.tolist()
    # In the risk overlay the cells next to the clipped one are covered by that patrol,
    # the cells away from it are not.
    overlay = risk.risk_overlay(hex_grid, area, [], [], [], [], [], [], [], [route], [0.0])
    touching = np.isin(overlay.cells, hex_grid.disk(target, 1))
    assert touching.any() and (overlay.patrol_presence[touching] == 1.0).all()
    assert (overlay.patrol_presence[~touching] == 0.0).all()


def test_ranking_sites_without_pairs_gives_the_same_exposure() -> None:
    n_sites, n_incidents = 300, 20_000
    site_lon = RNG.uniform(24.0, 26.0, n_sites)
    site_lat = RNG.uniform(4.0, 6.0, n_sites)
    lon = RNG.uniform(23.8, 26.2, n_incidents)
    lat = RNG.uniform(3.8, 6.2, n_incidents)
    severity = RNG.integers(1, 6, n_incidents)
    age = RNG.uniform(0.0, 90.0, n_incidents)
    population = RNG.uniform(100, 20_000, n_sites)
    population[::7] = np.nan
    # A few sites drawn as areas, measured from their edge.
    shapes: list = [None] * n_sites
    for k in range(0, n_sites, 25):
        shapes[k] = Point(site_lon[k], site_lat[k]).buffer(0.03)
    parameters = exposure.ExposureParameters(top=4)
    pairs = proximity.pairs_within(
        site_lon, site_lat, lon, lat, parameters.radius_km, source_shapes=shapes
    )
    expected = exposure.site_exposure(pairs, severity, age, population, parameters)
    found = exposure.rank_sites(
        site_lon, site_lat, lon, lat, severity, age, population, parameters, site_shapes=shapes
    )
    np.testing.assert_allclose(found.hazard, expected.hazard, rtol=1e-9)
    np.testing.assert_allclose(found.exposure, expected.exposure, rtol=1e-9)
    assert (found.incidents == expected.incidents).all()
    assert (found.rank == expected.rank).all()
    for k in range(n_sites):
        chosen = expected.top[k]
        assert found.top_incident[k, : chosen.size].tolist() == pairs.target[chosen].tolist()
        np.testing.assert_allclose(
            found.top_contribution[k, : chosen.size], expected.contribution[chosen], rtol=1e-9
        )
        np.testing.assert_allclose(
            found.top_distance_km[k, : chosen.size], pairs.distance_km[chosen], rtol=1e-9
        )
