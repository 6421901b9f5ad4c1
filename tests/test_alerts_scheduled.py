"""The time-based rules: a site's risk cell crossing a threshold and new or intensifying hot
spots (evaluated in the test's transaction, at chosen moments), and their rule checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import shapely
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.analysis.grid import HexGrid
from service.alerts import scheduled
from tests import factories
from tests.test_alerts import Headers, Make, alerts, rule, smallest_sector

# Places of their own (no other test's records nearby), in the South.
X, Y = 26.3, 4.2
HOT = (25.0, 3.2, 26.0, 4.2)  # the study area of the hot-spot test
A = (25.5, 3.7)  # where the hot spot forms
KM = 1 / 111.32


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


async def close(client: AsyncClient, headers: Headers, alert_id: Any) -> None:
    response = await client.post(f"/api/alerts/{alert_id}/close", headers=headers("officer"))
    assert response.status_code == 200, response.text


async def test_time_based_rules_are_checked_and_take_the_analysis_defaults(
    client: AsyncClient, headers: Headers, world: factories.World
) -> None:
    async def refused(**body: Any) -> str:
        response = await client.post("/api/alert_rules", json=body, headers=headers("officer"))
        assert response.status_code == 422, response.text
        return response.text

    assert "threshold" in await refused(name="risk", kind="risk_threshold")
    assert "resolution" in await refused(name="r", kind="risk_threshold", threshold=1, resolution=3)
    assert "trends" in await refused(name="h", kind="hotspot", trends=["persistent"])
    assert "sector_id" in await refused(
        name="h", kind="hotspot", sector_id="00000000-0000-0000-0000-000000000000"
    )
    assert "cells" in await refused(name="h", kind="hotspot", resolution=9)  # the whole mission
    risk = await rule(client, headers, name="risk", kind="risk_threshold", threshold=2.5)
    assert (risk["resolution"], risk["window_days"], risk["sector_id"]) == (7, 90, None)
    hot = await rule(client, headers, name="hot", kind="hotspot",
                     sector_id=str(world.sectors["South"]))  # fmt: skip
    assert (hot["resolution"], hot["window_days"], hot["windows"]) == (6, 7, 4)
    assert (hot["alpha"], hot["z_change"], hot["trends"]) == (0.05, 1, ["new", "intensifying"])
    url = f"/api/alert_rules/{hot['id']}"
    patched = await client.patch(url, json={"windows": 2}, headers=headers("officer"))
    assert patched.status_code == 200 and patched.json()["windows"] == 2
    emptied = await client.patch(url, json={"alpha": None}, headers=headers("officer"))
    assert emptied.status_code == 422 and "alpha" in emptied.text
    listed = await client.get("/api/alerts", params={"kind": "risk_threshold,hotspot"},
                              headers=headers("analyst"))  # fmt: skip
    assert listed.status_code == 200


async def test_a_sites_risk_crossing_the_threshold_raises_once_per_crossing(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession, world: Any
) -> None:
    at = datetime.now(UTC)
    risk = await rule(client, headers, name="risk near camps", kind="risk_threshold", threshold=3)
    north = await rule(client, headers, name="risk in the North", kind="risk_threshold",
                       threshold=3, sector_id=str(world.sectors["North"]))  # fmt: skip
    site = await make("idp_sites", geometry=factories.point(X, Y), classification="public",
                      population_individuals=12_000, name="Kalembe camp")  # fmt: skip
    assert await scheduled.evaluate(session, at=at) == []  # people, but no hazard: no risk

    def incident(**fields: Any) -> dict[str, Any]:
        return {"geometry": factories.point(X, Y + 0.1 * KM), "severity": 5,
                "occurred_at": iso(at - timedelta(days=1)), **fields}  # fmt: skip

    first = await make("incidents", classification="mission", **incident())
    far = await make("incidents", **incident(geometry=factories.point(X + 30 * KM, Y)))
    (raised,) = await scheduled.evaluate(session, at=at)
    assert raised.created
    (found,) = await alerts(client, headers, kind="risk_threshold")
    alert = found["properties"]
    assert alert["rule_id"] == risk["id"] and north["id"] not in str(found)  # not in the North
    records = {(r["collection"], r["id"]) for r in alert["records"]}
    assert records == {("idp_sites", site["id"]), ("incidents", first["id"])}
    assert far["id"] not in str(found)
    assert alert["classification"] == "mission"  # the most restrictive of its records
    site_sector = await session.scalar(
        text("SELECT sector_id FROM idp_sites WHERE id = :id"), {"id": site["id"]}
    )
    assert alert["sector_id"] == str(site_sector)
    cell = shapely.geometry.shape(found["geometry"])
    assert cell.geom_type == "Polygon" and cell.contains(shapely.Point(X, Y))
    # The number is the risk overlay's for the site's cell over the same window.
    analysis = await client.get(
        "/api/analysis/risk",
        params={"bbox": f"{X - 0.05},{Y - 0.05},{X + 0.05},{Y + 0.05}",
                "datetime": f"{iso(at - timedelta(days=90))}/{iso(at)}"},
        headers=headers("admin"),
    )  # fmt: skip
    assert analysis.status_code == 200, analysis.text
    site_cell = HexGrid(7).to_strings(HexGrid(7).cells_of_points([X], [Y]))[0]
    (overlay,) = [f for f in analysis.json()["features"] if f["properties"]["cell"] == site_cell]
    risk_there = overlay["properties"]["risk"]
    sector = await smallest_sector(session, X, Y)
    assert alert["title"] == f"Risk {risk_there:.2f} at Kalembe camp ({sector}) (threshold 3)"
    assert f"IDP site Kalembe camp ({sector})" in alert["description"]
    assert risk_there >= 3

    # Still above: nothing more, also once the alert is closed.
    assert await scheduled.evaluate(session, at=at) == []
    await close(client, headers, raised.alert_id)
    assert await scheduled.evaluate(session, at=at) == []

    # It falls below (the report is re-graded), then crosses again: a new alert.
    async def regrade(incident: dict[str, Any]) -> None:
        body = {"type": "Feature", "properties": {"severity": 1}}
        response = await client.patch(
            f"/api/incidents/{incident['id']}", json=body, headers=headers("admin")
        )
        assert response.status_code == 200, response.text

    await regrade(first)
    assert await scheduled.evaluate(session, at=at) == []
    second = await make("incidents", classification="public", **incident())
    (again,) = await scheduled.evaluate(session, at=at)
    assert again.created and again.alert_id != raised.alert_id
    # Below and above once more while that alert is open: the open alert takes the new record.
    await regrade(second)
    assert await scheduled.evaluate(session, at=at) == []
    third = await make("incidents", classification="public", **incident())
    (grown,) = await scheduled.evaluate(session, at=at)
    assert not grown.created and grown.alert_id == again.alert_id
    (latest,) = await alerts(client, headers, status="new", kind="risk_threshold")
    assert latest["id"] == str(again.alert_id)
    assert {"collection": "incidents", "id": third["id"]} in latest["properties"]["records"]
    # Time passes: out of the 90-day window the risk is gone again.
    assert await scheduled.evaluate(session, at=at + timedelta(days=200)) == []
    states = await session.scalar(
        text("SELECT count(*) FROM alert_rule_states WHERE rule_id = :r"), {"r": risk["id"]}
    )
    assert states == 0


async def test_new_and_intensifying_hot_spots_raise_one_alert_per_cell_and_trend(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession
) -> None:
    at = datetime.now(UTC)
    area = await make("sectors", geometry=factories.square(*HOT), name="Hot-spot test area")
    await rule(client, headers, name="hot spots", kind="hotspot", windows=2, window_days=7,
               sector_id=area["id"], alert_severity=4)  # fmt: skip

    async def incidents(points: list[tuple[float, float]], days_ago: float) -> list[str]:
        made = []
        for lon, lat in points:
            record = await make("incidents", geometry=factories.point(lon, lat),
                                occurred_at=iso(at - timedelta(days=days_ago)))  # fmt: skip
            made.append(record["id"])
        return made

    # Ten days ago: two incidents in each cell around A (a cluster over the cell of A and
    # its six neighbours: a hot spot is a neighbourhood, not one cell) and thirty scattered.
    scattered = [
        (25.05 + 0.18 * i, 3.25 + 0.18 * j) for i in range(6) for j in range(6)
        if abs(25.05 + 0.18 * i - A[0]) > 0.25 or abs(3.25 + 0.18 * j - A[1]) > 0.25
    ][:30]  # fmt: skip
    a_cell = HexGrid(6).cells_of_points([A[0]], [A[1]])
    a_ring = HexGrid(6).polygons(a_cell)[0]
    lon, lat = HexGrid(6).centres(HexGrid(6).disk(a_cell, 1))
    around_a = list(zip(lon.tolist(), lat.tolist(), strict=True))
    cluster = await incidents(around_a * 2, days_ago=10)
    noise = await incidents(scattered, days_ago=10)

    # A week ago, A was a new hot spot: the cell of A and its neighbours, once each.
    raised = await scheduled.evaluate(session, at=at - timedelta(days=7))
    assert raised and all(r.created for r in raised)
    found = await alerts(client, headers, kind="hotspot")
    assert len(found) == len(raised)
    assert {f["properties"]["title"].split(" hot spot")[0] for f in found} == {"New"}
    assert any(f["geometry"]["coordinates"][0] == a_ring for f in found)
    for feature in found:
        ids = {r["id"] for r in feature["properties"]["records"]}
        assert ids <= set(cluster)  # the hot cell's neighbourhood, not the scattered ones
        if feature["geometry"]["coordinates"][0] == a_ring:
            assert ids == set(cluster)
        assert feature["properties"]["severity"] == 4
    assert not set(noise) & {r["id"] for f in found for r in f["properties"]["records"]}
    assert await scheduled.evaluate(session, at=at - timedelta(days=7)) == []  # no change

    # Now four more in each cell around A, and nothing elsewhere: A is intensifying.
    latest = await incidents(around_a * 4, days_ago=2)
    raised = await scheduled.evaluate(session, at=at)
    assert raised and all(r.created for r in raised)
    found = await alerts(client, headers, kind="hotspot")
    intensifying = [f for f in found if f["properties"]["title"].startswith("Intensifying")]
    changed = {r.alert_id for r in raised}
    kinds = {
        f["properties"]["title"].split(" hot spot")[0]
        for f in found
        if uuid.UUID(f["id"]) in changed
    }
    assert kinds <= {"New", "Intensifying"}  # cells next to A may be hot only now
    assert any(f["geometry"]["coordinates"][0] == a_ring for f in intensifying)
    for feature in intensifying:
        ids = {r["id"] for r in feature["properties"]["records"]}
        assert ids <= set(latest)
        if feature["geometry"]["coordinates"][0] == a_ring:
            assert ids == set(latest)
    assert await scheduled.evaluate(session, at=at) == []
