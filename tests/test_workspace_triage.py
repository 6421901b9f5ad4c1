"""The triage queue in Chromium, as a JOC analyst uses it: field reports sent by a KoboToolbox
form wait in the queue; the analyst verifies one, and merges another into the incident it
duplicates, shown with its score and reasons. A partner is offered no triage at all."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, own_live_server
from tests.test_field_reports import ANSWERS, kobo_submission
from tests.workspace_browser import browser, open_workspace

__all__ = ["browser"]

#: In the South, away from the places other live-server tests write to.
PLACE = (27.61, 4.41)  # lon, lat


async def api(live_server: LiveServer, username: str) -> httpx.AsyncClient:
    key = await live_server.api_key(username)
    return httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": key}, timeout=60)


@pytest.fixture(scope="module")
async def live_server() -> AsyncIterator[LiveServer]:
    """This module's own service and database: other modules' incidents would be candidates."""
    async with own_live_server("workspace_triage") as server:
        yield server


async def test_a_joc_analyst_verifies_a_report_and_merges_a_duplicate(
    browser: Any, live_server: LiveServer
) -> None:
    form_id = f"joc_patrols_{uuid.uuid4().hex[:6]}"
    async with await api(live_server, "admin") as admin:
        created = await admin.post(
            "/api/intake-forms", json={"form_id": form_id, "title": "3 Coy patrol reports"}
        )
        assert created.status_code == 201, created.text
        token = {"X-Civop-Form-Token": created.json()["token"]}
        known = await admin.post(
            "/api/incidents",
            json={
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [PLACE[0] + 0.004, PLACE[1]]},
                "properties": {
                    "category": "looting",
                    "occurred_at": "2026-12-01T06:00:00Z",
                    "severity": 3,
                    "source": "UNPOL Bossele",
                    "description": "Armed men looted the Bossele market stalls",
                },
            },
        )
        assert known.status_code == 201, known.text
        kept_id = known.json()["id"]
        sent = {}
        for key, answers in {
            "abduction": {
                "category": "abduction",
                "location": f"{PLACE[1] + 0.3} {PLACE[0] - 0.3} 0 5",
                "description": "Two girls taken on the road to the fields",
            },
            "looting": {
                "category": "looting",
                "location": f"{PLACE[1]} {PLACE[0]} 0 5",
                "description": "Bossele market stalls looted by armed men at dawn",
            },
        }.items():
            submission = kobo_submission({**ANSWERS, **answers}, form_id=form_id)
            response = await admin.post(f"/api/intake/{form_id}", json=submission, headers=token)
            assert response.status_code == 201, response.text
            sent[key] = response.json()["incident_id"]

    opened = await open_workspace(browser, live_server, "analyst")
    page = opened.page
    await page.get_by_role("link", name="Reports to triage").first.click()
    await page.get_by_role("heading", name="Reports to triage").wait_for()
    await page.get_by_role("link", name="Triage Abduction").first.wait_for()
    await opened.screenshot("triage-queue")

    # The abduction: no likely duplicate; the analyst verifies it, saying why.
    await page.get_by_role("link", name="Triage Abduction").first.click()
    await page.get_by_role("heading", name="Triage a report").wait_for()
    await page.get_by_text("No likely duplicate among the incidents you may see.").wait_for()
    await page.get_by_label("Why it is verified").fill("Confirmed by the village chief to 3 Coy")
    await page.get_by_role("button", name="Verify the report").click()
    await page.get_by_role("heading", name="Report verified").wait_for()

    # The looting: the market incident already recorded is offered, with the reasons.
    await page.get_by_role("link", name="Back to the reports to triage").click()
    await page.get_by_role("heading", name="Reports to triage").wait_for()
    await page.get_by_role("link", name="Triage Looting").first.click()
    await page.get_by_role("heading", name="Likely duplicates").wait_for()
    candidate = page.get_by_role("article").filter(has_text="likely the same event")
    await candidate.get_by_text("Same category").wait_for()
    await opened.screenshot("triage-duplicates")
    await candidate.get_by_role("button", name="Merge into this incident").click()
    await page.get_by_role("heading", name="Report merged").wait_for()
    assert opened.unexpected_errors() == [] and opened.outside == [], opened.errors
    await opened.close()

    async with await api(live_server, "admin") as admin:
        verified = (await admin.get(f"/api/incidents/{sent['abduction']}")).json()["properties"]
        assert verified["verification_state"] == "verified"
        assert verified["verified_by"] == "analyst"
        assert verified["verification_reason"] == "Confirmed by the village chief to 3 Coy"
        merged = (await admin.get(f"/api/incidents/{sent['looting']}")).json()["properties"]
        assert merged["duplicate_of_id"] == kept_id
        sources = (await admin.get(f"/api/incidents/{kept_id}/sources")).json()["sources"]
        assert {s["source"] for s in sources} == {"UNPOL Bossele", ANSWERS["source"]}


async def test_a_partner_is_offered_no_triage(browser: Any, live_server: LiveServer) -> None:
    opened = await open_workspace(browser, live_server, "partner")
    page = opened.page
    assert await page.get_by_role("link", name="Reports to triage").count() == 0
    await page.goto(f"{live_server.url}/workspace/triage")
    await page.get_by_text("reports are judged by analysts, officers and admins").wait_for()
    await opened.close()
