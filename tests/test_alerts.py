"""Alert rules, the rule engine (in SQL), de-duplication, the lifecycle, listing and CAP."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.alerts import rules
from tests import factories

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]
XSD = Path(__file__).resolve().parents[1] / "service" / "alerts" / "CAP-v1.2.xsd"
# A place of its own (no other test's records nearby): 27.5, 3.5 in the South.
X, Y = 27.5, 3.5
KM = 1 / 111.32


async def rule(client: AsyncClient, headers: Headers, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/alert_rules", json=body, headers=headers("officer"))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def near_rule(client: AsyncClient, headers: Headers, **overrides: Any) -> dict[str, Any]:
    body = {"name": "Severe near camps", "kind": "incident_near_site", "radius_km": 10,
            "min_severity": 3, **overrides}  # fmt: skip
    return await rule(client, headers, **body)


async def evaluate(session: AsyncSession, **changed: list[str]) -> list[rules.Raised]:
    found = rules.Changed(**{k: {uuid.UUID(v) for v in ids} for k, ids in changed.items()})
    return await rules.evaluate(session, found)


async def alerts(
    client: AsyncClient, headers: Headers, user: str = "admin", **params: Any
) -> list[dict[str, Any]]:
    response = await client.get("/api/alerts", params=params, headers=headers(user))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    features: list[dict[str, Any]] = response.json()["features"]
    return features


async def test_rules_are_managed_by_officers_and_checked(
    client: AsyncClient, headers: Headers
) -> None:
    body = {"name": "near", "kind": "incident_near_site", "radius_km": 5}
    missing = await client.post("/api/alert_rules", json=body, headers=headers("officer"))
    assert missing.status_code == 422 and "min_severity" in missing.text
    body["min_severity"] = 3
    for user in ("partner", "analyst"):
        refused = await client.post("/api/alert_rules", json=body, headers=headers(user))
        assert refused.status_code == 403, user
    bad = await client.post(
        "/api/alert_rules", json={**body, "radius_km": -1}, headers=headers("officer")
    )
    assert bad.status_code == 422
    created = await rule(client, headers, **body)
    assert created["created_by"] == "officer" and created["enabled"] is True
    rule_url = f"/api/alert_rules/{created['id']}"
    changed = await client.patch(rule_url, json={"radius_km": 7.5}, headers=headers("officer"))
    assert changed.status_code == 200 and changed.json()["radius_km"] == 7.5
    assert (await client.get(rule_url, headers=headers("partner"))).status_code == 403
    listed = await client.get("/api/alert_rules", headers=headers("analyst"))
    assert created["id"] in listed.text
    assert (await client.delete(rule_url, headers=headers("officer"))).status_code == 204
    assert (await client.get(rule_url, headers=headers("analyst"))).status_code == 404
    audit = await client.get(
        "/api/audit", params={"record": created["id"]}, headers=headers("admin")
    )
    assert audit.status_code == 200
    assert sorted(e["action"] for e in audit.json()) == ["create", "delete", "update"]


async def test_incident_near_a_site_raises_exactly_one_alert(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession
) -> None:
    await near_rule(client, headers, categories=["armed_clash", "abduction"])
    site = await make(
        "idp_sites", geometry=factories.point(X, Y), classification="public", name="Kalembe camp"
    )
    # A mission-classified area around the site: a public alert must not name it.
    await make(
        "sectors",
        geometry=factories.square(X - 0.05, Y - 0.05, X + 0.05, Y + 0.05),
        name="SECRET-BATTALION-AREA",
        level="battalion",
        classification="mission",
    )
    near = await make(
        "incidents", geometry=factories.point(X + 5 * KM, Y), severity=4, classification="public"
    )
    far = await make("incidents", geometry=factories.point(X + 15 * KM, Y), severity=5)
    mild = await make("incidents", geometry=factories.point(X + 2 * KM, Y), severity=2)
    other = await make(
        "incidents", geometry=factories.point(X, Y + 1 * KM), severity=5, category="looting"
    )
    raised = await evaluate(session, incidents=[near["id"], far["id"], mild["id"], other["id"]])
    assert len(raised) == 1 and raised[0].created
    # The same condition again (re-evaluation, an update of the incident): no second alert.
    assert await evaluate(session, incidents=[near["id"]]) == []
    assert await evaluate(session, idp_sites=[site["id"]]) == []
    found = await alerts(client, headers, kind="incident_near_site")
    mine = [
        a
        for a in found
        if {"collection": "incidents", "id": near["id"]} in a["properties"]["records"]
    ]
    assert len(mine) == 1
    alert = mine[0]["properties"]
    assert {"collection": "idp_sites", "id": site["id"]} in alert["records"]
    assert alert["status"] == "new" and alert["severity"] == 4 and alert["radius_km"] == 10
    assert alert["classification"] == "public"
    assert mine[0]["geometry"]["type"] == "Polygon"  # the circle warned about
    assert alert["center"]["coordinates"] == [X, Y]
    # It says where: the site by name and the sector it lies in.
    sector = await smallest_sector(session, X, Y)
    assert alert["title"].startswith("Severity 4 armed clash 4.9")
    assert alert["title"].endswith(f" km from Kalembe camp ({sector})")
    assert f"IDP site Kalembe camp ({sector})" in alert["description"]
    assert "SECRET-BATTALION-AREA" not in str(mine)
    for record in (far, mild, other):
        assert record["id"] not in str(found)


async def test_cluster_of_incidents_in_a_cell_raises_one_growing_alert(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession
) -> None:
    await rule(client, headers, name="cluster", kind="incident_cluster", min_count=3,
               window_hours=24, cell_km=10)  # fmt: skip
    cell = 10 / 111.32
    x0, y0 = (int(X / cell) + 0.3) * cell, (int(Y / cell) + 0.3) * cell
    times = ("2026-11-01T01:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T20:00:00Z",
             "2026-11-01T23:00:00Z")  # fmt: skip
    made: list[dict[str, Any]] = []
    results: list[list[rules.Raised]] = []
    for i, moment in enumerate(times):
        point = factories.point(x0 + i * 0.001, y0)
        made.append(await make("incidents", geometry=point, occurred_at=moment))
        results.append(await evaluate(session, incidents=[made[-1]["id"]]))
    assert results[0] == [] and results[1] == []
    raised = results[2]
    assert len(raised) == 1 and raised[0].created
    # A fourth one in the same cell and window: the same open alert, one more record.
    grown = results[3]
    assert len(grown) == 1 and not grown[0].created and grown[0].alert_id == raised[0].alert_id
    assert await evaluate(session, incidents=[made[3]["id"]]) == []
    found = await alerts(client, headers, kind="incident_cluster")
    assert len(found) == 1
    records = found[0]["properties"]["records"]
    assert {r["id"] for r in records} == {m["id"] for m in made}
    assert found[0]["geometry"]["type"] == "Polygon"


async def test_armed_group_near_a_site(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession
) -> None:
    await rule(client, headers, name="armed groups", kind="armed_group_near_site", radius_km=20)
    site = await make("idp_sites", geometry=factories.point(X, Y), name="Dorosa settlement")
    group = await make(
        "actors", geometry=factories.point(X + 10 * KM, Y), category="armed_group", name="FLN"
    )
    ngo = await make("actors", geometry=factories.point(X + 1 * KM, Y), category="ngo")
    raised = await evaluate(session, actors=[group["id"], ngo["id"]])
    assert len(raised) == 1
    assert await evaluate(session, idp_sites=[site["id"]]) == []
    found = await alerts(client, headers, kind="armed_group_near_site")
    assert len(found) == 1 and ngo["id"] not in str(found)
    sector = await smallest_sector(session, X, Y)
    title = found[0]["properties"]["title"]
    assert title.startswith("FLN ") and title.endswith(f" km from Dorosa settlement ({sector})")


async def test_lifecycle_and_filters(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession
) -> None:
    await near_rule(client, headers)
    await make("idp_sites", geometry=factories.point(X, Y))
    incident = await make("incidents", geometry=factories.point(X, Y + 2 * KM), severity=5)
    (raised,) = await evaluate(session, incidents=[incident["id"]])
    url = f"/api/alerts/{raised.alert_id}"
    for user in ("partner", "analyst"):
        refused = await client.post(f"{url}/acknowledge", headers=headers(user))
        assert refused.status_code in (403, 404), user
    acknowledged = await client.post(f"{url}/acknowledge", headers=headers("officer"))
    assert acknowledged.status_code == 200, acknowledged.text
    properties = acknowledged.json()["properties"]
    assert properties["status"] == "acknowledged" and properties["acknowledged_by"] == "officer"
    assert properties["acknowledged_at"] is not None
    again = await client.post(f"{url}/acknowledge", headers=headers("officer"))
    assert again.status_code == 409
    assert [a["id"] for a in await alerts(client, headers, status="acknowledged")] == [
        str(raised.alert_id)
    ]
    assert await alerts(client, headers, status="new") == []
    assert len(await alerts(client, headers, min_severity=5)) == 1
    assert (
        await client.get("/api/alerts", params={"status": "open"}, headers=headers("admin"))
    ).status_code == 422
    closed = await client.post(f"{url}/close", headers=headers("admin"))
    assert closed.status_code == 200
    assert closed.json()["properties"]["closed_by"] == "admin"
    assert (await client.post(f"{url}/close", headers=headers("admin"))).status_code == 409
    # Closed is closed: the same pair of records does not raise again.
    assert await evaluate(session, incidents=[incident["id"]]) == []
    bbox = f"{X - 0.01},{Y - 0.01},{X + 0.01},{Y + 0.01}"
    assert len(await alerts(client, headers, bbox=bbox)) == 1
    assert await alerts(client, headers, bbox="22,9,22.5,9.5") == []


@pytest.mark.parametrize("kind", ["circle", "polygon"])
async def test_cap_document_validates_against_the_cap_12_schema(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession, kind: str
) -> None:
    if kind == "circle":
        await near_rule(client, headers)
        await make("idp_sites", geometry=factories.point(X, Y))
        incident = await make("incidents", geometry=factories.point(X, Y + 2 * KM), severity=5)
        (raised,) = await evaluate(session, incidents=[incident["id"]])
    else:
        await rule(client, headers, name="cluster", kind="incident_cluster", min_count=2,
                   window_hours=24, cell_km=10)  # fmt: skip
        ids = [
            (await make("incidents", geometry=factories.point(X + i * 0.001, Y)))["id"]
            for i in range(2)
        ]
        (raised,) = await evaluate(session, incidents=ids)
    response = await client.get(f"/api/alerts/{raised.alert_id}/cap", headers=headers("admin"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/cap+xml")
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(response.text)  # raises with the reason when invalid
    document = schema.to_dict(response.text)
    area = document["info"][0]["area"][0]
    if kind == "circle":
        assert area["circle"] == [f"{Y:.6f},{X:.6f} 10"]
    else:
        points = area["polygon"][0].split()
        assert len(points) >= 4 and points[0] == points[-1]
    assert document["scope"] == "Restricted"  # mission records
    broken = response.text.replace("<status>Actual</status>", "<status>Real</status>")
    assert not schema.is_valid(broken)


async def test_atom_feed_of_alerts(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession
) -> None:
    from xml.etree import ElementTree as ET

    await near_rule(client, headers)
    await make("idp_sites", geometry=factories.point(X, Y))
    incident = await make("incidents", geometry=factories.point(X, Y + 2 * KM), severity=5)
    (raised,) = await evaluate(session, incidents=[incident["id"]])
    atom = "{http://www.w3.org/2005/Atom}"
    for user, count in (("admin", 1), ("partner", 0)):  # a mission alert: not for partners
        response = await client.get("/api/alerts/feed.atom", headers=headers(user))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/atom+xml")
        feed = ET.fromstring(response.content)  # noqa: S314 - our own output
        entries = feed.findall(f"{atom}entry")
        assert len(entries) == count, user
        if count:
            assert entries[0].findtext(f"{atom}id") == f"urn:uuid:{raised.alert_id}"
            links = {
                link.get("type"): link.get("href") for link in entries[0].findall(f"{atom}link")
            }
            assert links["application/cap+xml"].endswith(f"/api/alerts/{raised.alert_id}/cap")


async def test_the_api_document_names_what_each_alert_route_answers(client: AsyncClient) -> None:
    """A client generated from the OpenAPI document must know it gets GeoJSON, CAP, Atom or
    an event stream, not JSON of unknown shape."""
    paths = (await client.get("/openapi.json")).json()["paths"]
    expected = {
        ("/api/alerts", "get"): "application/geo+json",
        ("/api/alerts/feed.atom", "get"): "application/atom+xml",
        ("/api/alerts/{alert_id}", "get"): "application/geo+json",
        ("/api/alerts/{alert_id}/cap", "get"): "application/cap+xml",
        ("/api/alerts/{alert_id}/acknowledge", "post"): "application/geo+json",
        ("/api/alerts/{alert_id}/close", "post"): "application/geo+json",
        ("/api/stream", "get"): "text/event-stream",
    }
    for (path, method), media_type in expected.items():
        assert list(paths[path][method]["responses"]["200"]["content"]) == [media_type], path


async def smallest_sector(session: AsyncSession, lon: float, lat: float) -> str:
    """The name of the smallest public area of responsibility that holds a point."""
    name = await session.scalar(
        text(
            "SELECT name FROM sectors WHERE deleted_at IS NULL AND classification = 'public' "
            "AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) "
            "ORDER BY array_position(ARRAY['battalion', 'sector', 'force'], level) LIMIT 1"
        ),
        {"x": lon, "y": lat},
    )
    assert name
    return str(name)


async def test_cap_messages_of_an_alert_have_their_own_ids_and_reference_the_first(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession
) -> None:
    """As aggregators read CAP: the alert as raised, its acknowledgement (an Update) and its
    closing (a Cancel) are three messages with three identifiers; the later two reference
    the first; each expires; the area is named by the place, not the headline."""
    await near_rule(client, headers)
    await make("idp_sites", geometry=factories.point(X, Y), name="Kalembe camp")
    incident = await make("incidents", geometry=factories.point(X, Y + 2 * KM), severity=5)
    (raised,) = await evaluate(session, incidents=[incident["id"]])
    schema = xmlschema.XMLSchema(str(XSD))
    url = f"/api/alerts/{raised.alert_id}"

    async def cap() -> dict[str, Any]:
        response = await client.get(f"{url}/cap", headers=headers("admin"))
        assert response.status_code == 200
        schema.validate(response.text)
        document: dict[str, Any] = schema.to_dict(response.text)
        return document

    first = await cap()
    assert first["msgType"] == "Alert" and "references" not in first
    assert first["identifier"] == f"civop-alert-{raised.alert_id}"
    info = first["info"][0]
    assert info["expires"] > info["effective"]
    place = info["area"][0]["areaDesc"]
    assert place.startswith("Kalembe camp") and info["headline"] not in place
    assert await cap() == first  # the same state is the same message

    assert (await client.post(f"{url}/acknowledge", headers=headers("admin"))).status_code == 200
    update = await cap()
    assert update["msgType"] == "Update"
    reference = f"{first['sender']},{first['identifier']},{first['sent']}"
    assert update["references"] == reference
    assert update["identifier"] not in (first["identifier"],)

    assert (await client.post(f"{url}/close", headers=headers("admin"))).status_code == 200
    cancel = await cap()
    assert cancel["msgType"] == "Cancel" and cancel["references"] == reference
    assert len({first["identifier"], update["identifier"], cancel["identifier"]}) == 3
    assert cancel["info"][0]["expires"] == cancel["sent"]


async def test_field_reports_alert_as_unverified_and_discredited_or_merged_ones_never(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession
) -> None:
    await near_rule(client, headers)
    await rule(client, headers, name="cluster", kind="incident_cluster", min_count=3,
               window_hours=24, cell_km=10)  # fmt: skip
    x, y = X + 0.6, Y + 0.6  # away from the other tests' sites
    site = await make("idp_sites", geometry=factories.point(x, y), name="Bangui-Ville camp")

    async def incident(dx_km: float, state: str = "verified", **fields: Any) -> dict[str, Any]:
        made = await make(
            "incidents", geometry=factories.point(x + dx_km * KM, y), severity=4,
            occurred_at="2026-11-02T10:00:00Z", **fields,
        )  # fmt: skip
        if state == "reported":  # as the intake writes it
            await session.execute(
                text("UPDATE incidents SET verification_state = 'reported' WHERE id = :id"),
                {"id": made["id"]},
            )
        return made

    reported = await incident(3, "reported")
    discredited = await incident(4, "reported")
    judged = await client.post(
        f"/api/incidents/{discredited['id']}/discredit",
        json={"reason": "the village elders saw nothing"},
        headers=headers("analyst"),
    )
    assert judged.status_code == 200, judged.text
    kept = await incident(5)
    duplicate = await incident(5.2, "reported")
    merged = await client.post(
        f"/api/incidents/{kept['id']}/merge",
        json={"duplicate_id": duplicate["id"]},
        headers=headers("analyst"),
    )
    assert merged.status_code == 200, merged.text

    everyone = [reported["id"], discredited["id"], kept["id"], duplicate["id"]]
    raised = await evaluate(session, incidents=everyone)
    # Two alerts near the site (the report, the incident kept); no cluster: of the four in the
    # cell only two are events.
    found = await alerts(client, headers)
    assert len(raised) == 2, [a["properties"]["title"] for a in found]
    found = await alerts(client, headers)
    by_incident = {
        r["id"]: a["properties"]
        for a in found
        for r in a["properties"]["records"]
        if r["collection"] == "incidents"
    }
    assert set(by_incident) & set(everyone) == {reported["id"], kept["id"]}
    early = by_incident[reported["id"]]
    assert early["kind"] == "incident_near_site"
    assert {"collection": "idp_sites", "id": site["id"]} in early["records"]
    assert early["title"].startswith("Unverified report: Severity 4 armed clash ")
    assert " km from Bangui-Ville camp" in early["title"]
    assert early["description"].startswith("A field report not yet verified tells of")
    staff = by_incident[kept["id"]]
    assert staff["title"].startswith("Severity 4") and "verified" not in staff["description"]

    # A third event in the cell and window makes a cluster, which says how many of its
    # incidents are reports not yet judged.
    third = await incident(6)
    raised = await evaluate(session, incidents=[third["id"]])
    clusters = await alerts(client, headers, kind="incident_cluster")
    assert len(clusters) == 1
    cluster = clusters[0]["properties"]
    assert {r["id"] for r in cluster["records"]} == {reported["id"], kept["id"], third["id"]}
    assert cluster["description"].endswith("1 of them from field reports not yet verified.")

    # A report discredited after its alert: evaluated again, it raises nothing new.
    judged = await client.post(
        f"/api/incidents/{reported['id']}/discredit",
        json={"reason": "a rumour"},
        headers=headers("analyst"),
    )
    assert judged.status_code == 200, judged.text
    assert await evaluate(session, incidents=[reported["id"]]) == []
