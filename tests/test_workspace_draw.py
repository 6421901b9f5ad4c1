"""Sites, projects and patrol routes drawn in the workspace, in a real browser (Debian's
Chromium, Playwright) under the service's Content-Security-Policy: an officer draws a site's
outline and a patrol route with Leaflet-Geoman's controls (operated with the mouse), records and
corrects a population figure, moves a project through its statuses; a route crossing a site
shows the conflict before it is saved; a partner sees no button it may not use and a forged
post is refused. The pages are used through their labels and roles; the API only checks what
was stored. Screenshots go to artifacts/workspace-draw-*.png (and, with `make docs-images`,
docs/images/ for the guide).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests import factories
from tests.conftest import LiveServer, screenshot
from tests.test_viewer import local
from tests.workspace_browser import TABLET, browser, sign_in

__all__ = ["browser"]

RECORD_URL = re.compile(r"/workspace/(sites|projects|patrols)/[0-9a-f-]{36}$")


class Workspace:
    """One signed-in tab of the workspace, with what went wrong in it."""

    def __init__(self, page: Any, server: LiveServer) -> None:
        self.page = page
        self.server = server
        self.errors: list[str] = []
        self.requests: list[str] = []

    async def open(self, path: str) -> None:
        await self.page.goto(self.server.url + path)
        await self.page.get_by_role("heading", level=1).first.wait_for()

    async def token(self) -> str:
        token: str = await self.page.evaluate("sessionStorage.getItem('civop.token')")
        return token

    async def api(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {await self.token()}"}
        async with httpx.AsyncClient(base_url=self.server.url, headers=headers) as http:
            response = await http.get(path)
            response.raise_for_status()
            return response.json()

    def map_element(self) -> Any:
        return self.page.get_by_role("application", name=re.compile("^Map: draw"))

    async def point_at(self, lon: float, lat: float) -> tuple[float, float]:
        """Where a place is on the drawing map, in the page's pixels (the map scrolled into
        view first: the mouse acts on what is on screen)."""
        await self.map_element().scroll_into_view_if_needed()
        spot = await self.page.evaluate(
            "([lat, lon]) => { const m = document.querySelector('[data-draw-map]');"
            " const p = m.civopMap.latLngToContainerPoint([lat, lon]);"
            " const r = m.getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }",
            [lat, lon],
        )
        return float(spot[0]), float(spot[1])

    async def zoom_in_at(self, lon: float, lat: float, span: float, pixels: int = 120) -> None:
        """Zoom the drawing map in with the mouse wheel over a place until ``span`` degrees
        of longitude there cover ``pixels`` or more, then drag the place to the middle of the
        map, as a person does."""
        for _ in range(12):
            x, y = await self.point_at(lon, lat)
            east, _north = await self.point_at(lon + span, lat)
            if east - x >= pixels:
                break
            await self.page.mouse.move(x, y)
            await self.page.mouse.wheel(0, -60)
            await self.page.wait_for_timeout(450)  # the zoom's animation
        box = await self.map_element().bounding_box()
        x, y = await self.point_at(lon, lat)
        await self.page.mouse.move(x, y)
        await self.page.mouse.down()
        await self.page.mouse.move(
            box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=10
        )
        await self.page.mouse.up()
        await self.page.wait_for_timeout(300)

    async def click_map(self, lon: float, lat: float) -> None:
        x, y = await self.point_at(lon, lat)
        await self.page.mouse.click(x, y)
        await self.page.wait_for_timeout(150)  # Geoman places a vertex per click, not per dblclick

    async def shot(self, name: str, docs: bool = False) -> None:
        await screenshot(self.page, f"workspace-draw-{name}", docs=docs, full_page=True)

    def record_id(self) -> uuid.UUID:
        return uuid.UUID(self.page.url.rsplit("/", 1)[1])


async def signed_in(browser: Any, server: LiveServer, username: str, path: str) -> Workspace:
    context = await browser.new_context(viewport=TABLET)
    page = await context.new_page()
    opened = Workspace(page, server)
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
    page.on("request", lambda request: opened.requests.append(request.url))
    await page.goto(server.url + path)
    await sign_in(page, username)
    await page.get_by_role("heading", level=1).first.wait_for()
    return opened


def refused_in_console(errors: list[str]) -> list[str]:
    """Console errors besides the answers the test asked for (a 4xx shown in the page)."""
    return [e for e in errors if "status of 4" not in e]


async def test_an_officer_draws_a_site_outline_and_corrects_its_population(
    browser: Any, live_server: LiveServer
) -> None:
    ws = await signed_in(browser, live_server, "officer", "/workspace/sites/new")
    page = ws.page
    await page.get_by_role("heading", name="Draw a new IDP site").wait_for()

    # Nothing filled in: the errors are listed at the top and shown next to their fields.
    await page.get_by_role("button", name="Draw a new IDP site").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    await summary.wait_for()
    assert await summary.get_by_role("link", name=re.compile("Name")).count() == 1
    name_field = page.get_by_label("Name", exact=True)
    assert await name_field.get_attribute("aria-invalid") == "true"
    assert await summary.get_by_role("link", name=re.compile("Location or outline")).count() == 1

    await page.get_by_label("Name", exact=True).fill("Lukolela outline camp")
    await page.get_by_label("Type of site").select_option(label="Planned camp")
    await ws.zoom_in_at(25.25, 5.24, 0.1, pixels=200)
    await page.get_by_role("button", name="Draw an outline").click()
    corners = [(25.20, 5.20), (25.30, 5.20), (25.30, 5.28), (25.20, 5.28)]
    for lon, lat in corners:
        await ws.click_map(lon, lat)
    await ws.click_map(*corners[0])  # back on the first point closes the outline
    coordinates = page.get_by_label("Location or outline of the site")
    assert len((await coordinates.input_value()).splitlines()) == 4
    await ws.shot("site-outline", docs=True)
    await page.get_by_role("button", name="Draw a new IDP site").click()
    await page.wait_for_url(RECORD_URL)
    await page.get_by_role("heading", name=re.compile("Lukolela outline camp")).wait_for()
    site_id = ws.record_id()
    stored = await ws.api(f"/api/idp_sites/{site_id}")
    assert stored["geometry"]["type"] in ("Polygon", "MultiPolygon")
    ring = stored["geometry"]["coordinates"]
    ring = ring[0][0] if stored["geometry"]["type"] == "MultiPolygon" else ring[0]
    for (lon, lat), (x, y) in zip(corners, ring, strict=False):
        assert abs(lon - x) < 0.01 and abs(lat - y) < 0.01, ring
    assert stored["properties"]["name"] == "Lukolela outline camp"

    # A population figure, then its correction.
    population = page.get_by_role("region", name="Population")
    new_figure = population.get_by_role("form", name="Record a population figure")
    await new_figure.get_by_label("Date counted").fill("2026-11-02")
    await new_figure.get_by_role("button", name="Record the figure").click()
    await new_figure.get_by_text("Enter individuals").first.wait_for()
    assert await new_figure.get_by_label("Individuals").get_attribute("aria-invalid") == "true"
    await new_figure.get_by_label("Individuals").fill("4200")
    await new_figure.get_by_label("Source").fill("IOM DTM round 12")
    await new_figure.get_by_role("button", name="Record the figure").click()
    await population.get_by_role("status").filter(has_text="Figure recorded").wait_for()
    site = await ws.api(f"/api/idp_sites/{site_id}")
    assert site["properties"]["population_individuals"] == 4200

    await population.get_by_text("Correct the figure of 2026-11-02").click()
    correction = population.get_by_role("form", name="Correct the figure of 2026-11-02")
    await correction.get_by_label("Individuals").fill("4350")
    await correction.get_by_role("button", name="Save the correction").click()
    await population.get_by_role("status").filter(has_text="Figure corrected").wait_for()
    history = await ws.api(f"/api/idp_sites/{site_id}/population")
    assert [f["individuals"] for f in history] == [4350]
    assert history[0]["updated_by"] == "officer"
    site = await ws.api(f"/api/idp_sites/{site_id}")
    assert site["properties"]["population_individuals"] == 4350
    await population.get_by_role("cell", name="4350").wait_for()
    await population.scroll_into_view_if_needed()
    await ws.shot("site-population", docs=True)

    # The outline corrected: one corner dragged further east.
    await page.get_by_role("button", name="Move the points of the shape").click()
    x, y = await ws.point_at(25.30, 5.28)
    tx, ty = await ws.point_at(25.34, 5.28)
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(tx, ty, steps=8)
    await page.mouse.up()
    typed = await page.get_by_label("Location or outline of the site").input_value()
    assert max(float(line.split(",")[0]) for line in typed.splitlines()) > 25.33, typed
    await page.get_by_role("button", name="Save", exact=True).click()
    await page.get_by_role("status").filter(has_text="Saved.").wait_for()
    stored = await ws.api(f"/api/idp_sites/{site_id}")
    ring = stored["geometry"]["coordinates"][0]
    assert max(lon for lon, _lat in ring) > 25.33, stored["geometry"]

    assert [u for u in ws.requests if not local(u)] == []
    assert refused_in_console(ws.errors) == [], ws.errors


async def test_a_route_crossing_a_site_shows_the_conflict_before_it_is_saved(
    browser: Any, live_server: LiveServer
) -> None:
    ws = await signed_in(browser, live_server, "officer", "/workspace/patrols/new")
    page = ws.page
    headers = {"Authorization": f"Bearer {await ws.token()}"}
    async with httpx.AsyncClient(base_url=live_server.url, headers=headers) as http:
        site = {
            "type": "Feature",
            "geometry": factories.point(26.50, 4.50),
            "properties": {"name": "Bolobo crossing camp", "site_type": "planned_camp"},
        }
        assert (await http.post("/api/idp_sites", json=site)).status_code == 201

    conflicts = page.get_by_role("status").filter(has_text="Conflicts along the route")
    await conflicts.wait_for()
    await ws.zoom_in_at(26.50, 4.50, 0.2)
    await page.get_by_role("button", name="Draw a route").click()
    await ws.click_map(26.40, 4.40)
    await ws.click_map(26.60, 4.60)  # the second point: the route passes over the camp
    await conflicts.get_by_text("Bolobo crossing camp").wait_for()
    await ws.click_map(26.70, 4.55)
    await ws.click_map(26.70, 4.55)  # the last point again finishes the route
    await conflicts.get_by_text("Bolobo crossing camp").wait_for()
    assert "IDP site" in await conflicts.inner_text()
    await ws.shot("route-conflict", docs=True)

    # Nothing was saved by checking.
    listed = await ws.api("/api/patrols?q=Route%20check%20unit")
    assert listed["features"] == []

    await page.get_by_label("Unit").fill("Route check unit")
    await page.get_by_label("Type of patrol").select_option(label="Mobile")
    await page.get_by_label("State").select_option(label="Planned")
    await page.get_by_label("Start").fill("2026-12-10T08:00")
    await page.get_by_role("button", name="Draw a new patrol route").click()
    await page.wait_for_url(RECORD_URL)
    await page.get_by_role("heading", name=re.compile("Route check unit")).wait_for()
    stored = await ws.api(f"/api/patrols/{ws.record_id()}")
    assert stored["geometry"]["type"] == "LineString"
    assert len(stored["geometry"]["coordinates"]) == 3
    # The stored route's conflicts show on its page too.
    await page.get_by_role("status").filter(has_text="Bolobo crossing camp").wait_for()

    # Deleted from its page: it leaves the list and the API.
    patrol_id = ws.record_id()
    await page.get_by_text("Delete this record").click()
    await page.get_by_role("button", name="Delete Route check unit").click()
    await page.wait_for_url(re.compile(r"/workspace/patrols$"))
    await page.get_by_role("heading", name="Patrol routes").wait_for()
    assert await page.get_by_role("link", name="Route check unit").count() == 0
    headers = {"Authorization": f"Bearer {await ws.token()}"}
    async with httpx.AsyncClient(base_url=live_server.url, headers=headers) as http:
        assert (await http.get(f"/api/patrols/{patrol_id}")).status_code == 404
    assert refused_in_console(ws.errors) == [], ws.errors


async def test_a_project_moves_through_the_statuses_it_may_take(
    browser: Any, live_server: LiveServer
) -> None:
    ws = await signed_in(browser, live_server, "officer", "/workspace/projects/new")
    page = ws.page
    await page.get_by_label("Title").fill("Kimpese well rehabilitation")
    await page.get_by_label("Kind of project").select_option(label="Quick impact project")
    await page.get_by_label("Start date").fill("2026-01-05")
    await page.get_by_label("End date").fill("2026-03-05")
    await page.get_by_label("Budget (US dollars)").fill("-5")
    await ws.zoom_in_at(24.60, 3.60, 0.2)
    await page.get_by_role("button", name="Draw a point").click()
    await ws.click_map(24.60, 3.60)
    await page.get_by_role("button", name="Draw a new project").click()
    await page.get_by_text("Budget (US dollars) must be 0 or more").first.wait_for()
    await page.get_by_label("Budget (US dollars)").fill("25000")
    await page.get_by_role("button", name="Draw a new project").click()
    await page.wait_for_url(RECORD_URL)
    await page.get_by_role("heading", name=re.compile("Kimpese well rehabilitation")).wait_for()
    project_path = page.url.removeprefix(live_server.url)
    project_id = ws.record_id()

    status = page.get_by_role("region", name="Status")
    choices = status.get_by_role("radio")
    assert await choices.count() == 2
    assert await status.get_by_label("Approved").count() == 1
    assert await status.get_by_label("Cancelled").count() == 1
    assert await status.get_by_label("Completed").count() == 0

    # A second tab keeps the page as it was.
    stale = await signed_in(browser, live_server, "officer", project_path)
    await stale.page.get_by_role("region", name="Status").get_by_label("Approved").wait_for()

    for step, reason in (("Approved", "PRC approved"), ("Ongoing", "works started")):
        await status.get_by_label(step).check()
        await status.get_by_label("Why").fill(reason)
        await status.get_by_role("button", name="Change the status").click()
        await status.get_by_role("status").filter(has_text="Status changed").wait_for()
        await status.get_by_text(f"The project is {step.lower()}").wait_for()
    assert await status.get_by_label("Completed").count() == 1
    await ws.shot("project-status", docs=True)

    # The stale tab still offers "Approved": the service refuses and names where it may go.
    old = stale.page.get_by_role("region", name="Status")
    await old.get_by_label("Approved").check()
    await old.get_by_role("button", name="Change the status").click()
    refusal = old.get_by_role("alert")
    await refusal.wait_for()
    text = await refusal.inner_text()
    assert "Completed" in text and "Cancelled" in text, text
    await stale.shot("project-refused")

    await status.get_by_label("Completed").check()
    await status.get_by_role("button", name="Change the status").click()
    await status.get_by_text("This status is final").wait_for()
    history = await ws.api(f"/api/projects/{project_id}/history")
    assert [h["to_status"] for h in history["history"]] == [
        "proposed",
        "approved",
        "ongoing",
        "completed",
    ]
    assert history["history"][1]["reason"] == "PRC approved"
    assert refused_in_console(ws.errors) == [], ws.errors


async def test_a_partner_sees_no_button_it_may_not_use_and_a_forged_post_is_refused(
    browser: Any, live_server: LiveServer
) -> None:
    officer = await live_server.api_key("officer")
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": officer}) as http:
        site = {
            "type": "Feature",
            "geometry": factories.point(27.10, 4.10),
            "properties": {
                "name": "Public Mbandaka site",
                "site_type": "collective_centre",
                "classification": "public",
            },
        }
        response = await http.post("/api/idp_sites", json=site)
        assert response.status_code == 201
        site_id = response.json()["id"]

    ws = await signed_in(browser, live_server, "partner", "/workspace/sites")
    page = ws.page
    await page.get_by_role("link", name="Public Mbandaka site").wait_for()
    assert await page.get_by_role("link", name="Draw a new IDP site").count() == 0
    await page.get_by_role("link", name="Public Mbandaka site").click()
    await page.wait_for_url(RECORD_URL)
    await page.get_by_role("heading", name=re.compile("Public Mbandaka site")).wait_for()
    await page.get_by_role("img", name=re.compile("Map of where")).wait_for()
    for name in ("Save", "Delete", "Record the figure", "Draw a point", "Draw an outline"):
        assert await page.get_by_role("button", name=name).count() == 0, name
    assert await page.get_by_role("textbox").count() == 0
    await ws.shot("partner-site")

    token = await ws.token()
    form = {
        "name": "Forged site",
        "site_type": "planned_camp",
        "classification": "public",
        "coordinates": "27.2, 4.2",
    }
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        bearer = {"Authorization": f"Bearer {token}", "HX-Request": "true"}
        forged = await http.post("/workspace/sites", data=form, headers=bearer)
        assert forged.status_code == 403
        assert "officers and admins" in forged.text
        # No token (a post from another site): refused before anything is read.
        anonymous = await http.post("/workspace/sites", data=form)
        assert anonymous.status_code == 401
        figure = {"observed_on": "2026-11-01", "individuals": "10"}
        forged_figure = await http.post(
            f"/workspace/sites/{site_id}/population", data=figure, headers=bearer
        )
        assert forged_figure.status_code == 403
        deleted = await http.post(f"/workspace/sites/{site_id}/delete", headers=bearer)
        assert deleted.status_code == 403
        sites = await http.get(
            "/api/idp_sites", params={"q": "Forged site"}, headers={"X-API-Key": officer}
        )
        assert sites.json()["features"] == []
        figures = await http.get(
            f"/api/idp_sites/{site_id}/population", headers={"X-API-Key": officer}
        )
        assert figures.json() == []
    assert refused_in_console(ws.errors) == [], ws.errors
