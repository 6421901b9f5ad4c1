"""The workspace's base in a real browser: the shell loads from the service alone under its
strict Content-Security-Policy, the sign-in form signs in (with the map's token, in the same
tab), and the navigation offers only the areas the user's role may use."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from service.config import get_settings
from tests.conftest import LiveServer
from tests.workspace_browser import browser, open_workspace

__all__ = ["browser"]


async def test_the_shell_holds_no_data_and_loads_only_from_the_service(
    live_server: LiveServer,
) -> None:
    # A loaded machine answers a fresh server slowly: wait as a user would, not 5 s.
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        shell = await http.get("/workspace")
        assert shell.status_code == 200, shell.text
        policy = shell.headers["content-security-policy"]
        assert "'unsafe-eval'" not in policy and "script-src 'self'" in policy, policy
        assert not re.search(r"<script(?![^>]*\bsrc=)", shell.text), "an inline script"
        assert not re.search(r"https?://", shell.text), "the shell names another host"
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', shell.text):
            assert (await http.get(asset)).status_code == 200, asset
        # The content is a fragment for the signed-in only.
        fragment = await http.get("/workspace", headers={"HX-Request": "true"})
        assert fragment.status_code == 401


async def test_sign_in_shows_the_workspace_and_shares_the_maps_token(
    browser: Any, live_server: LiveServer
) -> None:
    opened = await open_workspace(browser, live_server, None)
    page = opened.page
    signin = page.get_by_role("region", name="Sign in")
    await signin.wait_for()
    await signin.get_by_label("Username").fill("officer")
    await signin.get_by_label("Password").fill("not the password")
    await signin.get_by_role("button", name="Sign in").click()
    await signin.get_by_role("alert").filter(has_text="wrong").wait_for()
    await opened.screenshot("core-sign-in")
    await opened.close()

    opened = await open_workspace(browser, live_server, "officer")
    page = opened.page
    await page.get_by_role("heading", name="Workspace", exact=True).wait_for()
    assert await page.get_by_role("region", name="Sign in").count() == 0
    # The same tab is signed in on the map.
    token = await page.evaluate("sessionStorage.getItem('civop.token')")
    assert token
    await opened.screenshot("core-home-officer")
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_role("region", name="Sign in").wait_for()
    assert await page.evaluate("sessionStorage.getItem('civop.token')") is None
    assert opened.errors == [] and opened.outside == [], (opened.errors, opened.outside)
    await opened.close()


def test_times_are_typed_and_shown_in_the_missions_local_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service.workspace import times

    settings = get_settings().model_copy(update={"time_zone": "Africa/Bangui"})  # UTC+1
    monkeypatch.setattr(times, "get_settings", lambda: settings)
    typed = times.from_local_input("2026-10-01T14:30")
    assert typed is not None and typed.astimezone(UTC) == datetime(2026, 10, 1, 13, 30, tzinfo=UTC)
    assert times.local_input("2026-10-01T13:30:00Z") == "2026-10-01T14:30"
    assert times.local_text("2026-10-01T23:30:00+00:00") == "2026-10-02 00:30"
    assert times.from_local_input("") is None
    with pytest.raises(ValueError):
        times.from_local_input("yesterday")


async def test_a_report_with_bad_values_comes_back_with_each_problem_at_its_field(
    client: httpx.AsyncClient, headers: Any
) -> None:
    """The same checks as the API, in the user's terms, next to the field; nothing written."""
    auth = {**headers("officer"), "HX-Request": "true"}
    report = {
        "category": "looting",
        "latitude": "7.2",
        "longitude": "24.5",
        "location_precision": "exact",
        "occurred_at": "2026-10-01T10:00",
        "severity": "2",
        "classification": "public",
        "description": "BAD-VALUES-REPORT",
    }
    for changed, field, message in (
        ({"latitude": "nan"}, "geometry", "decimal degrees"),
        ({"longitude": "1e400"}, "geometry", "decimal degrees"),
        ({"latitude": "95"}, "geometry", "90"),
        ({"category": "bogus"}, "category", "Choose one of the listed values."),
        ({"severity": "9"}, "severity", "no higher than 5"),
        ({"killed": "-1"}, "killed", "no lower than 0"),
        ({"occurred_at": "yesterday"}, "occurred_at", "Enter a date and time"),
        ({"perpetrator_actor_id": "not-an-id"}, "perpetrator_actor_id", ""),
        ({"perpetrator_actor_id": str(uuid.uuid4())}, "perpetrator_actor_id", "names no"),
    ):
        answer = await client.post("/workspace/incidents", data={**report, **changed}, headers=auth)
        assert answer.status_code == 422, (changed, answer.text)
        page = html.unescape(answer.text)
        assert f'href="#f-{field}"' in page, (changed, page)
        error = re.search(rf'id="f-{field}-error">(.*?)</p>', page, re.S)
        assert error is not None and message in error.group(1), (changed, page)
    found = await client.get(
        "/api/incidents", params={"q": "BAD-VALUES-REPORT"}, headers=headers("admin")
    )
    assert found.json()["features"] == []
