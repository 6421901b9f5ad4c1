"""Judging field reports through the API: verify and discredit with who, when and why in the
audit trail; likely duplicates with their score and reasons; merge and dismiss; and what a
merge never shows: a source hidden from its reader, a partner's report to another partner."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient

from service.field_reports import xlsform
from tests import factories
from tests.test_field_reports import ANSWERS, as_form, form, kobo_submission, two_ngos_and_a_form
from tests.test_requests import PartnerOf, partner_of

__all__ = ["form", "partner_of"]  # fixtures

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]


async def report(
    client: AsyncClient, form: dict[str, Any], form_id: str = xlsform.FORM_ID, **answers: Any
) -> str:
    """A field report through the intake; its incident's id."""
    response = await client.post(
        f"/api/intake/{form_id}",
        json=kobo_submission({**ANSWERS, **answers}, form_id=form_id),
        headers=as_form(form),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["incident_id"])


async def properties(client: AsyncClient, who: dict[str, str], incident: str) -> dict[str, Any]:
    response = await client.get(f"/api/incidents/{incident}", headers=who)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["properties"]
    return body


async def test_an_analyst_verifies_a_report_and_the_trail_says_who_when_and_why(
    client: AsyncClient, headers: Headers, form: dict[str, Any]
) -> None:
    incident = await report(client, form)
    url = f"/api/incidents/{incident}"
    refused = await client.post(f"{url}/verify", json={}, headers=headers("partner"))
    assert refused.status_code in (403, 404)
    response = await client.post(
        f"{url}/verify", json={"reason": "seen by patrol 3 Coy"}, headers=headers("analyst")
    )
    assert response.status_code == 200, response.text
    judged = response.json()
    assert judged["properties"]["verification_state"] == "verified"
    assert judged["properties"]["verified_by"] == "analyst"
    assert judged["properties"]["verification_reason"] == "seen by patrol 3 Coy"
    assert judged["properties"]["verified_at"]
    assert "verify" not in judged["actions"] and "discredit" in judged["actions"]
    again = await client.post(f"{url}/verify", json={}, headers=headers("analyst"))
    assert again.status_code == 409
    # Discrediting needs a reason.
    bare = await client.post(f"{url}/discredit", json={}, headers=headers("officer"))
    assert bare.status_code == 422
    done = await client.post(
        f"{url}/discredit", json={"reason": "staged, per UNPOL"}, headers=headers("officer")
    )
    assert done.json()["properties"]["verification_state"] == "discredited"
    trail = (await client.get(f"/api/audit?record={incident}", headers=headers("admin"))).json()
    changes = [
        (e["actor"], e["after"]["verification_state"], e["after"]["verification_reason"])
        for e in trail
        if e["action"] == "update"
    ]
    assert ("analyst", "verified", "seen by patrol 3 Coy") in changes
    assert ("officer", "discredited", "staged, per UNPOL") in changes


async def test_likely_duplicates_are_scored_with_their_reasons_and_merged_by_an_analyst(
    client: AsyncClient, headers: Headers, make: Make, form: dict[str, Any]
) -> None:
    near = await make(
        "incidents",
        geometry=factories.point(25.33, 5.315),
        category="looting",
        occurred_at="2026-12-01T09:00:00Z",
        description="Market stalls looted at dawn by armed men",
        source="UNPOL patrol",
        source_reliability="A",
        classification="mission",
    )
    far = await make(
        "incidents",
        geometry=factories.point(26.5, 5.3),
        category="looting",
        occurred_at="2026-12-01T09:00:00Z",
        description="Armed men looted the market stalls at dawn",
        classification="mission",
    )
    other_kind = await make(
        "incidents",
        geometry=factories.point(25.32, 5.31),
        category="displacement",
        occurred_at="2026-11-20T09:00:00Z",
        description="Families left for the camp",
        classification="mission",
    )
    incident = await report(client, form)
    response = await client.get(f"/api/incidents/{incident}/duplicates", headers=headers("analyst"))
    assert response.status_code == 200, response.text
    found = {c["incident_id"]: c for c in response.json()["candidates"]}
    assert near["id"] in found
    assert far["id"] not in found and other_kind["id"] not in found
    codes = {r["code"] for r in found[near["id"]]["reasons"]}
    assert {"same_category", "distance_km", "hours_apart", "text_similarity"} <= codes
    assert 0.55 <= found[near["id"]]["score"] <= 1
    # Partners judge nothing.
    refused = await client.post(
        f"/api/incidents/{near['id']}/merge",
        json={"duplicate_id": incident},
        headers=headers("partner"),
    )
    assert refused.status_code in (403, 404)
    merged = await client.post(
        f"/api/incidents/{near['id']}/merge",
        json={"duplicate_id": incident},
        headers=headers("analyst"),
    )
    assert merged.status_code == 200, merged.text
    assert (await properties(client, headers("analyst"), incident))["duplicate_of_id"] == near["id"]
    listed = (
        await client.get(f"/api/incidents/{near['id']}/sources", headers=headers("analyst"))
    ).json()["sources"]
    assert {(s["source"], s["source_reliability"]) for s in listed} == {
        ("UNPOL patrol", "A"),
        (ANSWERS["source"], ANSWERS["source_reliability"]),
    }
    twice = await client.post(
        f"/api/incidents/{near['id']}/merge",
        json={"duplicate_id": incident},
        headers=headers("analyst"),
    )
    assert twice.status_code == 409
    trail = (await client.get(f"/api/audit?record={incident}", headers=headers("admin"))).json()
    assert any(
        e["actor"] == "analyst" and e["after"]["duplicate_of_id"] == near["id"] for e in trail
    )


async def test_a_dismissed_candidate_is_not_offered_again(
    client: AsyncClient, headers: Headers, make: Make, form: dict[str, Any]
) -> None:
    near = await make(
        "incidents",
        geometry=factories.point(25.321, 5.311),
        category="looting",
        occurred_at="2026-12-01T07:00:00Z",
        description="Looting at the market",
        classification="mission",
    )
    incident = await report(client, form)
    url = f"/api/incidents/{incident}/duplicates"
    before = (await client.get(url, headers=headers("analyst"))).json()["candidates"]
    assert near["id"] in {c["incident_id"] for c in before}
    dismissed = await client.post(
        f"{url}/{near['id']}/dismiss",
        json={"reason": "two lootings that morning, per the chief"},
        headers=headers("analyst"),
    )
    assert dismissed.status_code == 204, dismissed.text
    after = (await client.get(url, headers=headers("analyst"))).json()["candidates"]
    assert near["id"] not in {c["incident_id"] for c in after}
    trail = (await client.get(f"/api/audit?record={incident}", headers=headers("admin"))).json()
    assert any(
        e["action"] == "dismiss_duplicate" and e["after"]["candidate_id"] == near["id"]
        for e in trail
    )


@pytest.fixture
async def restricted_form(client: AsyncClient, headers: Headers) -> dict[str, Any]:
    response = await client.post(
        "/api/intake-forms",
        json={
            "form_id": "protection_cluster",
            "title": "Protection cluster alerts",
            "default_classification": "restricted",
        },
        headers=headers("admin"),
    )
    body: dict[str, Any] = response.json()
    return body


async def test_a_merge_never_shows_a_hidden_source(
    client: AsyncClient,
    headers: Headers,
    make: Make,
    form: dict[str, Any],
    restricted_form: dict[str, Any],
) -> None:
    """A restricted report merged into a mission incident: readers not cleared for restricted
    records see the incident, and neither the report nor its source."""
    kept = await make(
        "incidents",
        geometry=factories.point(25.32, 5.31),
        category="looting",
        occurred_at="2026-12-01T07:00:00Z",
        source="UNPOL patrol",
        classification="mission",
    )
    hidden = await report(
        client, restricted_form, "protection_cluster", source="protection monitor P-12"
    )
    merged = await client.post(
        f"/api/incidents/{kept['id']}/merge",
        json={"duplicate_id": hidden},
        headers=headers("admin"),
    )
    assert merged.status_code == 200, merged.text
    for user, sees_hidden in (("analyst", False), ("officer", False), ("analyst-cleared", True)):
        listed = (
            await client.get(f"/api/incidents/{kept['id']}/sources", headers=headers(user))
        ).json()["sources"]
        assert ("protection monitor P-12" in {s["source"] for s in listed}) is sees_hidden, user
        assert (hidden in {s["incident_id"] for s in listed}) is sees_hidden, user
    # An analyst not cleared may not merge a report they cannot see, nor learn it exists.
    unseen = await client.post(
        f"/api/incidents/{kept['id']}/merge",
        json={"duplicate_id": hidden},
        headers=headers("analyst"),
    )
    assert unseen.status_code == 422
    assert "no incident you may see" in unseen.text
    # Nor is it offered to them as a candidate.
    other = await report(client, form)
    offered = (
        await client.get(f"/api/incidents/{other}/duplicates", headers=headers("analyst"))
    ).json()["candidates"]
    assert hidden not in {c["incident_id"] for c in offered}


async def test_a_partners_report_merged_into_the_missions_incident_stays_theirs_alone(
    client: AsyncClient, headers: Headers, make: Make, partner_of: PartnerOf
) -> None:
    ngo, other_ngo, created = await two_ngos_and_a_form(client, headers, make)
    theirs = await report(client, created, "kalembe_alerts")
    kept = await make(
        "incidents",
        geometry=factories.point(25.32, 5.31),
        category="looting",
        occurred_at="2026-12-01T07:00:00Z",
        source="informant K-7",
        classification="mission",
    )
    merged = await client.post(
        f"/api/incidents/{kept['id']}/merge",
        json={"duplicate_id": theirs},
        headers=headers("analyst"),
    )
    assert merged.status_code == 200, merged.text
    own, other = await partner_of(ngo["id"]), await partner_of(other_ngo["id"])
    # The partner still sees their report, but not the mission's incident it points to.
    mine = await properties(client, own, theirs)
    assert mine["duplicate_of_id"] is None
    assert (await client.get(f"/api/incidents/{kept['id']}", headers=own)).status_code == 404
    hidden_sources = await client.get(f"/api/incidents/{kept['id']}/sources", headers=own)
    assert hidden_sources.status_code == 404
    # Another partner sees neither.
    for incident in (theirs, kept["id"]):
        response = await client.get(f"/api/incidents/{incident}", headers=other)
        assert response.status_code == 404
    assert (
        await client.get(f"/api/incidents/{kept['id']}/sources", headers=other)
    ).status_code == 404
    assert str(uuid.UUID(theirs)) == theirs
