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
