"""The demo scenario generator (service/demo/): pure, no database."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from service import enums
from service.demo import (
    DEFAULT_END,
    INCIDENT_COLUMNS,
    MISSION_BBOX,
    Scenario,
    generate_scenario,
)
from service.models import Base

N_INCIDENTS = 20_000
X0, Y0, X1, Y1 = MISSION_BBOX
AREA = shapely.box(X0, Y0, X1, Y1)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate_scenario(seed=7, incidents=N_INCIDENTS)


@pytest.fixture(scope="module")
def columns(scenario: Scenario) -> dict[str, Any]:
    """All incidents as one column batch."""
    return next(scenario.incident_batches(scenario.incident_count, wkt=True))


def small_tables(s: Scenario) -> dict[str, list[dict[str, Any]]]:
    return s.tables()


def km(lon: Any, lat: Any, lon0: float, lat0: float) -> Any:
    dx = (np.asarray(lon) - lon0) * 111.32 * math.cos(math.radians(lat0))
    dy = (np.asarray(lat) - lat0) * 110.574
    return np.hypot(dx, dy)


def by_id(records: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {r["id"]: r for r in records}


def battalions(s: Scenario) -> dict[Any, BaseGeometry]:
    areas = {r["id"]: shapely.from_wkt(r["geom"]) for r in s.sectors if r["level"] == "battalion"}
    for area in areas.values():
        shapely.prepare(area)
    return areas


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_same_scenario(scenario: Scenario, columns: dict[str, Any]) -> None:
    again = generate_scenario(seed=7, incidents=N_INCIDENTS)
    assert small_tables(again) == small_tables(scenario)
    batch = next(again.incident_batches(N_INCIDENTS, wkt=True))
    assert batch.keys() == columns.keys()
    for key, values in batch.items():
        if isinstance(values, np.ndarray):
            np.testing.assert_array_equal(values, columns[key])
        else:
            assert values == columns[key], key
    assert again.incidents[:100] == scenario.incidents[:100]


def test_other_tables_do_not_depend_on_the_incident_count(scenario: Scenario) -> None:
    assert small_tables(generate_scenario(seed=7, incidents=10)) == small_tables(scenario)


def test_different_seed_different_scenario(scenario: Scenario) -> None:
    other = generate_scenario(seed=8, incidents=3_000)
    for table, records in small_tables(scenario).items():
        ids = {r["id"] for r in records}
        assert ids.isdisjoint(r["id"] for r in small_tables(other)[table]), table
    assert {r["geom"] for r in scenario.actors}.isdisjoint(r["geom"] for r in other.actors)
    assert {r["id"] for r in scenario.incidents}.isdisjoint(r["id"] for r in other.incidents)
    assert scenario.sectors[5]["geom"] != other.sectors[5]["geom"]


def test_batches_do_not_depend_on_the_batch_size(
    scenario: Scenario, columns: dict[str, Any]
) -> None:
    batches = list(scenario.incident_batches(7_000))
    assert [len(b["id"]) for b in batches] == [7_000, 7_000, 6_000]
    assert list(chain.from_iterable(b["id"] for b in batches)) == columns["id"]
    np.testing.assert_array_equal(np.concatenate([b["lon"] for b in batches]), columns["lon"])
    assert list(chain.from_iterable(b["description"] for b in batches)) == columns["description"]
    records = scenario.incidents
    assert [str(r["id"]) for r in records] == columns["id"]
    assert [r["geom"] for r in records] == columns["geom"]


# --- shape of the records ------------------------------------------------------------------


def test_records_use_the_column_names_of_their_tables(scenario: Scenario) -> None:
    for table, records in small_tables(scenario).items():
        names = set(Base.metadata.tables[table].columns.keys())
        for record in records:
            assert set(record) <= names, (table, set(record) - names)
    incident_columns = set(Base.metadata.tables["incidents"].columns.keys())
    assert set(INCIDENT_COLUMNS) - {"lon", "lat"} <= incident_columns
    assert set(scenario.incidents[0]) <= incident_columns


def test_counts(scenario: Scenario) -> None:
    levels = [s["level"] for s in scenario.sectors]
    assert levels == ["force"] + ["sector"] * 4 + ["battalion"] * 8
    assert 130 <= len(scenario.actors) <= 180
    assert {a["category"] for a in scenario.actors} == set(enums.ActorCategory)
    assert 14 <= sum(a["category"] == "armed_group" for a in scenario.actors) <= 16
    assert 45 <= len(scenario.idp_sites) <= 75
    per_site: dict[Any, int] = {}
    for row in scenario.site_population:
        per_site[row["site_id"]] = per_site.get(row["site_id"], 0) + 1
    assert set(per_site) == {s["id"] for s in scenario.idp_sites}
    assert all(4 <= n <= 8 for n in per_site.values())
    assert 14 <= len(scenario.bases) <= 20
    assert {b["base_kind"] for b in scenario.bases} >= {"headquarters", "company_base", "team_site"}
    assert 2_800 <= len(scenario.patrols) <= 3_200
    assert 180 <= len(scenario.projects) <= 220
    assert scenario.incident_count == N_INCIDENTS == len(scenario.incidents)
    assert len({r["external_id"] for r in scenario.incidents}) == N_INCIDENTS
    for records in small_tables(scenario).values():
        assert len({r["id"] for r in records}) == len(records)
        if "external_id" in records[0]:
            assert len({r["external_id"] for r in records}) == len(records)
            assert all(r["origin"] == "demo" for r in records)


def test_vocabularies_match_the_schema(scenario: Scenario, columns: dict[str, Any]) -> None:
    def values(records: list[dict[str, Any]], key: str) -> set[Any]:
        return {r[key] for r in records}

    classifications = set(enums.Classification)
    for records in small_tables(scenario).values():
        if "classification" in records[0]:
            assert values(records, "classification") <= classifications
    assert values(scenario.sectors, "level") == set(enums.SectorLevel)
    assert values(scenario.idp_sites, "site_type") == set(enums.SiteType)
    assert values(scenario.idp_sites, "status") == set(enums.SiteStatus)
    assert values(scenario.projects, "kind") == set(enums.ProjectKind)
    assert values(scenario.projects, "status") == set(enums.ProjectStatus)
    assert values(scenario.patrols, "patrol_type") == set(enums.PatrolType)
    assert values(scenario.patrols, "state") == set(enums.PatrolState)
    assert values(scenario.bases, "base_kind") <= set(enums.BaseKind)
    assert set(columns["category"]) == set(enums.IncidentCategory)
    assert set(columns["classification"]) == classifications
    assert set(columns["source_reliability"]) == set(enums.SourceReliability)
    assert set(columns["location_precision"]) == set(enums.LocationPrecision)


# --- geometry ------------------------------------------------------------------------------


def test_geometries_are_valid_and_inside_the_mission_area(
    scenario: Scenario, columns: dict[str, Any]
) -> None:
    allowed = {
        "sectors": {"MultiPolygon"},
        "actors": {"Point", "Polygon", "MultiPolygon"},
        "idp_sites": {"Point", "Polygon", "MultiPolygon"},
        "projects": {"Point", "Polygon", "MultiPolygon"},
        "bases": {"Point"},
        "patrols": {"LineString"},
    }
    for table, types in allowed.items():
        geoms = shapely.from_wkt([r["geom"] for r in getattr(scenario, table)])
        assert shapely.is_valid(geoms).all(), table
        assert not shapely.is_empty(geoms).any(), table
        assert shapely.covers(AREA, geoms).all(), table
        assert {g.geom_type for g in geoms} <= types, table
    assert {g.geom_type for g in shapely.from_wkt([r["geom"] for r in scenario.actors])} >= {
        "Point",
        "Polygon",
    }
    assert sum(shapely.from_wkt(r["geom"]).geom_type == "Polygon" for r in scenario.idp_sites) >= 3
    lon, lat = columns["lon"], columns["lat"]
    assert ((lon > X0) & (lon < X1) & (lat > Y0) & (lat < Y1)).all()
    points = shapely.from_wkt(columns["geom"])
    np.testing.assert_array_equal(shapely.get_x(points), lon)
    np.testing.assert_array_equal(shapely.get_y(points), lat)


def test_areas_tile_the_mission_area(scenario: Scenario) -> None:
    force = shapely.from_wkt(scenario.sectors[0]["geom"])
    assert force.equals(AREA)
    areas = list(battalions(scenario).values())
    assert math.isclose(sum(a.area for a in areas), AREA.area, rel_tol=1e-9)
    for i, a in enumerate(areas):
        for b in areas[i + 1 :]:
            assert a.intersection(b).area < 1e-12
    assert unary_union(areas).equals(AREA)
    children: dict[Any, list[BaseGeometry]] = {}
    for record in scenario.sectors[1:]:
        children.setdefault(record["parent_id"], []).append(shapely.from_wkt(record["geom"]))
    for record in scenario.sectors:
        geom = shapely.from_wkt(record["geom"])
        assert geom.contains(shapely.from_wkt(record["hq"])), record["name"]
        if record["level"] != "battalion":
            assert len(children[record["id"]]) == (4 if record["level"] == "force" else 2)
            assert unary_union(children[record["id"]]).symmetric_difference(geom).area < 1e-12


def test_sector_id_is_the_battalion_area_holding_the_record(
    scenario: Scenario, columns: dict[str, Any]
) -> None:
    areas = battalions(scenario)
    for table, records in small_tables(scenario).items():
        for record in records:
            if "sector_id" not in record:
                continue
            geom = shapely.from_wkt(record["geom"])
            point = geom if isinstance(geom, Point) else geom.representative_point()
            assert areas[record["sector_id"]].contains(point), (table, record["external_id"])
    sector_ids = np.array([str(s) for s in columns["sector_id"]])
    for sector_id, area in areas.items():
        inside = shapely.contains_xy(area, columns["lon"], columns["lat"])
        assert (inside == (sector_ids == str(sector_id))).all()


def test_patrol_routes(scenario: Scenario) -> None:
    bases = by_id(scenario.bases)
    for patrol in scenario.patrols:
        route = shapely.from_wkt(patrol["geom"])
        coords = np.array(route.coords)
        assert 3 <= len(coords) <= 12
        base = shapely.from_wkt(bases[patrol["base_id"]]["geom"])
        assert (coords[0] == (base.x, base.y)).all()
        lat0 = float(coords[:, 1].mean())
        legs = np.hypot(
            np.diff(coords[:, 0]) * 111.32 * math.cos(math.radians(lat0)),
            np.diff(coords[:, 1]) * 110.574,
        )
        assert 4.5 <= legs.sum() <= 41, patrol["external_id"]
        assert patrol["end_at"] >= patrol["start_at"]
        assert patrol["unit"]


# --- references ----------------------------------------------------------------------------


def test_foreign_keys_resolve(scenario: Scenario, columns: dict[str, Any]) -> None:
    sectors = by_id(scenario.sectors)
    actors = by_id(scenario.actors)
    sites = by_id(scenario.idp_sites)
    bases = by_id(scenario.bases)
    for record in scenario.sectors:
        if record["level"] == "force":
            assert record["parent_id"] is None
        else:
            parent = sectors[record["parent_id"]]
            expected = "force" if record["level"] == "sector" else "sector"
            assert parent["level"] == expected
            # parents come first (insertion order)
            assert scenario.sectors.index(parent) < scenario.sectors.index(record)
    for table in ("actors", "idp_sites", "projects", "bases", "patrols"):
        for record in getattr(scenario, table):
            assert sectors[record["sector_id"]]["level"] == "battalion"
    for site in scenario.idp_sites:
        assert actors[site["managing_actor_id"]]["humanitarian"] is True
    for row in scenario.site_population:
        assert row["site_id"] in sites
    for project in scenario.projects:
        assert project["implementing_actor_id"] in actors
    for patrol in scenario.patrols:
        assert patrol["base_id"] in bases
    armed = {str(a["id"]) for a in scenario.actors if a["category"] == "armed_group"}
    perpetrators = [p for p in columns["perpetrator_actor_id"] if p is not None]
    assert set(perpetrators) <= armed
    assert 0.1 < len(perpetrators) / N_INCIDENTS < 0.6
    battalion_ids = {str(s["id"]) for s in scenario.sectors if s["level"] == "battalion"}
    assert set(columns["sector_id"]) <= battalion_ids


# --- values --------------------------------------------------------------------------------


def test_classification_mix(scenario: Scenario, columns: dict[str, Any]) -> None:
    classification = np.array(columns["classification"])
    category = np.array(columns["category"])
    assert (classification[category == "sexual_violence"] == "restricted").all()
    assert (category == "sexual_violence").sum() > 100
    share = {c: float((classification == c).mean()) for c in ("public", "mission", "restricted")}
    assert abs(share["public"] - 0.35) < 0.05
    assert abs(share["mission"] - 0.55) < 0.05
    assert abs(share["restricted"] - 0.10) < 0.04
    for actor in scenario.actors:
        humanitarian = actor["category"] in {
            "un_agency",
            "ingo",
            "ngo",
            "international_organisation",
        }
        assert actor["humanitarian"] is humanitarian
        if actor["category"] == "armed_group":
            assert actor["classification"] in {"mission", "restricted"}
            assert actor["focal_point"] is None
    armed = [a for a in scenario.actors if a["category"] == "armed_group"]
    assert sum(a["classification"] == "mission" for a in armed) > len(armed) / 2
    ngo = [a for a in scenario.actors if a["humanitarian"]]
    assert sum(a["classification"] == "public" for a in ngo) > 0.7 * len(ngo)
    others = [a for a in scenario.actors if a["category"] != "armed_group"]
    assert sum(a["focal_point"] is not None for a in others) > 0.7 * len(others)
    assert all(a["email"].endswith(".example.org") for a in others if a["email"])


def test_incident_values(scenario: Scenario, columns: dict[str, Any]) -> None:
    severity = columns["severity"]
    assert severity.min() >= 1 and severity.max() <= 5
    counts = np.bincount(severity, minlength=6)[1:]
    assert counts[0] > counts[2] > counts[4]
    for key in ("killed", "injured", "displaced"):
        assert columns[key].min() >= 0
    killed = columns["killed"]
    assert killed[severity >= 4].mean() > killed[severity <= 2].mean()
    credibility = columns["source_credibility"]
    assert credibility.min() >= 1 and credibility.max() <= 6
    assert all(columns["source"]) and all(columns["description"])
    assert columns["external_id"][0] == "demo-incident-000001"
    assert all(r["external_id"].startswith("demo-incident-") for r in scenario.incidents[:10])


def test_incidents_fall_in_the_period(scenario: Scenario, columns: dict[str, Any]) -> None:
    assert scenario.end == DEFAULT_END
    assert scenario.start == datetime(2024, 11, 1, tzinfo=UTC)
    occurred = columns["occurred_at"].astype("datetime64[s]").astype(np.int64)
    reported = columns["reported_at"].astype("datetime64[s]").astype(np.int64)
    assert occurred.min() >= scenario.start.timestamp()
    assert occurred.max() < scenario.end.timestamp()
    assert (np.diff(occurred) >= 0).all()  # oldest first
    delay = reported - occurred
    assert delay.min() >= 0 and delay.max() <= 72 * 3600
    # Reported by the end of the period: loaded today, no report is dated later today.
    assert reported.max() < scenario.end.timestamp()
    # spread over the whole period
    assert occurred[: N_INCIDENTS // 20].max() < scenario.start.timestamp() + 90 * 86_400
    first = scenario.incidents[0]
    assert first["occurred_at"].tzinfo is not None


def test_custom_period() -> None:
    end = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
    s = generate_scenario(seed=3, incidents=2_000, months=6, end=end)
    assert s.start == datetime(2024, 9, 30, 12, 0, tzinfo=UTC)
    occurred = next(s.incident_batches(2_000))["occurred_at"].astype(np.int64)
    assert occurred.min() >= s.start.timestamp() and occurred.max() < end.timestamp()
    assert 650 <= len(s.patrols) <= 850
    planned = [p for p in s.patrols if p["state"] == "planned"]
    assert planned and all(p["start_at"] >= end - timedelta(days=2) for p in planned)
    assert all(p["start_at"] < end - timedelta(days=2) for p in s.patrols if p not in planned)


def test_sites_and_projects(scenario: Scenario) -> None:
    history: dict[Any, list[dict[str, Any]]] = {}
    for row in scenario.site_population:
        history.setdefault(row["site_id"], []).append(row)
    for site in scenario.idp_sites:
        assert 500 <= site["population_individuals"] <= 60_000
        assert abs(site["population_households"] * 5 - site["population_individuals"]) < 5
        rows = sorted(history[site["id"]], key=lambda r: r["observed_on"])
        assert rows[-1]["observed_on"] == site["population_date"]
        assert rows[-1]["individuals"] == site["population_individuals"]
        assert all(r["individuals"] >= 0 and r["households"] >= 0 for r in rows)
        assert all(scenario.start.date() <= r["observed_on"] < scenario.end.date() for r in rows)
    for project in scenario.projects:
        assert project["end_date"] >= project["start_date"]
        assert project["budget_usd"] >= 0 and project["beneficiaries"] >= 0
    planned = [p for p in scenario.patrols if p["state"] == "planned"]
    assert 0 < len(planned) < 100
    assert all(p["start_at"] >= scenario.end - timedelta(days=2) for p in planned)


# --- spatial and temporal patterns ---------------------------------------------------------


def mean_shift(
    lon: Any, lat: Any, centre: tuple[float, float], radius_km: float
) -> tuple[float, float]:
    x, y = centre
    for _ in range(20):
        near = km(lon, lat, x, y) < radius_km
        if not near.any():
            break
        x, y = float(lon[near].mean()), float(lat[near].mean())
    return x, y


def test_hot_spots_move(scenario: Scenario, columns: dict[str, Any]) -> None:
    occurred = columns["occurred_at"].astype("datetime64[s]")
    lon, lat = columns["lon"], columns["lat"]
    month = np.datetime64(scenario.start.replace(tzinfo=None), "M")

    def window(k: int) -> Any:
        return (occurred >= month + k) & (occurred < month + k + 3)

    first = window(0)
    counts, xe, ye = np.histogram2d(lon[first], lat[first], bins=30, range=[[X0, X1], [Y0, Y1]])
    i, j = np.unravel_index(np.argmax(counts), counts.shape)
    start = mean_shift(
        lon[first], lat[first], ((xe[i] + xe[i + 1]) / 2, (ye[j] + ye[j + 1]) / 2), 25
    )
    # Follow the densest cluster of the first three months month by month to the last three.
    centre = start
    for k in range(1, scenario.months - 2):
        w = window(k)
        centre = mean_shift(lon[w], lat[w], centre, 25)
    moved = float(km(centre[0], centre[1], start[0], start[1]))
    assert moved > 10, moved
    # ... and it moved where the generator said a hot spot would be.
    ends = [h["end"] for h in scenario.hotspots]
    assert min(float(km(x, y, centre[0], centre[1])) for x, y in ends) < 15


def test_hot_spots_change_intensity(scenario: Scenario, columns: dict[str, Any]) -> None:
    occurred = columns["occurred_at"].astype("datetime64[s]")
    lon, lat = columns["lon"], columns["lat"]
    last_quarter = occurred >= np.datetime64(scenario.end.replace(tzinfo=None)) - np.timedelta64(
        91, "D"
    )
    emerging = next(h for h in scenario.hotspots if h["profile"] == "emerging")
    fading = next(h for h in scenario.hotspots if h["profile"] == "fading")

    def near(h: dict[str, Any], key: str) -> Any:
        return km(lon, lat, *h[key]) < 15

    # The emerging hot spot is quiet until the last three months.
    assert (near(emerging, "end") & last_quarter).sum() > 3 * (
        near(emerging, "start") & ~last_quarter
    ).sum() / 7
    early = occurred < np.datetime64(scenario.start.replace(tzinfo=None)) + np.timedelta64(91, "D")
    assert (near(fading, "start") & early).sum() > 2 * (near(fading, "end") & last_quarter).sum()


def test_hot_spot_share(columns: dict[str, Any], scenario: Scenario) -> None:
    lon, lat = columns["lon"], columns["lat"]
    # Points more than 60 km from every hot spot's path are (almost) only background.
    far = np.ones(N_INCIDENTS, bool)
    for h in scenario.hotspots:
        for f in np.linspace(0, 1, 9):
            x = h["start"][0] + f * (h["end"][0] - h["start"][0])
            y = h["start"][1] + f * (h["end"][1] - h["start"][1])
            far &= km(lon, lat, x, y) > 60
    assert far.mean() < 0.3


def test_some_incidents_near_idp_sites(scenario: Scenario, columns: dict[str, Any]) -> None:
    sites = shapely.from_wkt([s["geom"] for s in scenario.idp_sites])
    centres = shapely.get_coordinates(shapely.centroid(sites))
    near = np.zeros(N_INCIDENTS, bool)
    for x, y in centres:
        near |= km(columns["lon"], columns["lat"], x, y) < 5
    assert near.sum() > 0.03 * N_INCIDENTS


def test_ids(scenario: Scenario, columns: dict[str, Any]) -> None:
    for records in small_tables(scenario).values():
        assert all(r["id"].version == 4 for r in records)
    ids = [uuid.UUID(i) for i in columns["id"]]
    assert all(i.version == 7 for i in ids)
    assert len(set(ids)) == N_INCIDENTS
    # Version 7: the first 48 bits are the time the incident was reported, in ms.
    stamped = np.array([i.int >> 80 for i in ids]) // 1000
    reported = columns["reported_at"].astype("datetime64[s]").astype(np.int64)
    np.testing.assert_array_equal(stamped, reported)
