"""The interactive API documentation (`/docs`) works without internet: Swagger UI is served by
the service itself, under the same Content-Security-Policy as the map."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import ARTIFACTS, LiveServer
from tests.test_viewer import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_FOUND, browser, local

__all__ = ["browser"]  # the Chromium fixture of the map tests


async def test_the_docs_page_loads_only_from_the_service(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        page = await http.get("/docs")
        assert page.status_code == 200, page.text
        assert not re.search(r"https?://", page.text), "the docs page names another host"
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
        for asset in assets:
            answer = await http.get(asset)
            assert answer.status_code == 200, asset
        policy = page.headers["content-security-policy"]
        assert "cdn" not in policy and "https:" not in policy, policy
        assert (await http.get("/redoc")).status_code == 404  # one documentation page


async def test_the_docs_page_lists_the_operations_offline(
    browser: Any, live_server: LiveServer
) -> None:
    assert CHROMIUM_FOUND, f"Chromium missing at {CHROMIUM} ({CHROMIUM_ARGS})"
    context = await browser.new_context(viewport={"width": 1280, "height": 800})  # CSP enforced
    page = await context.new_page()
    console: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: console.append(f"uncaught: {error}"))
    page.on("request", lambda request: requests.append(request.url))
    try:
        await page.goto(f"{live_server.url}/docs")
        health = page.get_by_text("Service and database state")
        await health.wait_for(timeout=20_000)
        await page.wait_for_load_state("networkidle")
        # Swagger UI renders the operations as the page scrolls: the first ones are listed.
        tiles = page.locator(".opblock-summary-path", has_text="/collections/sectors/tiles")
        await tiles.first.wait_for()
        assert await page.locator(".opblock").count() >= 10
        await page.screenshot(path=str(ARTIFACTS / "docs-offline.png"))
        policy_errors = [m for m in console if "Content Security Policy" in m]
        assert policy_errors == [], policy_errors
        assert console == [], console
        outside = [url for url in requests if not local(url)]
        assert outside == [], outside
    finally:
        await context.close()
