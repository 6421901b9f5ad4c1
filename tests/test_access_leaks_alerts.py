"""The leak suite for alerts: an alert is seen only by users who see, in full, every record
that raised it; through the list, the item, CAP and the stream nothing of a hidden or
generalised record comes out."""

from __future__ import annotations

import itertools
import json
import uuid

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from geo.analysis.grid import HexGrid
from service.alerts import rules
from tests.test_access_leaks import FULL, USERS, Headers, expected, plant


@pytest.mark.parametrize("user", USERS)
async def test_alerts_follow_the_records_that_raised_them(
    client: AsyncClient, headers: Headers, session: AsyncSession, user: str
) -> None:
    planted = await plant(client, headers)
    body = {"name": "all near", "kind": "incident_near_site", "radius_km": 200, "min_severity": 1}
    response = await client.post("/api/alert_rules", json=body, headers=headers("admin"))
    assert response.status_code == 201
    incidents = [p for p in planted if p.collection == "incidents"]
    sites = [p for p in planted if p.collection == "idp_sites"]
    raised = await rules.evaluate(
        session, rules.Changed(incidents={uuid.UUID(p.id) for p in incidents})
    )
    assert len(raised) == len(incidents) * len(sites) == 9

    visible_pairs = {
        (i.id, s.id)
        for i, s in itertools.product(incidents, sites)
        if expected(user, "incidents", i.classification) == FULL
        and expected(user, "idp_sites", s.classification) == FULL
    }
    auth = headers(user)
    listed = await client.get("/api/alerts", params={"limit": 1000}, headers=auth)
    assert listed.status_code == 200
    features = listed.json()["features"]
    pairs = set()
    for feature in features:
        records = {r["collection"]: r["id"] for r in feature["properties"]["records"]}
        pairs.add((records["incidents"], records["idp_sites"]))
    assert pairs == visible_pairs, user

    texts = [listed.text]
    for alert in raised:
        item = await client.get(f"/api/alerts/{alert.alert_id}", headers=auth)
        cap = await client.get(f"/api/alerts/{alert.alert_id}/cap", headers=auth)
        assert item.status_code in (200, 404) and cap.status_code == item.status_code
        texts += [item.text, cap.text]
        ack = await client.post(f"/api/alerts/{alert.alert_id}/acknowledge", headers=auth)
        if item.status_code == 404:
            assert ack.status_code in (403, 404), user  # a hidden alert is not confirmed
    everything = "\n".join(texts)
    for record in planted:
        if expected(user, record.collection, record.classification) == FULL:
            continue
        where = f"{user} / {record.collection} / {record.classification}"
        assert record.id not in everything, f"{where}: id came out through an alert"
        assert record.marker not in everything, where
        for coordinate in record.coordinates:
            assert coordinate not in everything, f"{where}: exact coordinate came out"
    if user == "partner":
        assert all(
            json.loads(t)["properties"]["classification"] == "public"
            for t in texts[1::2]
            if t.startswith('{"type"')
        )


# Three places in the North, one per classification, far from the planted records.
SPOTS = {"public": (25.2, 8.3), "mission": (25.8, 8.3), "restricted": (26.4, 8.3)}


@pytest.mark.parametrize("user", USERS)
async def test_risk_and_hot_spot_alerts_follow_the_incidents_that_raised_them(
    client: AsyncClient, headers: Headers, session: AsyncSession, user: str
) -> None:
    """A public IDP site with fourteen severe incidents of one classification around it: its
    risk cell crosses the threshold and the place becomes a hot spot. Each alert is as
    restricted as those incidents; a partner never receives one raised by restricted (or
    mission) incidents."""
    from datetime import UTC, datetime, timedelta

    from service.alerts import scheduled
    from tests import factories

    planted = await plant(client, headers)
    at = datetime.now(UTC)
    day_ago = (at - timedelta(days=1)).replace(microsecond=0).isoformat()
    spot_of: dict[str, str] = {}  # record id -> classification of its spot
    hidden_markers = []
    for classification, (x, y) in SPOTS.items():
        site = factories.feature("idp_sites", geometry=factories.point(x, y),
                                 classification="public", name=f"Spot site {classification}")  # fmt: skip
        response = await client.post("/api/idp_sites", json=site, headers=headers("admin"))
        assert response.status_code == 201, response.text
        spot_of[response.json()["id"]] = classification
        marker = f"SPOT-{classification}-MARKER"
        # Two severe incidents in the site's cell and in each of its six neighbours (H3
        # resolution 6, the hot-spot rule's): a cluster over a neighbourhood, as a hot spot is.
        hexes = HexGrid(6)
        lon, lat = hexes.centres(hexes.disk(hexes.cells_of_points([x], [y]), 1))
        around = [(x + 0.0003, y + 0.0003)] + [
            (a, b) for a, b in zip(lon.tolist(), lat.tolist(), strict=True)
        ]
        for i in range(14):
            px, py = around[i % len(around)]
            incident = factories.feature(
                "incidents", geometry=factories.point(px + 0.0002 * (i // 7), py),
                classification=classification, severity=5, occurred_at=day_ago,
                description=marker, source=marker,
            )  # fmt: skip
            response = await client.post("/api/incidents", json=incident, headers=headers("admin"))
            assert response.status_code == 201, response.text
            spot_of[response.json()["id"]] = classification
        if expected(user, "incidents", classification) != FULL:
            hidden_markers.append(marker)
    for body in (
        {"name": "risky sites", "kind": "risk_threshold", "threshold": 1},
        {"name": "hot spots", "kind": "hotspot", "windows": 2},
    ):
        response = await client.post("/api/alert_rules", json=body, headers=headers("admin"))
        assert response.status_code == 201, response.text
    raised = await scheduled.evaluate(session, at=at)

    auth = headers(user)
    listed = await client.get(
        "/api/alerts", params={"limit": 1000, "kind": "risk_threshold,hotspot"}, headers=auth
    )
    assert listed.status_code == 200
    seen_kinds: dict[str, set[str]] = {c: set() for c in SPOTS}
    for feature in listed.json()["features"]:
        spots = {spot_of[r["id"]] for r in feature["properties"]["records"]}
        assert len(spots) == 1, feature["properties"]["records"]  # one place per alert
        (spot,) = spots
        assert feature["properties"]["classification"] == spot
        seen_kinds[spot].add(feature["properties"]["kind"])
    for classification in SPOTS:
        visible = expected(user, "incidents", classification) == FULL
        wanted = {"risk_threshold", "hotspot"} if visible else set()
        assert seen_kinds[classification] == wanted, (user, classification)
    if user == "partner":
        assert seen_kinds["public"] and not seen_kinds["mission"] | seen_kinds["restricted"]

    texts = [listed.text]
    for alert in raised:
        item = await client.get(f"/api/alerts/{alert.alert_id}", headers=auth)
        cap = await client.get(f"/api/alerts/{alert.alert_id}/cap", headers=auth)
        assert item.status_code in (200, 404) and cap.status_code == item.status_code
        texts += [item.text, cap.text]
    everything = "\n".join(texts)
    for record_id, classification in spot_of.items():
        if expected(user, "incidents", classification) != FULL:
            assert record_id not in everything, f"{user}: a {classification} record came out"
    for marker in hidden_markers:
        assert marker not in everything
    for record in planted:
        if expected(user, record.collection, record.classification) != FULL:
            assert record.id not in everything and record.marker not in everything
