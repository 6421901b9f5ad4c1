"""Requests for civil assistance in a real browser, each role through its own pages: a partner
submits, an officer reviews, the DSRSG/RC/HC's office approves and the HOMC's denies (each in
its own queue), the SRSG decides, an officer records the delivery. A partner sees no button it
may not use and its forged posts are refused; a step the request no longer allows names the
steps it does. The API is asked only to check the result."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import service as auth
from service.enums import Office, Role
from tests import factories
from tests.conftest import LiveServer, own_live_server
from tests.workspace_browser import WorkspacePage, browser, open_workspace

__all__ = ["browser"]

TITLE = "Airlift of cholera kits to Kalembe"
#: Every step's button a partner must never be offered.
STAFF_BUTTONS = (
    "Start the review",
    "Record the DSRSG/RC/HC's decision",
    "Record the HOMC's decision",
    "Record the SRSG's decision",
    "Record that the support was delivered",
    "Record delivery by another actor",
)


@pytest.fixture(scope="module")
async def live_server() -> AsyncIterator[LiveServer]:
    """This module's own service and database: other modules make requests with the same title."""
    async with own_live_server("workspace_requests") as server:
        yield server


@pytest.fixture(scope="module")
async def mission(live_server: LiveServer) -> dict[str, str]:
    """A partner's organisation and its account, and an account for each office."""
    suffix = uuid.uuid4().hex[:6]
    admin = await live_server.api_key("admin")
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        actor = await http.post(
            "/api/actors",
            json=factories.feature("actors", name="Kalembe Relief", classification="public"),
            headers={"X-API-Key": admin},
        )
        assert actor.status_code == 201, actor.text
    names = {
        "partner": f"kalembe-{suffix}",
        "hc": f"hc-{suffix}",
        "homc": f"homc-{suffix}",
        "srsg": f"srsg-{suffix}",
    }
    async with AsyncSession(live_server.engine, expire_on_commit=False) as session:
        await auth.add_user(session, username=names["partner"], password=factories.PASSWORD,
                            role=Role.partner, actor_id=uuid.UUID(actor.json()["id"]),
                            actor="test-setup")  # fmt: skip
        for key, role, office in (
            ("hc", Role.analyst, Office.dsrsg_rc_hc),
            ("homc", Role.officer, Office.homc),
            ("srsg", Role.analyst, Office.srsg),
        ):
            await auth.add_user(session, username=names[key], password=factories.PASSWORD,
                                role=role, office=office, actor="test-setup")  # fmt: skip
    return names


async def open_queue(browser: Any, live_server: LiveServer, username: str) -> WorkspacePage:
    """Sign in and open the requests through the navigation."""
    opened = await open_workspace(browser, live_server, username)
    page = opened.page
    await (
        page.get_by_role("navigation", name="Workspace")
        .get_by_role("link", name="Requests for assistance")
        .click()
    )
    await page.get_by_role("heading", name="Requests for civil assistance").wait_for()
    return opened


def clean(opened: WorkspacePage) -> bool:
    """No script error and nothing loaded from elsewhere (a refused form's 4xx is logged by the
    browser as a failed load: it is what the test asked for)."""
    errors = [e for e in opened.errors if not e.startswith("Failed to load resource")]
    assert errors == [] and opened.outside == [], (errors, opened.outside)
    return True


async def status_of(page: Any) -> str:
    term = page.get_by_role("term").filter(has_text="Status").first
    return str(await term.locator("xpath=following-sibling::dd").inner_text())


async def decide_from_queue(
    browser: Any, live_server: LiveServer, username: str, button: str, decision: str, reason: str
) -> WorkspacePage:
    """The office's user finds the request in its own queue and records its decision."""
    opened = await open_queue(browser, live_server, username)
    page = opened.page
    waiting = page.get_by_role("region", name="Awaiting your decision")
    await waiting.get_by_role("article", name=TITLE).get_by_role("link", name=button).click()
    form = page.get_by_role("region", name=button)
    await form.get_by_role("radio", name=decision).check()
    # The form proposes the office's user as who decided.
    assert username in await form.get_by_label("Decided by").input_value()
    await form.get_by_label("Reason").fill(reason)
    await form.get_by_role("button", name=button).click()
    await page.get_by_role("status").filter(has_text="Recorded").wait_for()
    return opened


async def test_a_request_goes_through_every_office_in_the_browser(
    browser: Any, live_server: LiveServer, mission: dict[str, str]
) -> None:
    # The partner submits its request.
    opened = await open_queue(browser, live_server, mission["partner"])
    page = opened.page
    await page.get_by_role("link", name="Submit a request").click()
    await page.get_by_role("heading", name="Submit a request for civil assistance").wait_for()
    await page.get_by_role("button", name="Submit the request").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    await summary.get_by_role("link", name="Title: This field is required.").wait_for()
    await opened.screenshot("requests-submit-errors")
    await page.get_by_label("Title").fill(TITLE)
    await page.get_by_label("The need").fill("4 t of cholera kits for the Kalembe camps")
    await page.get_by_label("Capability asked for").select_option(label="Air transport")
    needed = datetime.now(UTC) - timedelta(hours=6)
    await page.get_by_label("Needed from").fill(needed.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_label("Needed until").fill(
        (needed + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    )
    await page.get_by_label("Latitude").fill("7.31")
    await page.get_by_label("Longitude").fill("25.21")
    for condition in (
        "The capability is unique to the force",
        "No civilian alternative is available in time",
        "The support is limited in time and space",
    ):
        await page.get_by_label(condition).check()
    await page.get_by_role("button", name="Submit the request").click()
    await page.get_by_role("status").filter(has_text="The request was submitted.").wait_for()
    assert await status_of(page) == "Submitted"
    record_url = page.url
    record_id = record_url.rsplit("/", 1)[1]
    for button in STAFF_BUTTONS:
        assert await page.get_by_role("button", name=button).count() == 0, button
    assert await page.get_by_text("Withdraw the request").count() > 0
    await opened.screenshot("requests-partner-submitted")
    partner_token = await page.evaluate("sessionStorage.getItem('civop.token')")

    # A forged post of a decision is refused, and says why.
    forged = await page.request.post(
        f"{live_server.url}/workspace/requests/{record_id}/humanitarian-decision",
        form={"humanitarian_decision__decision": "approve",
              "humanitarian_decision__decided_by": "me", "humanitarian_decision__reason": "x"},
        headers={"Authorization": f"Bearer {partner_token}", "HX-Request": "true"},
    )  # fmt: skip
    assert forged.status == 403
    assert "DSRSG/RC/HC" in await forged.text() and "You may not do this" in await forged.text()
    assert clean(opened)
    await opened.close()

    # An officer reviews it from the queue; a second officer's page, opened before, is stale.
    stale = await open_workspace(browser, live_server, "admin", f"/workspace/requests/{record_id}")
    await stale.page.get_by_role("button", name="Start the review").wait_for()
    opened = await open_queue(browser, live_server, "officer")
    page = opened.page
    waiting = page.get_by_role("region", name="Awaiting your decision")
    card = waiting.get_by_role("article", name=TITLE)
    await card.get_by_role("listitem").filter(has_text="Met: No civilian alternative").wait_for()
    await opened.screenshot("requests-officer-queue")
    await card.get_by_role("link", name="Start the review").click()
    await page.get_by_role("button", name="Start the review").click()
    await page.get_by_role("status").filter(has_text="Recorded: Start the review.").wait_for()
    assert await status_of(page) == "Under review"
    await opened.close()
    # The stale page's review comes too late: it is told why and what is allowed now.
    await stale.page.get_by_role("button", name="Start the review").click()
    problem = stale.page.get_by_role("alert").filter(has_text="This cannot be done now")
    await problem.wait_for()
    assert await problem.get_by_role("listitem").all_inner_texts() == [
        "Record the DSRSG/RC/HC's decision",
        "Record the HOMC's decision",
        "Record delivery by another actor",
        "Withdraw the request",
    ]
    await stale.screenshot("requests-409")
    await stale.close()

    # The DSRSG/RC/HC approves and the HOMC denies, each in its own queue.
    hc = await decide_from_queue(browser, live_server, mission["hc"],
                                 "Record the DSRSG/RC/HC's decision", "Approve",
                                 "No civilian helicopter before the rains")  # fmt: skip
    assert await status_of(hc.page) == "Under review"
    # The HC's office is offered no other office's decision.
    assert await hc.page.get_by_role("button", name="Record the HOMC's decision").count() == 0
    await hc.screenshot("requests-hc-decided")
    await hc.close()
    homc = await decide_from_queue(browser, live_server, mission["homc"],
                                   "Record the HOMC's decision", "Deny",
                                   "The helicopters are committed to a POC operation")  # fmt: skip
    assert await status_of(homc.page) == "Referred to the SRSG"
    await homc.close()

    # The SRSG decides; the request is then in the officers' queue for its delivery.
    srsg = await decide_from_queue(browser, live_server, mission["srsg"],
                                   "Record the SRSG's decision", "Approve",
                                   "One helicopter for two days")  # fmt: skip
    assert await status_of(srsg.page) == "Approved"
    table = srsg.page.get_by_role("table")
    for office in ("DSRSG/RC/HC", "Head of Military Component", "SRSG"):
        await table.get_by_role("rowheader", name=office, exact=True).wait_for()
    await srsg.screenshot("requests-srsg-approved")
    await srsg.close()

    opened = await open_queue(browser, live_server, "officer")
    page = opened.page
    waiting = page.get_by_role("region", name="Awaiting your decision")
    card = waiting.get_by_role("article", name=TITLE)
    await card.get_by_role("link", name="Record that the support was delivered").click()
    form = page.get_by_role("region", name="Record that the support was delivered")
    await form.get_by_label("Note").fill("Delivered by one helicopter")
    await form.get_by_role("button", name="Record that the support was delivered").click()
    await page.get_by_role("status").filter(has_text="Recorded").wait_for()
    assert await status_of(page) == "Completed"
    await opened.screenshot("requests-completed")
    assert clean(opened)
    await opened.close()

    # The record, as the API keeps it: every step, by whom.
    admin = await live_server.api_key("admin")
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        history = await http.get(
            f"/api/assistance_requests/{record_id}/history", headers={"X-API-Key": admin}
        )
    steps = [(h["step"], h["recorded_by"]) for h in history.json()["history"]]
    assert steps == [
        ("recorded", mission["partner"]),
        ("review", "officer"),
        ("humanitarian_decision", mission["hc"]),
        ("military_decision", mission["homc"]),
        ("srsg_decision", mission["srsg"]),
        ("complete", "officer"),
    ]
    assert history.json()["status"] == "completed"


async def test_a_partner_sees_only_its_own_requests_and_forges_nothing(
    browser: Any, live_server: LiveServer, mission: dict[str, str]
) -> None:
    admin = await live_server.api_key("admin")
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        other = await http.post(
            "/api/actors",
            json=factories.feature("actors", name="Other Relief", classification="public"),
            headers={"X-API-Key": admin},
        )
        feature = {
            "type": "Feature",
            "geometry": factories.point(25.3, 7.2),
            "properties": {
                "title": "Escort for another organisation",
                "need": "An escort",
                "capability": "security_escort",
                "needed_from": "2026-11-12T00:00:00Z",
                "requesting_actor_id": other.json()["id"],
                "classification": "mission",
            },
        }
        theirs = await http.post(
            "/api/assistance_requests", json=feature, headers={"X-API-Key": admin}
        )
        assert theirs.status_code == 201, theirs.text
        # A request an officer recorded for the partner's organisation, by telephone.
        actors = await http.get("/api/actors", params={"limit": 100}, headers={"X-API-Key": admin})
        kalembe = next(
            f["id"] for f in actors.json()["features"]
            if f["properties"]["name"] == "Kalembe Relief"
        )  # fmt: skip
        feature["properties"] |= {
            "title": "Water trucking to Kalembe",
            "requesting_actor_id": kalembe,
            "capability": "logistics",
        }
        ours = await http.post(
            "/api/assistance_requests", json=feature, headers={"X-API-Key": admin}
        )
        assert ours.status_code == 201, ours.text
    opened = await open_queue(browser, live_server, mission["partner"])
    page = opened.page
    await page.get_by_role("heading", name="Your organisation's requests").wait_for()
    assert await page.get_by_text("Escort for another organisation").count() == 0
    assert await page.get_by_role("region", name="Awaiting your decision").count() == 0
    token = await page.evaluate("sessionStorage.getItem('civop.token')")
    forged = await page.request.post(
        f"{live_server.url}/workspace/requests/{theirs.json()['id']}/withdraw",
        form={"withdraw__reason": "not ours"},
        headers={"Authorization": f"Bearer {token}", "HX-Request": "true"},
    )
    assert forged.status == 404

    # The partner withdraws its own request, saying why.
    await page.get_by_role("link", name="Water trucking to Kalembe").click()
    for button in STAFF_BUTTONS:
        assert await page.get_by_role("button", name=button).count() == 0, button
    await page.get_by_text("Withdraw the request").first.click()
    await page.get_by_role("button", name="Withdraw the request").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    await summary.get_by_role("link", name="Reason: This field is required.").wait_for()
    await page.get_by_role("textbox", name="Reason").fill("The road reopened")
    await page.get_by_role("button", name="Withdraw the request").click()
    await page.get_by_role("status").filter(has_text="Recorded: Withdraw the request.").wait_for()
    assert await status_of(page) == "Withdrawn"
    assert await page.get_by_role("button", name="Withdraw the request").count() == 0
    await opened.screenshot("requests-partner-withdrawn")
    assert clean(opened)
    await opened.close()
