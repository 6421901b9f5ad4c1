"""The workspace's base in a real browser: the shell loads from the service alone under its
strict Content-Security-Policy, the sign-in form signs in (with the map's token, in the same
tab), and the navigation offers only the areas the user's role may use."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.workspace_browser import browser, open_workspace

__all__ = ["browser"]


async def test_the_shell_holds_no_data_and_loads_only_from_the_service(
    live_server: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as http:
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
