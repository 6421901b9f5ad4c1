"""Incidents in the workspace, as officers and partners use them in Chromium: report one by a
click on the map, correct it, see it on the analysts' map; a partner sees no button it may not
use and its forged posts are refused; a report typed offline is sent once when back online."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests import factories
from tests.conftest import ARTIFACTS, LiveServer
from tests.workspace_browser import browser, open_workspace

__all__ = ["browser"]

#: The North-West, away from the places other live-server tests write to.
PLACE = (24.713, 7.281)  # lon, lat
DESCRIPTION = "Market stalls burnt at Bossele junction"


async def api(live_server: LiveServer, username: str) -> httpx.AsyncClient:
    key = await live_server.api_key(username)
    # A loaded machine answers slowly: wait as a user would, not httpx's 5 s.
    return httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": key}, timeout=60)


async def incidents_with(live_server: LiveServer, text: str) -> list[dict[str, Any]]:
    async with await api(live_server, "admin") as http:
        answer = await http.get("/api/incidents", params={"q": text, "limit": 50})
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["features"]
        return found


async def fill_report(page: Any, description: str, *, click_map: bool = True) -> None:
    await page.get_by_label("What happened").select_option(label="Looting")
    if click_map:
        # The map starts on the mission's box: a click sets latitude and longitude.
        await page.get_by_role("application", name="Map: click to set the location").click()
        assert await page.get_by_label("Latitude").input_value() != ""
    await page.get_by_label("Latitude").fill(str(PLACE[1]))
    await page.get_by_label("Longitude").fill(str(PLACE[0]))
    await page.get_by_label("Longitude").press("Tab")
    assert (await page.get_by_label("Or an MGRS grid reference").input_value()).startswith("35N")
    await page.get_by_role("radio", name="3: serious").check()
    await page.get_by_label("Injured").fill("4")
    await page.get_by_role("radio", name="Public: partners may see it").check()
    await page.get_by_label("Description").fill(description)


async def test_an_officer_reports_corrects_and_sees_the_incident_on_the_map(
    browser: Any, live_server: LiveServer
) -> None:
    async with await api(live_server, "admin") as http:
        place = factories.feature(
            "places", geometry=factories.point(*PLACE), name="Bossele junction", population=800
        )
        assert (await http.post("/api/places", json=place)).status_code == 201
    opened = await open_workspace(browser, live_server, "officer")
    page = opened.page
    await page.get_by_role("link", name="Report an incident").first.click()
    await page.get_by_role("heading", name="Report an incident").wait_for()
    # Sent empty: the error summary links to each field, the message is next to the field.
    await page.get_by_role("button", name="Send the report").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    await summary.wait_for()
    await summary.get_by_role("link", name="What happened: This field is required.").wait_for()
    await opened.screenshot("incidents-errors")
    await summary.get_by_role("link", name="What happened: This field is required.").click()
    assert await page.evaluate("document.activeElement.id") == "f-category"

    # A place from the gazetteer sets the point.
    await page.get_by_label("Or a place").fill("Bossel")
    await page.get_by_role("button", name="Bossele junction").click()
    assert float(await page.get_by_label("Latitude").input_value()) == pytest.approx(PLACE[1])
    assert float(await page.get_by_label("Longitude").input_value()) == pytest.approx(PLACE[0])
    await fill_report(page, DESCRIPTION)
    await opened.screenshot("incidents-report")
    await page.get_by_role("button", name="Send the report").click()
    await page.get_by_role("heading", name="Incident reported").wait_for()
    [stored] = await incidents_with(live_server, DESCRIPTION)
    assert stored["geometry"]["coordinates"] == [pytest.approx(PLACE[0]), pytest.approx(PLACE[1])]
    assert stored["properties"]["injured"] == 4 and stored["properties"]["severity"] == 3

    await page.get_by_role("link", name="Open the incident").click()
    await page.get_by_role("heading", name="Looting", exact=False).first.wait_for()
    await opened.screenshot("incidents-record")
    await page.get_by_role("link", name="Correct").click()
    await page.get_by_role("heading", name="Correct an incident").wait_for()
    assert await page.get_by_label("Description").input_value() == DESCRIPTION
    await page.get_by_role("radio", name="4: severe").check()
    await page.get_by_label("Killed").fill("2")
    await page.get_by_role("button", name="Save the correction").click()
    await page.get_by_role("heading", name="Incident corrected").wait_for()
    [corrected] = await incidents_with(live_server, DESCRIPTION)
    assert corrected["id"] == stored["id"]
    assert corrected["properties"]["severity"] == 4 and corrected["properties"]["killed"] == 2
    assert corrected["properties"]["injured"] == 4, "a correction keeps what it did not change"
    assert opened.unexpected_errors(422) == [] and opened.outside == [], opened.errors
    await opened.close()

    # The analysts' map shows it where it was reported, and its popup opens the record page.
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{live_server.url}/map")
    await page.fill("#civop-username", "analyst")
    await page.fill("#civop-password", factories.PASSWORD)
    await page.click("#civop-login-submit")
    await page.wait_for_function("window.civop && civop.ready.incidents !== undefined")
    await page.evaluate(f"void civop.state.map.setView([{PLACE[1]}, {PLACE[0]}], 13)")
    await page.wait_for_function(
        f"civop.visibleIds('incidents').includes({stored['id']!r})", timeout=20_000
    )
    await page.screenshot(path=str(ARTIFACTS / "workspace-incidents-on-the-map.png"))
    # Its popup opens the record page, signed in with the map's sign-in (the same tab).
    marker = page.locator(".folium-map")  # the incident is at the centre of the view
    link = page.get_by_role("link", name="Open the record page")
    for _ in range(4):  # a click during the zoom animation lands beside the marker
        await marker.click()
        try:
            await link.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:
            continue
    await link.click()
    await page.get_by_role("heading", name="History").wait_for()
    assert DESCRIPTION in await page.get_by_role("table").inner_text()
    # The analyst reads it; the buttons are those the service reports for an analyst: no
    # change to the record, only judging it as a report (analysts triage field reports).
    actions = page.get_by_role("group", name="What you may do")
    assert await actions.get_by_role("link").all_inner_texts() == ["Discredit", "Back to the map"]
    await context.close()


async def test_an_officer_deletes_an_incident_from_its_record_page(
    browser: Any, live_server: LiveServer
) -> None:
    async with await api(live_server, "officer") as http:
        made = await http.post(
            "/api/incidents",
            json=factories.feature(
                "incidents",
                geometry=factories.point(PLACE[0] - 0.02, PLACE[1]),
                description="Duplicate of the Bossele report",
            ),
        )
        assert made.status_code == 201, made.text
    incident = made.json()["id"]
    path = f"/workspace/records/incidents/{incident}"
    opened = await open_workspace(browser, live_server, "officer", path)
    page = opened.page
    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete").click()
    await page.get_by_role("heading", name="Incident deleted").wait_for()
    async with await api(live_server, "admin") as http:
        assert (await http.get(f"/api/incidents/{incident}")).status_code == 404
    assert opened.unexpected_errors() == [] and opened.outside == [], opened.errors
    await opened.close()


async def test_a_partner_sees_no_button_it_may_not_use_and_its_forged_posts_are_refused(
    browser: Any, live_server: LiveServer
) -> None:
    async with await api(live_server, "officer") as http:
        made = await http.post(
            "/api/incidents",
            json=factories.feature(
                "incidents",
                geometry=factories.point(PLACE[0] + 0.02, PLACE[1] + 0.01),
                classification="public",
                description="Checkpoint closed to traders",
            ),
        )
        assert made.status_code == 201, made.text
    incident = made.json()["id"]

    opened = await open_workspace(browser, live_server, "partner")
    page = opened.page
    nav = page.get_by_role("navigation", name="Workspace")
    await nav.get_by_role("link", name="Incidents").wait_for()
    assert await nav.get_by_role("link", name="Report an incident").count() == 0
    await page.goto(f"{live_server.url}/workspace/records/incidents/{incident}")
    await page.get_by_role("heading", name="Details").wait_for()
    actions = page.get_by_role("group", name="What you may do")
    assert await actions.get_by_role("link").all_inner_texts() == ["Back to the map"]
    assert await actions.get_by_role("button").count() == 0
    await opened.screenshot("incidents-partner-record")
    # The form's address typed by hand: the page says why not.
    await page.goto(f"{live_server.url}/workspace/incidents/new")
    refusal = page.get_by_role("alert").filter(has_text="You may not do this")
    await refusal.wait_for()
    assert "officers and admins may" in await refusal.inner_text()
    assert opened.unexpected_errors(403) == [] and opened.outside == [], opened.errors
    await opened.close()

    # Forged posts with the partner's own sign-in: refused, nothing written.
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        signed = await http.post(
            "/auth/token", data={"username": "partner", "password": factories.PASSWORD}
        )
        auth = {"Authorization": f"Bearer {signed.json()['access_token']}", "HX-Request": "true"}
        forged = {
            "category": "looting",
            "latitude": str(PLACE[1]),
            "longitude": str(PLACE[0]),
            "location_precision": "exact",
            "occurred_at": "2026-10-01T10:00",
            "severity": "5",
            "classification": "public",
            "description": "Forged by a partner",
        }
        refused = await http.post("/workspace/incidents", data=forged, headers=auth)
        assert refused.status_code == 403, refused.text
        changed = await http.post(f"/workspace/incidents/{incident}", data=forged, headers=auth)
        assert changed.status_code == 403, changed.text
        deleted = await http.delete(f"/workspace/records/incidents/{incident}", headers=auth)
        assert deleted.status_code == 403, deleted.text
    assert await incidents_with(live_server, "Forged by a partner") == []
    [kept] = await incidents_with(live_server, "Checkpoint closed to traders")
    assert (
        kept["properties"]["severity"] == factories.feature("incidents")["properties"]["severity"]
    )


async def test_a_report_typed_offline_is_kept_and_sent_once_when_back_online(
    browser: Any, live_server: LiveServer
) -> None:
    description = "Shots heard near the Ndele road ferry"
    opened = await open_workspace(browser, live_server, "officer", "/workspace/incidents/new")
    page = opened.page
    await page.get_by_role("heading", name="Report an incident").wait_for()
    await fill_report(page, description, click_map=False)
    await opened.context.set_offline(True)
    await page.get_by_role("button", name="Send the report").click()
    status = page.get_by_role("status").filter(has_text="waiting to send")
    await status.wait_for()
    assert "You are offline" in await status.inner_text()
    await page.get_by_text("Waiting to send: Looting").wait_for()
    await opened.screenshot("incidents-offline-waiting")
    [kept] = await page.evaluate("civopWorkspace.outbox()")
    assert await incidents_with(live_server, description) == []

    # Another user signs in on the same tablet before the link is back: the report is
    # neither shown to them nor sent with their sign-in.
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        other = await http.post(
            "/auth/token", data={"username": "officer-north", "password": factories.PASSWORD}
        )
    own = await page.evaluate("sessionStorage.getItem('civop.token')")
    await page.evaluate(f"sessionStorage.setItem('civop.token', {other.json()['access_token']!r})")
    await opened.context.set_offline(False)
    await page.evaluate("civopWorkspace.flush()")
    assert await incidents_with(live_server, description) == []
    assert len(await page.evaluate("civopWorkspace.outbox()")) == 1
    # Its author's sign-in sends it.
    await page.evaluate(f"sessionStorage.setItem('civop.token', {own!r})")
    await page.evaluate("civopWorkspace.flush()")
    await page.get_by_role("heading", name="Incident reported").wait_for()
    await page.get_by_role("status").filter(has_text="waiting to send").wait_for(state="detached")
    assert await page.evaluate("civopWorkspace.outbox()") == []
    await opened.screenshot("incidents-offline-sent")
    [stored] = await incidents_with(live_server, description)

    # Sent again with its key (an answer lost on the way back): the first answer, no new record.
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        signed = await http.post(
            "/auth/token", data={"username": "officer", "password": factories.PASSWORD}
        )
        again = await http.post(
            kept["url"],
            data=dict(kept["fields"]),
            headers={
                "Authorization": f"Bearer {signed.json()['access_token']}",
                "HX-Request": "true",
                "Idempotency-Key": kept["key"],
            },
        )
        assert again.status_code == 200, again.text
        assert again.headers.get("idempotent-replayed") == "true"
    assert [f["id"] for f in await incidents_with(live_server, description)] == [stored["id"]]
    assert opened.unexpected_errors(offline=True) == [] and opened.outside == [], opened.errors
    await opened.close()
