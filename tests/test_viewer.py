"""The analysts' map in a real browser: Debian's Chromium driven by Playwright against the
service running as users run it (``live_server``). Screenshots go to the artifacts folder."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import mapbox_vector_tile
import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests import factories
from tests.conftest import ARTIFACTS, LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FOUND = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAYERS = [
    "Places",
    "Sectors",
    "IDP sites",
    "Incidents",
    "Patrol routes",
    "Bases",
    "Projects",
    "Actors",
    "Risk overlay",
    "Hot spots",
]
LAYER_KEYS = {
    "Places": "places",
    "Sectors": "sectors",
    "IDP sites": "idp_sites",
    "Incidents": "incidents",
    "Patrol routes": "patrols",
    "Bases": "bases",
    "Projects": "projects",
    "Actors": "actors",
    "Risk overlay": "risk",
    "Hot spots": "hotspots",
    "Open alerts": "alerts",  # when the service has /api/alerts
}
# A place of its own in the North-East, away from the records other live-server tests make.
HERE = (27.61, 7.43)
SITE_NAME = "Ndoki transit site"
SECRET_MARKER = "VIEWER-RESTRICTED-MARKER"


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Mission:
    """Records made through the API for the map tests (one of each layer)."""

    ids: dict[str, str] = field(default_factory=dict)


# Made once per service: a module that imports the fixture (the map in other languages) gets
# a definition of its own, and must find these records rather than draw a second site over
# the first.
_MISSIONS: dict[str, Mission] = {}


@pytest.fixture(scope="session")
async def mission(live_server: LiveServer) -> Mission:
    if live_server.url in _MISSIONS:
        return _MISSIONS[live_server.url]
    key = await live_server.api_key("admin")
    lon, lat = HERE
    made = Mission()
    records: list[tuple[str, str, dict[str, Any]]] = [
        (
            "site",
            "idp_sites",
            factories.feature(
                "idp_sites",
                geometry=factories.point(lon, lat),
                name=SITE_NAME,
                classification="public",
                population_individuals=23_000,
            ),
        ),
        (
            "incident",
            "incidents",
            factories.feature(
                "incidents",
                geometry=factories.point(lon + 0.01, lat + 0.005),
                classification="public",
                occurred_at=now(),
            ),
        ),
        (
            "restricted",
            "incidents",
            factories.feature(
                "incidents",
                geometry=factories.point(lon - 0.012, lat - 0.004),
                classification="restricted",
                category="sexual_violence",
                occurred_at=now(),
                description=SECRET_MARKER,
                source=SECRET_MARKER,
            ),
        ),
        (
            "patrol",
            "patrols",
            factories.feature(
                "patrols",
                geometry={
                    "type": "LineString",
                    "coordinates": [[lon - 0.05, lat], [lon, lat + 0.02], [lon + 0.05, lat]],
                },
                classification="public",
                start_at=now(),
            ),
        ),
        (
            "base",
            "bases",
            factories.feature(
                "bases", geometry=factories.point(lon + 0.03, lat - 0.02), name="Team site Ndoki"
            ),
        ),
        (
            "project",
            "projects",
            factories.feature("projects", geometry=factories.point(lon - 0.03, lat + 0.02)),
        ),
        (
            "actor",
            "actors",
            factories.feature("actors", geometry=factories.point(lon + 0.02, lat + 0.03)),
        ),
    ]
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": key}) as http:
        for name, collection, feature in records:
            response = await http.post(f"/api/{collection}", json=feature)
            assert response.status_code == 201, response.text
            made.ids[name] = response.json()["id"]
    _MISSIONS[live_server.url] = made
    return made


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    assert CHROMIUM_FOUND, "Chromium missing: run scripts/system.sh (apt-get install chromium)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@dataclass
class MapPage:
    """An open map page and what it did: console errors, requests, responses."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)

    async def ids(self, layer: str) -> list[str]:
        found: list[str] = await self.page.evaluate(f"civop.visibleIds({json.dumps(layer)})")
        return found

    async def go_to(self, lon: float, lat: float, zoom: int) -> None:
        # Without the zoom animation: from the registered basemap's opening view (zoom 7) to
        # zoom 11 Leaflet animates, and a click during it lands elsewhere (on the zoom control).
        await self.page.evaluate(
            f"void civop.state.map.setView([{lat}, {lon}], {zoom}, {{animate: false}})"
        )

    async def screenshot(self, name: str) -> None:
        await self.page.screenshot(path=str(ARTIFACTS / f"map-{name}.png"))


async def open_map(browser: Any, live_server: LiveServer, username: str) -> MapPage:
    """Open /map in a fresh browser context and sign in through the page's form."""
    # Playwright's wait_for_function evaluates its predicate with eval, which the page's
    # Content-Security-Policy forbids; the map under its policy is tested in
    # tests/reliability/test_security.py.
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = await context.new_page()
    opened = MapPage(page)
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
    page.on("request", lambda request: opened.requests.append(request.url))
    page.on("response", lambda response: opened.responses.append(response))
    await page.goto(f"{live_server.url}/map")
    await page.fill("#civop-username", username)
    await page.fill("#civop-password", factories.PASSWORD)
    await page.click("#civop-login-submit")
    await page.wait_for_function(
        "window.civop && civop.ready.incidents !== undefined && civop.ready.idp_sites !== undefined",
        timeout=30_000,  # a loaded machine signs in and draws slowly
    )
    return opened


def local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob") or parts.hostname in ("127.0.0.1", "localhost")


async def test_the_page_loads_only_from_the_service(live_server: LiveServer) -> None:
    """Every script and stylesheet is served by the service; the page names no other host."""
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        page = await http.get("/map")
        assert page.status_code == 200, page.text
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page.text, re.I), (
            "the map page names another host"
        )
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert any(a.endswith("leaflet.js") for a in assets), assets
        for asset in assets:
            assert asset.startswith("/static/"), asset
            answer = await http.get(asset)
            assert answer.status_code == 200, asset
            assert b"sourceMappingURL=http" not in answer.content, asset
        escape = await http.get("/static/vendor/leaflet/..%2F..%2Fpackage.json")
        assert escape.status_code == 404


async def test_map_shows_every_layer_without_errors_or_outside_requests(
    browser: Any, live_server: LiveServer, mission: Mission
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
    layers = LAYERS + (["Open alerts"] if "/api/alerts" in paths else [])
    opened = await open_map(browser, live_server, "admin")
    page = opened.page
    labels = await page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert [label.strip() for label in labels] == layers
    for label in layers:  # switch on those that start off
        box = page.locator(".leaflet-control-layers-overlays label", has_text=label).locator(
            "input"
        )
        if not await box.is_checked():
            await box.check()
    for label in layers:
        key = LAYER_KEYS[label]
        await page.wait_for_function(f"civop.ready.{key} !== undefined", timeout=15_000)
    await opened.go_to(*HERE, 12)
    await page.wait_for_function(
        "civop.incidentsMode() === 'points' && civop.visibleIds('incidents').length > 0",
        timeout=15_000,
    )
    await page.wait_for_timeout(500)
    for layer, record in (
        ("idp_sites", "site"),
        ("incidents", "incident"),
        ("incidents", "restricted"),  # the admin is cleared for it
        ("patrols", "patrol"),
        ("bases", "base"),
        ("projects", "project"),
        ("actors", "actor"),
    ):
        assert mission.ids[record] in await opened.ids(layer), (layer, record)
    await opened.screenshot("admin-all-layers")
    assert opened.errors == [], opened.errors
    outside = [url for url in opened.requests if not local(url)]
    assert outside == [], outside


async def test_clicking_an_idp_site_opens_its_popup_and_search_finds_it(
    browser: Any, live_server: LiveServer, mission: Mission
) -> None:
    opened = await open_map(browser, live_server, "analyst")
    page = opened.page
    await opened.go_to(*HERE, 11)
    site = page.locator(f'path[data-id="{mission.ids["site"]}"]')
    title = page.locator(".leaflet-popup-content .civop-record-title")
    # A click during the zoom animation lands beside the marker: click again until it opens.
    for _ in range(4):
        await site.wait_for(timeout=10_000)
        await site.click()
        try:
            await title.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:
            continue
    await title.wait_for(timeout=10_000)
    assert await title.inner_text() == SITE_NAME
    content = await page.locator(".leaflet-popup-content").inner_text()
    assert "23,000" in content
    await opened.screenshot("idp-site-popup")

    # Every field of the record, in the same tab with the same sign-in: no 401.
    await page.get_by_role("button", name="Show all details").click()
    details = page.get_by_role("region", name="Record details")
    await details.wait_for(timeout=10_000)
    assert await details.get_by_role("heading").first.inner_text() == f"IDP site: {SITE_NAME}"
    fields = await details.locator("th").all_inner_texts()
    assert {"Name", "Population individuals", "Classification", "Id"} <= set(fields), fields
    assert "23,000" in await details.inner_text()
    assert urlsplit(page.url).path == "/map"
    download = details.get_by_role("link", name="Download the record as GeoJSON")
    async with page.expect_download() as started:
        await download.click()
    saved = json.loads(await asyncio.to_thread(Path(await (await started.value).path()).read_text))
    assert saved["id"] == mission.ids["site"] and saved["properties"]["name"] == SITE_NAME
    await opened.screenshot("idp-site-details")
    await details.get_by_role("button", name="Close").click()
    await details.wait_for(state="hidden")
    refused = [r.url for r in opened.responses if r.status == 401]
    assert refused == [], refused

    # Search: from elsewhere on the map, the search box goes to the site and opens it.
    await page.locator(".leaflet-popup-close-button").click()
    await opened.go_to(24.0, 4.0, 9)
    await page.fill("#civop-search", "Ndoki transit")
    result = page.locator("#civop-search-results button", has_text=SITE_NAME)
    await result.wait_for(timeout=10_000)
    await result.click()
    await title.wait_for(timeout=10_000)
    assert await title.inner_text() == SITE_NAME
    centre = await page.evaluate("civop.state.map.getCenter()")
    assert abs(centre["lng"] - HERE[0]) < 0.05 and abs(centre["lat"] - HERE[1]) < 0.05
    assert opened.errors == [], opened.errors


async def test_a_new_incident_appears_without_reloading(
    browser: Any, live_server: LiveServer, mission: Mission
) -> None:
    opened = await open_map(browser, live_server, "analyst")
    page = opened.page
    await opened.go_to(*HERE, 12)
    await page.wait_for_function(
        f"civop.visibleIds('incidents').includes({json.dumps(mission.ids['incident'])})",
        timeout=15_000,
    )
    key = await live_server.api_key("admin")
    feature = factories.feature(
        "incidents",
        geometry=factories.point(HERE[0] + 0.004, HERE[1] - 0.006),
        classification="mission",
        category="abduction",
        occurred_at=now(),
    )
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": key}) as http:
        response = await http.post("/api/incidents", json=feature)
    assert response.status_code == 201, response.text
    new_id = response.json()["id"]
    posted = time.monotonic()
    await page.wait_for_function(
        f"civop.visibleIds('incidents').includes({json.dumps(new_id)})", timeout=20_000
    )
    assert time.monotonic() - posted < 8
    assert "reload" not in await page.evaluate("performance.getEntriesByType('navigation')[0].type")
    await opened.screenshot("new-incident")

    # The period control: a period that ends before today leaves today's incidents out.
    await page.fill("#civop-to", "2020-01-01")
    await page.dispatch_event("#civop-to", "change")
    await page.fill("#civop-from", "2019-01-01")
    await page.dispatch_event("#civop-from", "change")
    await page.wait_for_function(
        f"!civop.visibleIds('incidents').includes({json.dumps(new_id)})", timeout=20_000
    )
    assert opened.errors == [], opened.errors


async def test_a_partner_does_not_see_a_restricted_incident(
    browser: Any, live_server: LiveServer, mission: Mission
) -> None:
    opened = await open_map(browser, live_server, "partner")
    page = opened.page
    await opened.go_to(*HERE, 12)
    # The public incident next to it is drawn: the layer works for this user.
    await page.wait_for_function(
        f"civop.visibleIds('incidents').includes({json.dumps(mission.ids['incident'])})",
        timeout=15_000,
    )
    await page.wait_for_timeout(500)
    restricted = mission.ids["restricted"]
    assert restricted not in await opened.ids("incidents")
    await opened.screenshot("partner")

    # Click where the restricted incident is: no popup of it.
    lon, lat = HERE[0] - 0.012, HERE[1] - 0.004
    point = await page.evaluate(
        f"(() => {{ const p = civop.state.map.latLngToContainerPoint([{lat}, {lon}]); return [p.x, p.y]; }})()"
    )
    await page.mouse.click(point[0], point[1])
    await page.wait_for_timeout(700)
    popups = await page.locator(".leaflet-popup-content").all_inner_texts()
    assert not any(SECRET_MARKER in p or "Sexual violence" in p for p in popups), popups
    assert SECRET_MARKER not in await page.content()

    # Nothing the page received holds it: decoded vector tiles, heat tiles, API answers.
    tiles = 0
    for response in opened.responses:
        if not response.ok or not local(response.url):
            continue
        if "/api/stream" in response.url:  # never ends; its leaks: tests/test_alerts_live.py
            continue
        body = await response.body()
        if "/tiles/WebMercatorQuad/" in response.url:
            tiles += 1
            decoded = mapbox_vector_tile.decode(body) if body else {}
            ids = [
                f["properties"].get("id") for layer in decoded.values() for f in layer["features"]
            ]
            assert restricted not in ids, response.url
        else:
            assert restricted.encode() not in body and SECRET_MARKER.encode() not in body, (
                response.url
            )
    assert tiles > 0
    assert opened.errors == [], opened.errors


def test_alerts_and_basemap_appear_only_when_the_service_has_them() -> None:
    """An "Open alerts" layer when /api/alerts exists; a basemap when one is set."""
    from types import SimpleNamespace

    from fastapi import FastAPI

    from service.viewer.page import PageOptions, build_page
    from service.viewer.views import alerts_available

    bbox = (22.0, 2.0, 30.0, 10.0)
    plain = build_page(PageOptions(mission_bbox=bbox))
    # The page's table of messages names every layer; the layer control lists only its own.
    assert '"alerts": feature_group_' not in plain and "L.tileLayer" not in plain
    with_alerts = build_page(PageOptions(mission_bbox=bbox, alerts_available=True))
    assert '"Open alerts"' in with_alerts and '"alerts": feature_group_' in with_alerts
    basemap = "http://127.0.0.1:9/tiles/{z}/{x}/{y}.png"
    with_basemap = build_page(PageOptions(mission_bbox=bbox, basemap_url=basemap))
    assert basemap in with_basemap and '"Basemap"' in with_basemap

    def request(*paths: str) -> Any:
        app = FastAPI()
        for path in paths:
            app.add_api_route(path, lambda: None)
        return SimpleNamespace(app=app, scope={"type": "http", "path": "/map", "headers": []})

    assert alerts_available(request("/api/incidents", "/api/alerts"))
    assert not alerts_available(request("/api/incidents", "/api/alerts/{alert_id}"))


async def test_an_alert_raised_while_the_map_is_open_appears_without_reloading(
    browser: Any, live_server: LiveServer, mission: Mission
) -> None:
    """No record changes here: a new rule finds a site already at risk, and the alert reaches
    the open map through the live stream; closing it takes it off the map."""
    admin = {"X-API-Key": await live_server.api_key("admin")}
    officer = {"X-API-Key": await live_server.api_key("officer")}
    lon, lat = 28.3, 8.2  # a place of its own, in the North-East
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        site = factories.feature("idp_sites", geometry=factories.point(lon, lat),
                                 classification="public", name="Alert test site")  # fmt: skip
        incident = factories.feature("incidents", geometry=factories.point(lon, lat + 0.0005),
                                     classification="public", severity=5, occurred_at=now())  # fmt: skip
        for collection, feature in (("idp_sites", site), ("incidents", incident)):
            response = await http.post(f"/api/{collection}", json=feature, headers=admin)
            assert response.status_code == 201, response.text
        site_id = (await http.get("/api/idp_sites", params={"q": "Alert test site"},
                                  headers=admin)).json()["features"][0]["id"]  # fmt: skip

        opened = await open_map(browser, live_server, "analyst")
        page = opened.page
        await opened.go_to(lon, lat, 11)
        await page.wait_for_function("civop.ready.alerts !== undefined", timeout=15_000)
        rule = {"name": "viewer risk", "kind": "risk_threshold", "threshold": 3,
                "sector_id": str(live_server.world.sectors["North-East"])}  # fmt: skip
        created = await http.post("/api/alert_rules", json=rule, headers=admin)
        assert created.status_code == 201, created.text
        rule_id = created.json()["id"]
        try:
            alert_id = None
            for _ in range(150):
                found = await http.get("/api/alerts", params={"rule_id": rule_id}, headers=admin)
                mine = [f for f in found.json()["features"] if site_id in json.dumps(f)]
                if mine:
                    alert_id = mine[0]["id"]
                    break
                await page.wait_for_timeout(100)
            assert alert_id is not None, "the rule raised no alert"
            await page.wait_for_function(
                f"civop.visibleIds('alerts').includes({json.dumps(alert_id)})", timeout=10_000
            )
            assert await page.evaluate("civop.alertEvents") > 0  # redrawn by the stream
            navigation = await page.evaluate("performance.getEntriesByType('navigation')[0].type")
            assert navigation != "reload"
            await opened.screenshot("alert-raised")
            # The alert's area lies over the site: the site is still the one clicked.
            await page.locator(f'path[data-id="{site_id}"]').click()
            title = page.locator(".leaflet-popup-content .civop-record-title")
            await title.wait_for(timeout=10_000)
            assert await title.inner_text() == "Alert test site"
            await page.locator(".leaflet-popup-close-button").click()
            closed = await http.post(f"/api/alerts/{alert_id}/close", headers=officer)
            assert closed.status_code == 200, closed.text
            await page.wait_for_function(
                f"!civop.visibleIds('alerts').includes({json.dumps(alert_id)})", timeout=10_000
            )
            assert opened.errors == [], opened.errors
        finally:
            await http.delete(f"/api/alert_rules/{rule_id}", headers=admin)
