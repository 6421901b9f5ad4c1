"""The demo mission's map in a real browser (Debian's Chromium, Playwright): its basemap and
gazetteer, search by town and MGRS, coordinates, incident filters kept in the address, the
time chart, and clusters. The service runs as users run it, on a database holding the demo
mission and a basemap rendered from it. Screenshots go to artifacts/ (and, with
`make docs-images`, docs/images/ for the guide).
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import re
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import httpx
import mapbox_vector_tile
import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from geo.basemap import MAIN_ROAD, WATER, render_mbtiles
from geo.demo_map import demo_geography
from geo.places import to_mgrs
from service.auth import service as auth
from service.demo import MISSION_BBOX, generate_scenario
from service.demo.load import load_demo
from service.enums import Role
from tests import factories
from tests.conftest import (
    ARTIFACTS,
    TEST_DB,
    create_database,
    drop_database,
    screenshot,
    serving,
)
from tests.test_viewer import CHROMIUM, CHROMIUM_ARGS, MapPage, local
from tests.workspace_browser import open_workspace

SEED = 7
HIDDEN_PLACE = "Kazongo hidden camp"
#: A town whose name and its neighbours' overlap at mid zooms.
CROWDED_TOWN = "Ngaruvi"


@dataclass
class DemoServer:
    url: str
    towns: dict[str, tuple[float, float]]


@pytest.fixture(scope="module")
async def demo_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DemoServer]:
    name = f"{TEST_DB}_map"
    url = await create_database(name)
    engine = create_async_engine(url)
    folder = tmp_path_factory.mktemp("basemap")
    try:
        await load_demo(engine, seed=SEED, incidents=4_000, alert_rules=False)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            for username, role, cleared in (
                ("admin", Role.admin, True),
                ("analyst", Role.analyst, False),
                ("partner", Role.partner, False),
            ):
                await auth.add_user(session, username=username, password=factories.PASSWORD,
                                    role=role, cleared_restricted=cleared, actor="test-setup")  # fmt: skip
        scenario = generate_scenario(seed=SEED, incidents=0)
        towns = {t["name"]: (t["lon"], t["lat"]) for t in scenario.towns}
        basemap = folder / "demo.mbtiles"
        await asyncio.to_thread(
            render_mbtiles, demo_geography(scenario, MISSION_BBOX), basemap, maxzoom=10
        )
        env = {
            "DATABASE_URL": url.replace("postgresql+asyncpg://", "postgresql://", 1),
            "CIVOP_TILE_CACHE_MB": "0",
            "CIVOP_BASEMAP_FILE": str(basemap),
            "CIVOP_MISSION_BBOX": json.dumps(list(MISSION_BBOX)),
        }
        async with serving(env, "demo-map-server.log") as base:
            yield DemoServer(base, towns)
    finally:
        await engine.dispose()
        await drop_database(name)


@pytest.fixture(scope="module")
async def browser(demo_server: DemoServer) -> AsyncIterator[Any]:
    """Closed before the service stops (Playwright's child watcher would reap the service)."""
    from playwright.async_api import async_playwright

    assert CHROMIUM.exists(), "Chromium missing: run scripts/system.sh"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


async def open_demo_map(
    browser: Any, server: DemoServer, username: str, path: str = "/map"
) -> MapPage:
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, bypass_csp=True)
    page = await context.new_page()
    opened = MapPage(page)
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
    page.on("request", lambda request: opened.requests.append(request.url))
    page.on("response", lambda response: opened.responses.append(response))
    await page.goto(server.url + path)
    await page.fill("#civop-username", username)
    await page.fill("#civop-password", factories.PASSWORD)
    await page.click("#civop-login-submit")
    await page.wait_for_function(
        "window.civop && civop.ready.incidents !== undefined && civop.ready.places !== undefined",
        timeout=20_000,
    )
    return opened


async def shot(opened: MapPage, name: str, docs: bool = False) -> None:
    await screenshot(opened.page, f"map-{name}", docs=docs)


async def centre(opened: MapPage) -> tuple[float, float]:
    found = await opened.page.evaluate("civop.state.map.getCenter()")
    return found["lng"], found["lat"]


async def wait_drawn(opened: MapPage, layer: str, before: int) -> None:
    await opened.page.wait_for_function(f"(civop.drawn.{layer} || 0) > {before}", timeout=20_000)


async def drawn(opened: MapPage, layer: str) -> int:
    count: int = await opened.page.evaluate(f"civop.drawn.{layer} || 0")
    return count


async def test_the_demo_map_shows_town_names_and_roads_from_the_service_alone(
    browser: Any, demo_server: DemoServer
) -> None:
    opened = await open_demo_map(browser, demo_server, "analyst")
    page = opened.page
    town, (lon, lat) = next(iter(sorted(demo_server.towns.items())))
    places = await drawn(opened, "places")
    await opened.go_to(lon, lat, 10)
    await wait_drawn(opened, "places", places)
    label = page.locator(".civop-place", has_text=town).first
    await label.wait_for(timeout=10_000)
    assert await label.is_visible()
    # Villages are labelled at this zoom too, smaller than towns.
    sizes = await page.evaluate(
        "[...document.querySelectorAll('.civop-place')].map(n => [n.className, n.style.fontSize])"
    )
    assert any("civop-place-village" in c for c, _ in sizes), sizes
    await page.wait_for_function(
        "document.querySelectorAll('.leaflet-tile-loaded').length >= 4", timeout=15_000
    )
    await page.wait_for_timeout(800)
    await shot(opened, "demo-towns-and-roads", docs=True)

    tiles = sorted({r.url for r in opened.responses if "/basemap/tiles/" in r.url and r.ok})
    assert tiles, "no basemap tile was read"
    token = await page.evaluate("sessionStorage.getItem('civop.token')")
    colours: Counter[tuple[int, int, int]] = Counter()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        for url in tiles:
            response = await http.get(url)
            assert response.headers["content-type"] == "image/png"
            image = Image.open(io.BytesIO(response.content)).convert("RGB")
            colours.update(image.get_flattened_data())

    def near(colour: tuple[int, int, int]) -> int:
        return sum(
            n
            for c, n in colours.items()
            if sum(abs(a - b) for a, b in zip(c, colour, strict=True)) < 30
        )

    assert near(MAIN_ROAD) > 50, "no road drawn on the basemap tiles"
    assert near(WATER) > 20, "no river drawn on the basemap tiles"
    outside = [url for url in opened.requests if not local(url)]
    assert outside == [], outside
    assert opened.errors == [], opened.errors

    # Zoomed out, crowded incidents are clusters with their count.
    await opened.go_to(26.0, 6.0, 8)
    await page.wait_for_function("civop.incidentsMode() === 'clusters'", timeout=20_000)
    counts = await page.locator(".civop-cluster").all_inner_texts()
    assert counts and all(re.fullmatch(r"\d+k?", c) for c in counts), counts
    await shot(opened, "demo-clusters", docs=True)


@pytest.mark.parametrize(
    ("path", "drawn_on"),
    [("/workspace/incidents/new", "[data-pick-map]"), ("/workspace/sites/new", "[data-draw-map]")],
)
async def test_the_workspace_maps_show_the_basemap_read_with_the_users_token(
    browser: Any, demo_server: DemoServer, path: str, drawn_on: str
) -> None:
    """The small map where an incident's location is set and the map where a site is drawn
    show the basemap the map page shows, its tiles read with the signed-in user's token (an
    image asking without it is refused), under the workspace's Content-Security-Policy."""
    opened = await open_workspace(browser, demo_server, "admin", path)
    tile = opened.page.locator(f"{drawn_on} img.leaflet-tile-loaded[src^='blob:']").first
    await tile.wait_for(timeout=20_000)
    answers = [status for _, url, status in opened.statuses if "/basemap/tiles/" in url]
    assert 200 in answers and all(status < 400 for status in answers), answers
    assert opened.unexpected_errors() == [] and opened.outside == [], opened.errors
    await opened.close()


async def test_search_goes_to_a_town_and_to_an_mgrs_reference(
    browser: Any, demo_server: DemoServer
) -> None:
    opened = await open_demo_map(browser, demo_server, "analyst")
    page = opened.page
    town, (lon, lat) = sorted(demo_server.towns.items())[1]
    await page.fill("#civop-search", town)
    result = page.locator("#civop-search-results button", has_text=town).first
    await result.wait_for(timeout=10_000)
    assert "Place" in await result.inner_text()
    await result.click()
    title = page.locator(".leaflet-popup-content .civop-record-title")
    await title.wait_for(timeout=10_000)
    assert await title.inner_text() == town
    x, y = await centre(opened)
    assert abs(x - lon) < 0.01 and abs(y - lat) < 0.01
    # The popup names where the place is in MGRS as well.
    where = page.locator(".leaflet-popup-content .civop-where")
    await where.wait_for(timeout=10_000)
    assert to_mgrs(lon, lat) in await where.inner_text()
    await shot(opened, "search-town")

    # An MGRS reference, 5 km east of the town: the map goes there and names the point.
    target = (lon + 0.045, lat)
    reference = to_mgrs(*target)
    await page.locator(".leaflet-popup-close-button").click()
    await page.fill("#civop-search", reference)
    await page.locator("#civop-search-results button", has_text="MGRS").wait_for(timeout=10_000)
    await page.press("#civop-search", "Enter")
    near = page.locator(".leaflet-popup-content .civop-where")
    await page.wait_for_function(
        "document.querySelector('.leaflet-popup-content .civop-where') && "
        "!document.querySelector('.leaflet-popup-content .civop-where').textContent.startsWith('…')",
        timeout=10_000,
    )
    x, y = await centre(opened)
    assert abs(x - target[0]) < 0.001 and abs(y - target[1]) < 0.001
    assert (await page.locator(".civop-point-mgrs").inner_text()) == reference
    assert re.fullmatch(r"\d+(\.\d)? km [NESW]{1,2} of \S.*|in \S.*", await near.inner_text())
    # The cursor's position, in degrees and MGRS.
    box = await page.locator("#map, .folium-map").first.bounding_box()
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    cursor = await page.locator("#civop-cursor-mgrs").inner_text()
    assert re.fullmatch(r"\d{1,2}[C-X] [A-Z]{2} \d{5} \d{5}", cursor), cursor
    assert re.fullmatch(
        r"-?\d+\.\d{5}, -?\d+\.\d{5}", await page.locator("#civop-cursor-latlon").inner_text()
    )
    await shot(opened, "search-mgrs", docs=True)
    assert opened.errors == [], opened.errors


def categories_of(tile: bytes) -> set[str]:
    decoded = mapbox_vector_tile.decode(tile) if tile else {}
    return {f["properties"]["category"] for layer in decoded.values() for f in layer["features"]}


async def tile_categories(opened: MapPage, since: int) -> tuple[set[str], list[str]]:
    """Categories of the incidents in the vector tiles the page asked for since response
    ``since`` (read again with the page's token: a fetch's body is the page's own)."""
    urls = sorted(
        {
            r.url
            for r in opened.responses[since:]
            if "/collections/incidents/tiles/" in r.url and r.ok
        }
    )
    token = await opened.page.evaluate("sessionStorage.getItem('civop.token')")
    found: set[str] = set()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        for url in urls:
            response = await http.get(url)
            assert response.status_code in (200, 204), (url, response.status_code)
            found |= categories_of(response.content)
    return found, urls


async def test_a_category_filter_changes_the_tiles_and_survives_a_reload(
    browser: Any, demo_server: DemoServer
) -> None:
    opened = await open_demo_map(browser, demo_server, "analyst")
    page = opened.page
    await page.select_option("#civop-period", "all")
    lon, lat = next(iter(demo_server.towns.values()))
    await opened.go_to(lon, lat, 10)
    await page.wait_for_function("civop.incidentsMode() === 'points'", timeout=20_000)
    await page.wait_for_timeout(1_500)
    before, seen = await tile_categories(opened, 0)
    assert len(before) > 2, (before, seen, opened.requests[-30:])

    mark = len(opened.responses)
    incidents = await drawn(opened, "incidents")
    await page.get_by_text("Filter incidents").click()
    await page.get_by_role("button", name="None").click()
    await page.get_by_label("Armed clash").check()
    await wait_drawn(opened, "incidents", incidents)
    await page.wait_for_timeout(1_000)
    after, urls = await tile_categories(opened, mark)
    for _ in range(20):  # on a busy machine the filtered tiles may still be on their way
        if after:
            break
        await page.wait_for_timeout(500)
        after, urls = await tile_categories(opened, mark)
    assert after == {"armed_clash"}, after
    assert all("category=armed_clash" in url for url in urls), urls
    await shot(opened, "filter-armed-clash")

    # The address holds the view: a reload, or the link sent to someone, shows the same.
    address = page.url
    assert parse_qs(urlsplit(address).fragment)["category"] == ["armed_clash"]
    mark = len(opened.responses)
    await page.reload()
    await page.wait_for_function(
        "window.civop && civop.ready.incidents !== undefined", timeout=20_000
    )
    await page.wait_for_function("civop.incidentsMode() === 'points'", timeout=20_000)
    await page.wait_for_timeout(1_500)
    reloaded, urls = await tile_categories(opened, mark)
    assert reloaded == {"armed_clash"} and urls, (reloaded, urls)
    assert await page.get_by_label("Armed clash").is_checked()
    assert not await page.get_by_label("Abduction").is_checked()
    x, y = await centre(opened)
    assert abs(x - lon) < 0.01 and abs(y - lat) < 0.01
    assert opened.errors == [], opened.errors


async def test_the_time_chart_counts_what_the_api_counts(
    browser: Any, demo_server: DemoServer
) -> None:
    opened = await open_demo_map(browser, demo_server, "analyst")
    page = opened.page
    await opened.go_to(26.0, 6.0, 7)
    await page.get_by_text("Incidents over time").click()
    await page.wait_for_function(
        "civop.timeline && civop.ready.timeline !== undefined", timeout=20_000
    )
    await page.wait_for_timeout(800)
    chart = await page.evaluate("civop.timeline")
    assert chart["total"] > 100
    bars = await page.eval_on_selector_all(
        "#civop-chart rect[data-count]", "bars => bars.map(b => Number(b.dataset.count))"
    )
    assert sum(bars) == chart["total"]
    # The same filters, asked of the items API and counted one by one.
    params = parse_qs(chart["query"])
    token = await page.evaluate("sessionStorage.getItem('civop.token')")
    counted: Counter[str] = Counter()
    async with httpx.AsyncClient(
        base_url=demo_server.url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        path = "/api/incidents"
        query: dict[str, Any] | None = {
            "bbox": params["bbox"][0],
            "datetime": params["datetime"][0],
            "limit": 1000,
        }
        while path:
            answer = (await http.get(path, params=query)).json()
            counted.update(f["properties"]["category"] for f in answer["features"])
            following = [link["href"] for link in answer["links"] if link["rel"] == "next"]
            path, query = (following[0], None) if following else ("", None)
    by_category: Counter[str] = Counter()
    for row in chart["counts"]:
        by_category[row["category"]] += row["count"]
    assert by_category == counted

    # A brush across the chart sets the period.
    svg = await page.locator("#civop-chart svg").bounding_box()
    await page.mouse.move(svg["x"] + svg["width"] * 0.5, svg["y"] + 30)
    await page.mouse.down()
    await page.mouse.move(svg["x"] + svg["width"] * 0.75, svg["y"] + 30, steps=5)
    await page.mouse.up()
    chosen = await page.evaluate("civop.state.range")
    assert chosen["from"] and chosen["to"] and chosen["from"] < chosen["to"]
    assert await page.input_value("#civop-from") == chosen["from"]
    await page.wait_for_function(
        "document.querySelectorAll('.leaflet-tile-loaded').length >= 4", timeout=15_000
    )
    await page.wait_for_timeout(1_500)
    await shot(opened, "time-chart", docs=True)
    assert opened.errors == [], opened.errors


async def test_a_partner_sees_no_hidden_place_on_the_map_nor_in_its_phrases(
    browser: Any, demo_server: DemoServer
) -> None:
    lon, lat = next(iter(demo_server.towns.values()))
    async with httpx.AsyncClient(base_url=demo_server.url) as http:
        token = (
            await http.post(
                "/auth/token", data={"username": "admin", "password": factories.PASSWORD}
            )
        ).json()["access_token"]
        feature = factories.feature("places", geometry=factories.point(lon + 0.02, lat + 0.01),
                                    name=HIDDEN_PLACE, place_class="town", classification="restricted")  # fmt: skip
        made = await http.post(
            "/api/places", json=feature, headers={"Authorization": f"Bearer {token}"}
        )
        assert made.status_code == 201, made.text
    opened = await open_demo_map(browser, demo_server, "partner")
    page = opened.page
    places = await drawn(opened, "places")
    await opened.go_to(lon + 0.02, lat + 0.01, 11)
    await wait_drawn(opened, "places", places)
    point = await page.evaluate(
        f"(() => {{ const p = civop.state.map.latLngToContainerPoint([{lat + 0.012}, {lon + 0.021}]); return [p.x, p.y]; }})()"
    )
    await page.mouse.click(point[0], point[1])
    near = page.locator(".leaflet-popup-content .civop-where")
    await near.wait_for(timeout=10_000)
    await page.wait_for_timeout(1_000)
    assert HIDDEN_PLACE not in await page.content()
    for response in opened.responses:
        if (
            response.ok
            and local(response.url)
            and "/api/" in response.url
            and "stream" not in response.url
        ):
            assert HIDDEN_PLACE.encode() not in await response.body(), response.url
    assert opened.errors == [], opened.errors


async def print_view(opened: MapPage, title: str) -> str:
    """Print the view from the page's panel; the text of the PDF (pdftotext)."""
    page = opened.page
    await page.get_by_text("Print the view").click()
    await page.get_by_label("Title").fill(title)
    await page.get_by_role("button", name="Make the PDF").click()
    link = page.get_by_role("link", name="download it")
    await link.wait_for(timeout=90_000)
    async with page.expect_download() as started:
        await link.click()
    saved = Path(await (await started.value).path())
    pdf = ARTIFACTS / f"print-{title.replace(' ', '-').lower()}.pdf"
    shutil.copyfile(saved, pdf)
    process = await asyncio.create_subprocess_exec(
        "pdftotext", "-layout", str(pdf), "-", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return out.decode()


async def test_the_printed_view_has_legend_and_banner_and_a_partner_print_no_hidden_record(
    browser: Any, demo_server: DemoServer
) -> None:
    lon, lat = sorted(demo_server.towns.items())[2][1]
    async with httpx.AsyncClient(base_url=demo_server.url) as http:
        token = (
            await http.post(
                "/auth/token", data={"username": "admin", "password": factories.PASSWORD}
            )
        ).json()["access_token"]
        feature = factories.feature("incidents", geometry=factories.point(lon + 0.01, lat - 0.01),
                                    category="sexual_violence", classification="restricted",
                                    occurred_at="2026-10-01T10:00:00Z")  # fmt: skip
        made = await http.post(
            "/api/incidents", json=feature, headers={"Authorization": f"Bearer {token}"}
        )
        assert made.status_code == 201, made.text
    texts = {}
    for user in ("admin", "partner"):
        opened = await open_demo_map(browser, demo_server, user)
        await opened.page.select_option("#civop-period", "all")
        await opened.go_to(lon, lat, 11)
        await opened.page.wait_for_timeout(1_000)
        texts[user] = await print_view(opened, f"Briefing {user}")
        assert opened.errors == [], opened.errors
    admin, partner = texts["admin"], texts["partner"]
    for text, user in ((admin, "admin"), (partner, "partner")):
        assert f"Briefing {user}" in text
        assert "Legend" in text and "Period: the beginning to now" not in text
        assert re.search(
            r"Printed by " + user + r" \(\w+\) on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", text
        )
        assert re.search(r"\d+ k?m\b", text), "no scale bar"
        assert "N" in text.split()
    assert admin.count("RESTRICTED") == 2 and "Sexual violence (" in admin
    assert "RESTRICTED" not in partner and "Sexual violence" not in partner
    assert "PUBLIC" in partner or "MISSION" in partner
    drawn = [int(m) for m in re.findall(r"Incidents drawn: (\d+)", admin + partner)]
    assert drawn[0] > drawn[1], drawn


def tile_ids(tile: bytes, state: str | None = None) -> set[str]:
    """Ids of the incidents in a vector tile (of those in ``state`` when given)."""
    decoded = mapbox_vector_tile.decode(tile) if tile else {}
    return {
        f["properties"]["id"]
        for layer in decoded.values()
        for f in layer["features"]
        if state is None or f["properties"]["verification_state"] == state
    }


async def tiles_read(opened: MapPage, since: int) -> tuple[set[str], set[str], list[str]]:
    """Ids of every incident and of the reported ones in the vector tiles the page asked for
    since response ``since``, and the tiles' addresses."""
    urls = sorted(
        {
            r.url
            for r in opened.responses[since:]
            if "/collections/incidents/tiles/" in r.url and r.ok
        }
    )
    token = await opened.page.evaluate("sessionStorage.getItem('civop.token')")
    every: set[str] = set()
    reported: set[str] = set()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        for url in urls:
            response = await http.get(url)
            assert response.status_code in (200, 204), (url, response.status_code)
            every |= tile_ids(response.content)
            reported |= tile_ids(response.content, "reported")
    return every, reported, urls


async def points_settled(opened: MapPage, since: int) -> tuple[set[str], set[str], list[str]]:
    """What the tiles asked for since ``since`` hold, once the page has asked for some."""
    every, reported, urls = await tiles_read(opened, since)
    for _ in range(20):  # on a busy machine the tiles may still be on their way
        if every:
            break
        await opened.page.wait_for_timeout(500)
        every, reported, urls = await tiles_read(opened, since)
    return every, reported, urls


async def test_verified_only_hides_field_reports_from_tiles_heat_and_chart_until_unticked(
    browser: Any, demo_server: DemoServer
) -> None:
    from service.field_reports import xlsform
    from tests.test_field_reports import ANSWERS, kobo_submission

    lon, lat = sorted(demo_server.towns.items())[1][1]
    async with httpx.AsyncClient(base_url=demo_server.url) as http:
        token = (
            await http.post(
                "/auth/token", data={"username": "admin", "password": factories.PASSWORD}
            )
        ).json()["access_token"]
        form = await http.post(
            "/api/intake-forms",
            json={"form_id": xlsform.FORM_ID, "title": "Patrol incident reports"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert form.status_code == 201, form.text
        answers = {**ANSWERS, "location": f"{lat + 0.004} {lon + 0.004} 500 4"}
        landed = await http.post(
            f"/api/intake/{xlsform.FORM_ID}",
            json=kobo_submission(answers),
            headers={"X-Civop-Form-Token": form.json()["token"]},
        )
        assert landed.status_code == 201, landed.text
        report = landed.json()["incident_id"]

    opened = await open_demo_map(browser, demo_server, "analyst")
    page = opened.page
    await page.select_option("#civop-period", "all")
    await opened.go_to(lon, lat, 11)
    await page.wait_for_function("civop.incidentsMode() === 'points'", timeout=20_000)
    await page.get_by_text("Incidents over time").click()
    await page.wait_for_function("civop.timeline !== undefined", timeout=20_000)
    await page.wait_for_timeout(1_500)
    every, reported, _ = await points_settled(opened, 0)
    assert report in reported, (report, len(every))
    assert len(every) > 1
    total = (await page.evaluate("civop.timeline"))["total"]

    # Ticked: the report leaves the tiles (the verified incidents stay) and the chart.
    mark = len(opened.responses)
    incidents = await drawn(opened, "incidents")
    await page.get_by_text("Filter incidents").click()
    await page.get_by_label("Verified reports only").check()
    await wait_drawn(opened, "incidents", incidents)
    await page.wait_for_timeout(1_000)
    after, reported, urls = await points_settled(opened, mark)
    assert after and report not in after and not reported, (report, reported)
    assert after <= every
    assert all("verification_state=verified" in url for url in urls), urls
    await page.wait_for_function(
        "civop.timeline.query.indexOf('verification_state=verified') >= 0", timeout=20_000
    )
    assert (await page.evaluate("civop.timeline"))["total"] == total - 1
    assert "verified only" in await page.locator("#civop-filters-state").inner_text()
    assert parse_qs(urlsplit(page.url).fragment)["verification_state"] == ["verified"]
    await shot(opened, "filter-verified-only")

    # Zoomed out the incidents are heat: its tiles are asked for verified incidents only, and
    # count one incident fewer than without the filter.
    mark = len(opened.responses)
    await opened.go_to(lon, lat, 6)
    await page.wait_for_function("civop.incidentsMode() === 'heat'", timeout=20_000)
    await page.wait_for_timeout(1_000)
    heat = sorted({r.url for r in opened.responses[mark:] if "/layers/heat/incidents/" in r.url})
    assert heat and all("verification_state=verified" in url for url in heat), heat
    token = await page.evaluate("sessionStorage.getItem('civop.token')")
    z = 6
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    counted = {}
    async with httpx.AsyncClient(
        base_url=demo_server.url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        for state in ("verified", None):
            params = {"verification_state": state} if state else {}
            answer = await http.get(f"/layers/heat/incidents/{z}/{x}/{y}", params=params)
            assert answer.status_code == 200, answer.text
            counted[state] = sum(cell[2] for cell in answer.json()["cells"])
    assert counted[None] - counted["verified"] == 1, counted

    # The address keeps the filter through a reload; without it, the report is back.
    await opened.go_to(lon, lat, 11)
    await page.wait_for_timeout(500)
    for verified_only in (True, False):
        if not verified_only:
            address = urlsplit(page.url)
            kept = parse_qs(address.fragment)
            kept.pop("verification_state")
            await page.goto(
                address._replace(fragment=urlencode(kept, doseq=True, safe="/,")).geturl()
            )
        mark = len(opened.responses)
        await page.reload()
        await page.wait_for_function(
            "window.civop && civop.ready.incidents !== undefined", timeout=20_000
        )
        await page.wait_for_function("civop.incidentsMode() === 'points'", timeout=20_000)
        await page.wait_for_timeout(1_500)
        shown, _, urls = await points_settled(opened, mark)
        assert urls and (report not in shown) == verified_only, (verified_only, urls)
        assert await page.get_by_label("Verified reports only").is_checked() == verified_only
    assert opened.errors == [], opened.errors


async def label_boxes(opened: MapPage) -> tuple[list[dict[str, float]], int]:
    """The boxes of the labels shown in the map's view, and how many labels are hidden there."""
    page = opened.page
    view = await page.locator(".leaflet-container").first.bounding_box()
    boxes = []
    for label in await page.locator(".civop-label:not(.civop-label-hidden) > span").all():
        box = await label.bounding_box()
        if box is None or not box["width"]:
            continue
        inside = (
            box["x"] + box["width"] > view["x"]
            and box["x"] < view["x"] + view["width"]
            and box["y"] + box["height"] > view["y"]
            and box["y"] < view["y"] + view["height"]
        )
        if inside:
            boxes.append(box)
    counts = await page.evaluate("civop.labelCounts()")
    return boxes, counts["hidden"]


def overlapping(boxes: list[dict[str, float]]) -> list[tuple[int, int]]:
    found = []
    for i, a in enumerate(boxes):
        for j, b in enumerate(boxes[:i]):
            if (
                a["x"] < b["x"] + b["width"] - 0.5
                and b["x"] < a["x"] + a["width"] - 0.5
                and a["y"] < b["y"] + b["height"] - 0.5
                and b["y"] < a["y"] + a["height"] - 0.5
            ):
                found.append((j, i))
    return found


async def go_and_thin(opened: MapPage, lon: float, lat: float, zoom: int) -> None:
    """Go there and wait until the places are drawn and their labels thinned."""
    before = await drawn(opened, "places")
    await opened.go_to(lon, lat, zoom)
    await wait_drawn(opened, "places", before)
    await opened.page.wait_for_function(
        "civop.labelCounts().places === civop.drawn.places", timeout=10_000
    )


async def test_labels_that_would_overlap_are_hidden_and_come_back_when_zooming_in(
    browser: Any, demo_server: DemoServer
) -> None:
    opened = await open_demo_map(browser, demo_server, "analyst")
    page = opened.page
    lon, lat = demo_server.towns[CROWDED_TOWN]
    await go_and_thin(opened, lon, lat, 10)
    boxes, hidden = await label_boxes(opened)
    assert len(boxes) >= 3
    assert hidden > 0, "no label was thinned at a mid zoom"
    assert overlapping(boxes) == []
    thinned = await page.eval_on_selector_all(
        ".civop-label.civop-label-hidden", "nodes => nodes.map(n => n.dataset.id)"
    )
    await shot(opened, "labels-thinned")

    await go_and_thin(opened, lon, lat, 11)
    closer, _ = await label_boxes(opened)
    assert len(closer) > len(boxes)
    assert overlapping(closer) == []
    shown = await page.eval_on_selector_all(
        ".civop-label:not(.civop-label-hidden)", "nodes => nodes.map(n => n.dataset.id)"
    )
    assert set(thinned) & set(shown), "no name hidden at mid zoom came back closer in"
    assert opened.errors == [], opened.errors


async def test_the_period_is_chosen_on_the_time_chart_with_the_keyboard_alone(
    browser: Any, demo_server: DemoServer
) -> None:
    opened = await open_demo_map(browser, demo_server, "analyst")
    page = opened.page
    await opened.go_to(26.0, 6.0, 7)
    await page.locator("#civop-time summary").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "civop.timeline && civop.ready.timeline !== undefined", timeout=20_000
    )
    await page.locator("#civop-play").focus()
    await page.keyboard.press("Tab")
    chart = page.get_by_role("group", name="Period on the chart")
    assert await chart.evaluate("node => node === document.activeElement")
    ring = await chart.evaluate("node => getComputedStyle(node).outlineStyle")
    assert ring == "solid", "no focus ring on the chart"
    before = await page.evaluate("civop.state.range")
    first_day = await page.locator("#civop-chart svg text").first.text_content()
    live = page.locator("#civop-time-live")

    await page.keyboard.press("Home")
    assert re.search(rf"Period chosen: {first_day} to ", await live.text_content() or "")
    for key in ("ArrowRight", "ArrowRight", "Shift+ArrowLeft"):
        await page.keyboard.press(key)
    announced = re.search(r"Period chosen: (\S+) to (\S+)\.", await live.text_content() or "")
    assert announced, await live.text_content()
    start, end = announced.groups()
    day = 86_400
    first = await page.evaluate(f"Date.parse('{first_day}T00:00:00Z') / 1000")
    chosen_start = await page.evaluate(f"Date.parse('{start}T00:00:00Z') / 1000")
    chosen_end = await page.evaluate(f"Date.parse('{end}T00:00:00Z') / 1000")
    assert chosen_start == first + 14 * day  # two weekly bars on
    # The default period is 90 days; Shift+Left took a week off its end.
    assert chosen_end - chosen_start == (90 - 7 - 1) * day
    assert await page.evaluate("civop.state.range") == before  # nothing applied yet

    incidents = await drawn(opened, "incidents")
    asked = len(opened.requests)
    await page.keyboard.press("Enter")
    assert await page.evaluate("civop.state.range") == {"from": start, "to": end}
    assert await page.input_value("#civop-from") == start
    assert await page.input_value("#civop-to") == end
    assert f"Period applied: {start} to {end}." == await live.text_content()
    # The incidents layer follows: it is drawn again for the new period.
    await wait_drawn(opened, "incidents", incidents)
    dated = [unquote(url) for url in opened.requests[asked:] if "datetime=" in url]
    assert any(f"datetime={start}/{end}" in url for url in dated), dated
    assert opened.errors == [], opened.errors
