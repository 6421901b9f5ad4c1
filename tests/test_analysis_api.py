"""Every analysis through the API, on a small planted scenario whose answers are known.

The scenario sits in the North-West (lon 23-26, lat 6-9); the window is September 2026.
Distances are checked against pyproj's geodesic.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.analysis import hotspots
from geo.analysis.geodesy import geodesic_km
from geo.analysis.grid import HexGrid
from tests import factories

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]

WINDOW = "2026-09-01T00:00:00Z/2026-10-01T00:00:00Z"
CAMP = (25.0, 7.0)  # Kalembe camp, 12,000 people
VILLAGE = (24.0, 8.0)  # a small site far from everything


def east(origin: tuple[float, float], km: float) -> tuple[float, float]:
    """A point ``km`` east of ``origin`` (on the parallel; close enough to check by pyproj)."""
    return origin[0] + km / (111.32 * math.cos(math.radians(origin[1]))), origin[1]


def north(origin: tuple[float, float], km: float) -> tuple[float, float]:
    return origin[0], origin[1] + km / 110.6


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(geodesic_km(a[0], a[1], b[0], b[1]))


async def insert_incidents(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Many incidents at once, straight into the test's transaction."""
    await session.execute(text("SELECT set_config('civop.actor', 'test', true)"))
    await session.execute(
        text(
            "INSERT INTO incidents (category, occurred_at, severity, classification, geom) "
            "VALUES (:category, :occurred_at, :severity, :classification, "
            "ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
        ),
        [{**row, "occurred_at": datetime.fromisoformat(row["occurred_at"])} for row in rows],
    )


async def analyse(
    client: AsyncClient, headers: Headers, path: str, user: str = "analyst-cleared", **params: Any
) -> dict[str, Any]:
    # Cleared: the scenario's sexual-violence incident is restricted (its category's floor).
    response = await client.get(f"/api/analysis/{path}", params=params, headers=headers(user))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == "FeatureCollection"
    return body


def by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f["properties"] for f in body["features"]}


@pytest.fixture
async def scenario(make: Make) -> dict[str, Any]:
    camp = await make("idp_sites", geometry=factories.point(*CAMP), population_individuals=12000)
    village = await make(
        "idp_sites",
        geometry=factories.point(*VILLAGE),
        name="Village",
        population_individuals=1000,
    )
    incidents = {}
    for key, (where, category, severity, when) in {
        "clash_2km": (east(CAMP, 2.0), "armed_clash", 4, "2026-09-20T10:00:00Z"),
        "sv_5km": (north(CAMP, 5.0), "sexual_violence", 5, "2026-09-25T10:00:00Z"),
        "looting_8km": (east(CAMP, -8.0), "looting", 2, "2026-09-10T10:00:00Z"),
        "clash_15km": (east(CAMP, 15.0), "armed_clash", 3, "2026-09-15T10:00:00Z"),
        "old_1km": (east(CAMP, 1.0), "armed_clash", 5, "2026-07-01T10:00:00Z"),
    }.items():
        incidents[key] = await make(
            "incidents",
            geometry=factories.point(*where),
            category=category,
            severity=severity,
            occurred_at=when,
        )
    armed = await make(
        "actors",
        geometry=factories.point(*east(CAMP, 30.0)),
        name="Armed band",
        category="armed_group",
        humanitarian=False,
    )
    partner = await make(
        "actors",
        geometry=factories.point(*north(CAMP, 2.0)),
        name="Camp NGO",
        category="ngo",
        humanitarian=True,
    )
    base = await make("bases", geometry=factories.point(*north(CAMP, -12.0)))
    route = [list(north(east(CAMP, -10.0), 3.0)), list(north(east(CAMP, 10.0), 3.0))]
    patrol = await make(
        "patrols",
        geometry={"type": "LineString", "coordinates": route},
        start_at="2026-09-26T06:00:00Z",
    )
    return {
        "camp": camp["id"],
        "village": village["id"],
        "incidents": {k: v["id"] for k, v in incidents.items()},
        "armed": armed["id"],
        "partner": partner["id"],
        "base": base["id"],
        "patrol": patrol["id"],
    }


async def test_proximity_of_each_site(
    client: AsyncClient, headers: Headers, scenario: dict[str, Any]
) -> None:
    body = await analyse(client, headers, "proximity", datetime=WINDOW, radius_km=10)
    sites = by_id(body)
    camp, village = sites[scenario["camp"]], sites[scenario["village"]]
    assert camp["incidents"] == 3  # not the one at 15 km, not the one in July
    assert camp["by_category"] == {"armed_clash": 1, "sexual_violence": 1, "looting": 1}
    assert camp["by_severity"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert camp["nearest_armed_group"]["id"] == scenario["armed"]
    assert camp["nearest_armed_group"]["distance_km"] == pytest.approx(
        km_between(CAMP, east(CAMP, 30.0)), rel=0.005
    )
    assert camp["nearest_base"]["id"] == scenario["base"]
    assert camp["nearest_base"]["distance_km"] == pytest.approx(
        km_between(CAMP, north(CAMP, -12.0)), rel=0.005
    )
    assert camp["last_patrol"]["id"] == scenario["patrol"]
    assert camp["last_patrol"]["start_at"] == "2026-09-26T06:00:00Z"
    assert camp["last_patrol"]["distance_km"] == pytest.approx(
        km_between(CAMP, north(CAMP, 3.0)), rel=0.005
    )
    assert village["incidents"] == 0 and village["last_patrol"] is None
    assert body["summary"]["sites"] == 2 and body["summary"]["incidents_in_window"] == 4
    assert body["parameters"]["radius_km"] == 10

    wider = by_id(await analyse(client, headers, "proximity", datetime=WINDOW, radius_km=20))
    assert wider[scenario["camp"]]["incidents"] == 4


async def test_category_filter_for_gender_specific_analysis(
    client: AsyncClient, headers: Headers, scenario: dict[str, Any]
) -> None:
    body = await analyse(client, headers, "proximity", datetime=WINDOW, category="sexual_violence")
    assert by_id(body)[scenario["camp"]]["by_category"] == {"sexual_violence": 1}
    response = await client.get(
        "/api/analysis/proximity", params={"category": "rape"}, headers=headers("analyst")
    )
    assert response.status_code == 422
    assert "sexual_violence" in response.json()["detail"][0]["msg"]


async def test_exposure_ranks_sites_and_says_why(
    client: AsyncClient, headers: Headers, scenario: dict[str, Any]
) -> None:
    body = await analyse(client, headers, "exposure", datetime=WINDOW, top=2)
    first, second = body["features"]
    assert first["id"] == scenario["camp"] and first["properties"]["rank"] == 1
    assert second["properties"]["exposure"] == 0
    end_days = {"clash_2km": 10 + 14 / 24, "sv_5km": 5 + 14 / 24, "looting_8km": 20 + 14 / 24}
    contributions = {
        "clash_2km": 4 * 0.5 ** (km_between(CAMP, east(CAMP, 2.0)) / 5),
        "sv_5km": 5 * 0.5 ** (km_between(CAMP, north(CAMP, 5.0)) / 5),
        "looting_8km": 2 * 0.5 ** (km_between(CAMP, east(CAMP, -8.0)) / 5),
        "clash_15km": 3 * 0.5 ** (km_between(CAMP, east(CAMP, 15.0)) / 5),
    }
    end_days["clash_15km"] = 15 + 14 / 24
    hazard = sum(c * 0.5 ** (end_days[k] / 30) for k, c in contributions.items())
    camp = first["properties"]
    assert camp["hazard"] == pytest.approx(hazard, rel=1e-3)
    assert camp["exposure"] == pytest.approx(hazard * 12, rel=1e-3)
    reasons = [r["incident_id"] for r in camp["why"]]
    assert reasons == [scenario["incidents"]["clash_2km"], scenario["incidents"]["sv_5km"]]
    assert camp["why"][0]["category"] == "armed_clash"
    assert sum(r["share"] for r in camp["why"]) < 1


async def test_risk_overlay_shows_its_components(
    client: AsyncClient, headers: Headers, scenario: dict[str, Any]
) -> None:
    bbox = "24.85,6.85,25.1,7.15"
    body = await analyse(client, headers, "risk", datetime=WINDOW, bbox=bbox, resolution=7)
    cells = body["features"]
    assert cells and all(f["geometry"]["type"] == "Polygon" for f in cells)
    top = cells[0]["properties"]
    assert top["risk"] == max(f["properties"]["risk"] for f in cells)
    assert set(top) >= {"hazard", "vulnerability", "coverage", "population", "sites", "cell"}
    with_camp = [f["properties"] for f in cells if f["properties"]["sites"] > 0]
    assert with_camp and max(c["population"] for c in with_camp) == 12000
    assert sum(f["properties"]["incidents"] for f in cells) == 3  # the 15 km one is outside
    covered = [f["properties"] for f in cells if f["properties"]["coverage"] > 0]
    assert covered, "the patrol route passes through the box"
    for cell in cells:
        p = cell["properties"]
        expected = p["hazard"] * (1 + p["vulnerability"]) * (1 - 0.5 * p["coverage"])
        assert p["risk"] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert body["parameters"]["resolution"] == 7 and body["parameters"]["half_life_days"] == 30

    response = await client.get(
        "/api/analysis/risk", params={"datetime": WINDOW}, headers=headers("analyst")
    )
    assert response.status_code == 422, "an overlay needs a sector or a bbox"


async def test_risk_vector_tiles(
    client: AsyncClient, headers: Headers, world: factories.World, scenario: dict[str, Any]
) -> None:
    z = 10
    x = int((CAMP[0] + 180) / 360 * 2**z)
    lat = math.radians(CAMP[1])
    y = int((1 - math.asinh(math.tan(lat)) / math.pi) / 2 * 2**z)
    response = await client.get(
        f"/api/analysis/risk/tiles/{z}/{x}/{y}",
        params={"datetime": WINDOW},
        headers=headers("analyst"),
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    import mapbox_vector_tile

    layers = mapbox_vector_tile.decode(response.content)
    cells = layers["risk"]["features"]
    assert cells and all(f["geometry"]["type"] == "Polygon" for f in cells)
    assert {"cell", "risk", "hazard", "vulnerability", "coverage"} <= set(cells[0]["properties"])
    assert max(f["properties"]["risk"] for f in cells) > 0
    empty = await client.get(
        f"/api/analysis/risk/tiles/{z}/{x + 40}/{y}",
        params={"datetime": WINDOW},
        headers=headers("analyst"),
    )
    assert empty.status_code == 200 and len(empty.content) == 0
    other_sector = await client.get(
        f"/api/analysis/risk/tiles/{z}/{x}/{y}",
        params={"datetime": WINDOW, "sector": str(world.sectors["South"])},
        headers=headers("analyst"),
    )
    assert other_sector.status_code == 200 and len(other_sector.content) == 0


async def _cluster(session: AsyncSession, when: str, centre: tuple[float, float]) -> None:
    rows = []
    for k in range(60):  # a tight cluster
        rows.append(
            {
                "category": "attack_on_civilians",
                "occurred_at": when,
                "severity": 3,
                "classification": "mission",
                "x": centre[0] + 0.01 * math.cos(k),
                "y": centre[1] + 0.01 * math.sin(k),
            }
        )
    await insert_incidents(session, rows)


async def _background(session: AsyncSession, when: str) -> None:
    rows = []
    for i in range(20):
        for j in range(20):  # one incident on a regular lattice across the box
            rows.append(
                {
                    "category": "looting",
                    "occurred_at": when,
                    "severity": 1,
                    "classification": "mission",
                    "x": 24.0 + 0.05 * i + 0.013,
                    "y": 6.5 + 0.05 * j + 0.011,
                }
            )
    await insert_incidents(session, rows)


async def test_a_planted_cluster_is_a_hot_spot(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    await _background(session, "2026-09-10T10:00:00Z")
    await _cluster(session, "2026-09-12T10:00:00Z", (24.5, 7.0))
    body = await analyse(
        client, headers, "hotspots", datetime=WINDOW, bbox="24,6.5,25,7.5", resolution=7
    )
    hot_cells = [f for f in body["features"] if f["properties"]["hotspot"] == "hot"]
    hot = [f["properties"] for f in hot_cells]
    assert hot and max(h["incidents"] for h in hot) >= 30
    best = body["features"][0]["properties"]
    assert best["hotspot"] == "hot" and best["p"] < 0.05 and best["q"] < 0.05
    assert body["summary"]["hot_spots"] == len(hot)
    assert body["summary"]["incidents"] == 460
    # Only the cluster and the cells next to it are hot, none of the regular background.
    for cell in hot_cells:
        ring = cell["geometry"]["coordinates"][0]
        centre = (sum(p[0] for p in ring[:-1]) / 6, sum(p[1] for p in ring[:-1]) / 6)
        assert km_between(centre, (24.5, 7.0)) < 5


async def test_emerging_hot_spots_find_a_new_cluster(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    for month in ("06", "07", "08", "09"):
        await _background(session, f"2026-{month}-10T10:00:00Z")
    await _cluster(session, "2026-09-12T10:00:00Z", (24.5, 7.0))
    await _cluster(session, "2026-07-12T10:00:00Z", (24.8, 6.7))
    body = await analyse(
        client,
        headers,
        "emerging-hotspots",
        datetime=WINDOW,
        bbox="24,6.5,25,7.5",
        resolution=7,
        windows=4,
    )
    found = [f["properties"] for f in body["features"]]
    new = [p for p in found if p["pattern"] == "new_hot_spot"]
    assert new and all(p["hot_now"] for p in new)
    assert any(p["incidents"][-1] >= 30 and p["incidents"][0] <= 1 for p in new)
    # The July cluster was a hot spot in one window of four, not the last: ESRI gives it no
    # pattern (it is neither diminishing nor historical).
    july = HexGrid(7).to_strings(HexGrid(7).cells_of_points([24.8], [6.7]))[0]
    assert july not in {p["cell"] for p in found}
    assert body["summary"]["tested"] is True
    assert body["summary"]["patterns"]["new_hot_spot"] == len(new)
    assert set(body["summary"]["patterns"]) == set(hotspots.PATTERNS)
    assert len(body["summary"]["windows"]) == 4
    assert body["summary"]["windows"][-1]["end"] == "2026-10-01T00:00:00Z"
    assert all(p["trend"]["direction"] for p in found)


async def test_one_incident_is_too_few_to_test(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    await _background(session, "2026-09-10T10:00:00Z")  # other categories
    await insert_incidents(
        session,
        [
            {
                "category": "sexual_violence",
                "occurred_at": "2026-09-15T10:00:00Z",
                "severity": 4,
                "classification": "restricted",
                "x": 24.5,
                "y": 7.0,
            }
        ],
    )
    for path in ("hotspots", "emerging-hotspots"):
        body = await analyse(
            client,
            headers,
            path,
            datetime=WINDOW,
            bbox="24,6.5,25,7.5",
            resolution=7,
            category="sexual_violence",
        )
        assert body["features"] == []
        assert body["summary"]["tested"] is False
        assert body["summary"]["reason"].startswith("too few incidents to test: 1 in the area")
        assert body["parameters"]["min_incidents"] == 30


async def test_a_box_edge_does_not_change_a_cells_count(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    await _background(session, "2026-09-10T10:00:00Z")
    hex_grid = HexGrid(7)
    cell = hex_grid.cells_of_points([24.5], [7.0])
    (cx,), (cy,) = hex_grid.centres(cell)
    # Fifteen incidents in the cell: five west of its centre, ten east of it.
    points = [(cx - 0.004 - 0.0005 * k, cy) for k in range(5)]
    points += [(cx + 0.004 + 0.0004 * k, cy + 0.0003 * k) for k in range(10)]
    assert (hex_grid.cells_of_points(*zip(*points, strict=True)) == cell[0]).all()
    rows = [
        {
            "category": "attack_on_civilians",
            "occurred_at": "2026-09-12T10:00:00Z",
            "severity": 3,
            "classification": "mission",
            "x": x,
            "y": y,
        }
        for x, y in points
    ]
    await insert_incidents(session, rows)
    name = hex_grid.to_strings(cell)[0]

    async def count(bbox: str) -> int:
        body = await analyse(
            client, headers, "hotspots", datetime=WINDOW, bbox=bbox, resolution=7, include_all=True
        )
        (found,) = [f["properties"] for f in body["features"] if f["properties"]["cell"] == name]
        return int(found["incidents"])

    # The box's east edge passes just east of the cell's centre: the ten incidents east of
    # the edge still count, as they do in a box that holds the whole cell.
    assert await count(f"24,6.5,{cx + 0.001},7.5") == 15
    assert await count("24,6.5,25,7.5") == 15


async def test_coverage_gaps(
    client: AsyncClient, headers: Headers, scenario: dict[str, Any]
) -> None:
    body = await analyse(client, headers, "coverage-gaps", datetime=WINDOW, radius_km=5, days=14)
    assert set(by_id(body)) == {scenario["village"]}
    assert body["summary"]["gaps"] == 1 and body["summary"]["people_in_gaps"] == 1000
    stale = await analyse(
        client,
        headers,
        "coverage-gaps",
        datetime="2026-09-01T00:00:00Z/2026-10-20T00:00:00Z",
        radius_km=5,
        days=14,
    )
    camp = by_id(stale)[scenario["camp"]]  # its last patrol is now 24 days old
    assert camp["gap"] is True and camp["last_patrol"]["id"] == scenario["patrol"]
    assert camp["last_patrol"]["days_before_end"] == pytest.approx(23.75)


async def test_risks_and_opportunities(
    client: AsyncClient, headers: Headers, make: Make, scenario: dict[str, Any]
) -> None:
    project = await make("projects", geometry=factories.point(*east(CAMP, 2.0)))
    quiet = await make("projects", geometry=factories.point(25.9, 8.9))
    body = await analyse(
        client, headers, "opportunities", datetime=WINDOW, bbox="23,6,26,9", resolution=7
    )
    findings = {(f["properties"]["finding"], f["id"]) for f in body["features"]}
    assert ("project_in_high_risk_cell", project["id"]) in findings
    assert ("project_in_high_risk_cell", quiet["id"]) not in findings
    assert ("site_without_humanitarian_partner", scenario["village"]) in findings
    assert ("site_without_humanitarian_partner", scenario["camp"]) not in findings
    assert body["summary"]["sites_without_partner"] == 1


async def test_deconfliction_of_a_posted_and_a_stored_route(
    client: AsyncClient, headers: Headers, make: Make, scenario: dict[str, Any]
) -> None:
    start, end = north(east(CAMP, -5.0), 1.0), north(east(CAMP, 5.0), 1.0)
    route = {"type": "LineString", "coordinates": [list(start), list(end)]}
    response = await client.post(
        "/api/analysis/deconfliction",
        json={"type": "Feature", "geometry": route, "properties": {}},
        params={"buffer_km": 2.5},
        headers=headers("officer"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    conflicts = {f["id"]: f["properties"] for f in body["features"][1:]}
    assert set(conflicts) == {scenario["camp"], scenario["partner"]}
    assert conflicts[scenario["camp"]]["distance_km"] == pytest.approx(
        km_between(CAMP, north(CAMP, 1.0)), rel=0.005
    )
    assert conflicts[scenario["camp"]]["along_km"] == pytest.approx(
        km_between(start, north(CAMP, 1.0)), rel=0.005
    )
    assert body["summary"]["by_collection"]["actors"] == 1

    planned = await make(
        "patrols",
        geometry=route,
        state="planned",
        start_at="2026-10-05T06:00:00Z",
    )
    stored = await analyse(client, headers, "deconfliction", patrol=planned["id"], buffer_km=2.5)
    assert {f["id"] for f in stored["features"][1:]} == set(conflicts)
    missing = await client.get(
        "/api/analysis/deconfliction",
        params={"patrol": scenario["camp"]},
        headers=headers("analyst"),
    )
    assert missing.status_code == 404
    bad = await client.post(
        "/api/analysis/deconfliction",
        json={"type": "Point", "coordinates": [25.0, 7.0]},
        headers=headers("analyst"),
    )
    assert bad.status_code == 422


async def test_what_is_near_a_point_or_a_polygon(
    client: AsyncClient, headers: Headers, scenario: dict[str, Any]
) -> None:
    body = await analyse(
        client, headers, "near", point=f"{CAMP[0]},{CAMP[1]}", radius_km=6, datetime=WINDOW
    )
    found = by_id(body)
    assert scenario["camp"] in found and found[scenario["camp"]]["distance_km"] == 0
    assert scenario["incidents"]["clash_2km"] in found
    assert scenario["incidents"]["sv_5km"] in found
    assert scenario["incidents"]["looting_8km"] not in found
    assert scenario["incidents"]["old_1km"] not in found  # outside the window
    assert found[scenario["incidents"]["clash_2km"]]["distance_km"] == pytest.approx(
        km_between(CAMP, east(CAMP, 2.0)), rel=0.005
    )
    distances = [f["properties"]["distance_km"] for f in body["features"]]
    assert distances == sorted(distances)
    assert body["summary"]["within"]["incidents"] == 2
    north_of_camp = await analyse(
        client,
        headers,
        "near",
        point=f"{CAMP[0]},{CAMP[1]}",
        radius_km=6,
        datetime=WINDOW,
        bbox=f"24,{CAMP[1] + 0.01},26,8",
    )
    assert set(by_id(north_of_camp)) == {
        scenario["incidents"]["sv_5km"],
        scenario["partner"],
        scenario["patrol"],  # its route runs 3 km north of the camp
    }

    area = factories.square(CAMP[0] - 0.01, CAMP[1] - 0.01, CAMP[0] + 0.01, CAMP[1] + 0.01)
    response = await client.post(
        "/api/analysis/near",
        json=area,
        params={"radius_km": 1, "datetime": WINDOW},
        headers=headers("analyst"),
    )
    assert response.status_code == 200
    # The edge of the square is 1.1 km from the camp: 0.9 km from the clash and the NGO.
    assert set(by_id(response.json())) == {
        scenario["camp"],
        scenario["incidents"]["clash_2km"],
        scenario["partner"],
    }


async def test_sector_scope_and_errors_a_user_can_act_on(
    client: AsyncClient, headers: Headers, world: factories.World, scenario: dict[str, Any]
) -> None:
    north_west = str(world.sectors["North-West"])
    body = await analyse(client, headers, "proximity", datetime=WINDOW, sector=north_west)
    assert set(by_id(body)) == {scenario["camp"], scenario["village"]}
    south = await analyse(
        client, headers, "proximity", datetime=WINDOW, sector=str(world.sectors["South"])
    )
    assert south["features"] == []
    for params, where in [
        ({"bbox": "25,7,24"}, "bbox"),
        ({"datetime": "2026-10-01/2026-09-01"}, "datetime"),
        ({"radius_km": 0}, "radius_km"),
    ]:
        response = await client.get(
            "/api/analysis/proximity", params=params, headers=headers("analyst")
        )
        assert response.status_code == 422, params
        assert where in response.json()["detail"][0]["loc"]
    unknown = await client.get(
        "/api/analysis/proximity",
        params={"sector": scenario["camp"]},
        headers=headers("analyst"),
    )
    assert unknown.status_code == 404
    anonymous = await client.get("/api/analysis/proximity")
    assert anonymous.status_code == 401


async def test_a_sector_limited_user_analyses_only_their_sectors(
    client: AsyncClient, headers: Headers, make: Make, scenario: dict[str, Any]
) -> None:
    south_site = await make("idp_sites", geometry=factories.point(25.0, 4.0))
    body = await analyse(client, headers, "proximity", user="analyst-south", datetime=WINDOW)
    assert set(by_id(body)) == {south_site["id"]}
    assert body["summary"]["incidents_in_window"] == 0
