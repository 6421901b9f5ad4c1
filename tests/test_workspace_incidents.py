"""Incidents in the workspace, as officers and partners use them in Chromium: report one by a
click on the map, correct it, see it on the analysts' map; a partner sees no button it may not
use and its forged posts are refused; a report typed offline is sent once when back online."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests import factories
from tests.conftest import LiveServer
from tests.workspace_browser import browser, open_workspace

__all__ = ["browser"]

#: The North-West, away from the places other live-server tests write to.
PLACE = (24.713, 7.281)  # lon, lat
DESCRIPTION = "Market stalls burnt at Bossele junction"


async def api(live_server: LiveServer, username: str) -> httpx.AsyncClient:
    key = await live_server.api_key(username)
    return httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": key})


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
    await page.screenshot(path=str(opened_path("incidents-on-the-map")))
    await context.close()


def opened_path(name: str) -> Any:
    from tests.conftest import ARTIFACTS

    return ARTIFACTS / f"workspace-{name}.png"
