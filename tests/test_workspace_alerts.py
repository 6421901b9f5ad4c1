"""Alerts in a real browser: an officer creates a rule with the form (not JSON), the rule raises
an alert that reaches the inbox naming its place, the officer acknowledges, assigns, annotates
and closes it; an analyst reads the inbox with no button; a partner is offered no alerts at
all. The API is asked only to set up the incident and to check the result."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests import factories
from tests.conftest import LiveServer, own_live_server
from tests.workspace_browser import WorkspacePage, browser, open_workspace

__all__ = ["browser"]

# A place of its own on the live server: 24.5, 4.5 in the South.
X, Y = 24.5, 4.5
KM = 1 / 111.32
RULE = "Severe incidents near camps"
CAMP = "Bangassou camp"


def clean(opened: WorkspacePage) -> bool:
    errors = [e for e in opened.errors if not e.startswith("Failed to load resource")]
    assert errors == [] and opened.outside == [], (errors, opened.outside)
    return True


async def open_area(
    browser: Any, live_server: LiveServer, username: str, link: str
) -> WorkspacePage:
    opened = await open_workspace(browser, live_server, username)
    nav = opened.page.get_by_role("navigation", name="Workspace")
    await nav.get_by_role("link", name=link, exact=True).click()
    return opened


@pytest.fixture(scope="module")
async def live_server() -> AsyncIterator[LiveServer]:
    """This module's own service and database: other modules' alert rules would raise
    alerts on its camp too."""
    async with own_live_server("workspace_alerts") as server:
        yield server


async def test_a_rule_made_with_the_form_raises_an_alert_that_is_handled_and_closed(
    browser: Any, live_server: LiveServer
) -> None:
    opened = await open_area(browser, live_server, "officer", "Alert rules")
    page = opened.page
    await page.get_by_role("heading", name="Alert rules").wait_for()
    await page.get_by_role("link", name="New rule").click()
    await page.get_by_role("radio", name="Incident near an IDP site").check()
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_label("Name", exact=True).fill(RULE)
    await page.get_by_label("Distance (km)").fill("10")
    # The least severity is left out: the form says what to do.
    await page.get_by_role("button", name="Create the rule").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    await summary.get_by_role("link", name="Least severity of the incidents").wait_for()
    await opened.screenshot("alerts-rule-errors")
    await page.get_by_label("Least severity of the incidents").fill("3")
    await page.get_by_label("Armed clash").check()
    await page.get_by_role("button", name="Create the rule").click()
    await page.get_by_role("status").filter(has_text=f"Rule created: {RULE}.").wait_for()
    await page.get_by_role("rowheader", name=RULE).wait_for()
    await opened.screenshot("alerts-rules")
    # A second rule, changed and then deleted with its form.
    await page.get_by_role("link", name="New rule").click()
    await page.get_by_role("radio", name="Armed group near an IDP site").check()
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_label("Name", exact=True).fill("Armed groups near camps")
    await page.get_by_label("Distance (km)").fill("5")
    await page.get_by_role("button", name="Create the rule").click()
    await page.get_by_role("link", name="Armed groups near camps").click()
    assert await page.get_by_label("Distance (km)").input_value() in ("5", "5.0")
    await page.get_by_label("Distance (km)").fill("8")
    await page.get_by_label("Enabled").uncheck()
    await page.get_by_role("button", name="Save the rule").click()
    await (
        page.get_by_role("status")
        .filter(has_text="Rule saved: Armed groups near camps.")
        .wait_for()
    )
    row = page.get_by_role("row").filter(has_text="Armed groups near camps")
    assert (await row.get_by_role("cell").all_inner_texts())[1] == "No"
    await page.get_by_role("link", name="Armed groups near camps").click()
    assert await page.get_by_label("Distance (km)").input_value() in ("8", "8.0")
    await page.get_by_role("button", name="Delete the rule").click()
    await page.get_by_role("status").filter(has_text="Rule deleted").wait_for()
    assert await page.get_by_role("rowheader", name="Armed groups near camps").count() == 0

    # An armed clash is reported near a camp (through the API, as a partner system would).
    admin = await live_server.api_key("admin")
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        for collection, body in (
            ("idp_sites", factories.feature("idp_sites", geometry=factories.point(X, Y),
                                            name=CAMP, classification="public")),
            ("incidents", factories.feature("incidents", geometry=factories.point(X + 3 * KM, Y),
                                            severity=4, category="armed_clash",
                                            classification="public")),
        ):  # fmt: skip
            created = await http.post(f"/api/{collection}", json=body, headers={"X-API-Key": admin})
            assert created.status_code == 201, created.text

    # The alert reaches the inbox (the rules run on the change, a few seconds later).
    nav = page.get_by_role("navigation", name="Workspace")
    alert = page.get_by_role("article").filter(has_text=CAMP)
    for _ in range(60):
        await nav.get_by_role("link", name="Alerts", exact=True).click()
        await page.get_by_role("heading", name="Open alerts").wait_for()
        if await alert.count():
            break
        await asyncio.sleep(1)
    title = await alert.get_by_role("heading").inner_text()
    assert "armed clash" in title and CAMP in title, title
    await opened.screenshot("alerts-inbox")
    await alert.get_by_role("button", name="Acknowledge").click()
    await page.get_by_role("status").filter(has_text="The alert is acknowledged.").wait_for()
    await page.get_by_label("Assign to").select_option("officer")
    await page.get_by_role("button", name="Assign", exact=True).click()
    await page.get_by_role("status").filter(has_text="The alert is assigned.").wait_for()
    await page.get_by_role("button", name="Add the note").click()
    await page.get_by_role("alert").get_by_role("link", name="Note: Write the note.").wait_for()
    await page.get_by_role("textbox", name="Note").fill("Patrol sent from the company base")
    await page.get_by_role("button", name="Add the note").click()
    await page.get_by_role("status").filter(has_text="The note is added.").wait_for()
    await page.get_by_text("Patrol sent from the company base").wait_for()
    await opened.screenshot("alerts-alert")
    alert_id = page.url.rsplit("/", 1)[1]

    # An analyst reads the alert with no button; a partner is not offered the alerts.
    analyst = await open_area(browser, live_server, "analyst", "Alerts")
    await analyst.page.get_by_role("heading", name="Open alerts").wait_for()
    await analyst.page.get_by_role("article").filter(has_text=CAMP).wait_for()
    assert await analyst.page.get_by_role("button", name="Acknowledge").count() == 0
    await analyst.page.goto(f"{live_server.url}/workspace/alerts/{alert_id}")
    await analyst.page.get_by_text("Patrol sent from the company base").wait_for()
    for button in ("Acknowledge", "Close the alert", "Assign", "Add the note"):
        assert await analyst.page.get_by_role("button", name=button).count() == 0, button
    token = await analyst.page.evaluate("sessionStorage.getItem('civop.token')")
    forged = await analyst.page.request.post(
        f"{live_server.url}/workspace/alerts/{alert_id}/close",
        headers={"Authorization": f"Bearer {token}", "HX-Request": "true"},
    )
    assert forged.status == 403 and "officers and admins" in await forged.text()
    assert clean(analyst)
    await analyst.close()
    partner = await open_workspace(browser, live_server, "partner")
    nav_links = await partner.page.get_by_role("navigation", name="Workspace").inner_text()
    assert "Alerts" not in nav_links and "Alert rules" not in nav_links
    await partner.close()

    await page.get_by_role("button", name="Close the alert").click()
    await page.get_by_role("status").filter(has_text="The alert is closed.").wait_for()
    assert await page.get_by_role("button", name="Add the note").count() == 0
    await nav.get_by_role("link", name="Alerts", exact=True).click()
    await page.get_by_role("heading", name="Open alerts").wait_for()
    assert await page.get_by_role("article").filter(has_text=CAMP).count() == 0
    assert clean(opened)
    await opened.close()

    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        found = await http.get(f"/api/alerts/{alert_id}", headers={"X-API-Key": admin})
        notes = await http.get(f"/api/alerts/{alert_id}/notes", headers={"X-API-Key": admin})
    p = found.json()["properties"]
    assert (p["status"], p["acknowledged_by"], p["closed_by"], p["assigned_to"]) == (
        "closed", "officer", "officer", "officer",
    )  # fmt: skip
    assert [n["note"] for n in notes.json()] == ["Patrol sent from the company base"]
