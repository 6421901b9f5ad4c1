"""The rest of the API's writes in a real browser (Debian's Chromium, Playwright) under the
service's Content-Security-Policy: an officer creates, corrects and deletes an actor; a partner
sees no such button and its forged posts are refused; a GIS officer corrects a place of the
gazetteer and draws a sector; a population figure is withdrawn with its reason; a request's own
fields are corrected; an officer limited to a sector finds no request outside it in the queue.
The pages are used through their labels and roles; the API only checks what was stored.
Screenshots go to artifacts/workspace-draw-*.png (and docs/images/ for the guides)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from playwright.async_api import expect

from tests import factories
from tests.conftest import LiveServer
from tests.test_viewer import local
from tests.test_workspace_draw import refused_in_console, signed_in
from tests.workspace_browser import browser

__all__ = ["browser"]

RECORD_URL = re.compile(r"/workspace/(actors|places|sectors)/[0-9a-f-]{36}$")


async def api_post(server: LiveServer, username: str, path: str, body: Any) -> dict[str, Any]:
    key = await server.api_key(username)
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-API-Key": key}, timeout=60
    ) as http:
        response = await http.post(path, json=body)
        assert response.status_code == 201, response.text
        found: dict[str, Any] = response.json()
        return found


async def test_an_officer_creates_corrects_and_deletes_an_actor(
    browser: Any, live_server: LiveServer
) -> None:
    ws = await signed_in(browser, live_server, "officer", "/workspace")
    page = ws.page
    await (
        page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Actors").click()
    )
    await page.get_by_role("heading", name="Actors").wait_for()
    await page.get_by_role("link", name="Add a new actor").click()
    await page.get_by_role("heading", name="Add a new actor").wait_for()

    # Nothing filled in: each missing field is named.
    await page.get_by_role("button", name="Add a new actor").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    await summary.wait_for()
    assert await summary.get_by_role("link", name=re.compile("Name")).count() == 1
    assert await summary.get_by_role("link", name=re.compile("Category")).count() == 1

    await page.get_by_label("Name", exact=True).fill("Lukolela Water Committee")
    await page.get_by_label("Acronym").fill("LWC")
    await page.get_by_label("Category").select_option(label="National NGO")
    await page.get_by_label("Humanitarian actor").select_option(label="Yes")
    await page.get_by_label("Email").fill("not an address")
    await page.get_by_label("Location or area of the actor").fill("25.61, 5.42")
    await page.get_by_role("button", name="Add a new actor").click()
    # The form comes back with the address refused at its field (the summary of the first
    # refusal is on the page already: wait for the field itself).
    await expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    await page.get_by_role("alert").filter(has_text="There is a problem").wait_for()
    await page.get_by_label("Email").fill("lwc@example.org")
    await page.get_by_role("button", name="Add a new actor").click()
    await page.wait_for_url(RECORD_URL)
    await page.get_by_role("heading", name=re.compile("Lukolela Water Committee")).wait_for()
    actor_id = ws.record_id()
    stored = await ws.api(f"/api/actors/{actor_id}")
    assert stored["properties"]["category"] == "ngo"
    assert stored["properties"]["humanitarian"] is True
    assert stored["properties"]["email"] == "lwc@example.org"
    assert stored["geometry"]["coordinates"] == [25.61, 5.42]
    # The stored answer shows in the form as it was chosen.
    assert await page.get_by_label("Humanitarian actor").input_value() == "true"

    # Corrected: another category, no longer humanitarian, an outline instead of a point.
    await page.get_by_label("Category").select_option(label="Local authority")
    await page.get_by_label("Humanitarian actor").select_option(label="No")
    await page.get_by_label("Acronym").fill("")
    await page.get_by_label("Location or area of the actor").fill(
        "25.60, 5.40\n25.64, 5.40\n25.64, 5.44\n25.60, 5.44"
    )
    await page.get_by_role("button", name="Save", exact=True).click()
    await page.get_by_role("status").filter(has_text="Saved.").wait_for()
    stored = await ws.api(f"/api/actors/{actor_id}")
    assert stored["properties"]["category"] == "local_authority"
    assert stored["properties"]["humanitarian"] is False
    assert stored["properties"].get("acronym") is None
    assert stored["geometry"]["type"] in ("Polygon", "MultiPolygon")
    await ws.shot("actor", docs=True)

    await page.get_by_text("Delete this record").click()
    await page.get_by_role("button", name="Delete Lukolela Water Committee").click()
    await page.wait_for_url(re.compile(r"/workspace/actors$"))
    await page.get_by_role("heading", name="Actors").wait_for()
    assert await page.get_by_role("link", name="Lukolela Water Committee").count() == 0
    token = await ws.token()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        gone = await http.get(
            f"/api/actors/{actor_id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert gone.status_code == 404
    assert [u for u in ws.requests if not local(u)] == []
    assert refused_in_console(ws.errors) == [], ws.errors


async def test_a_partner_sees_no_actor_button_and_a_forged_post_is_refused(
    browser: Any, live_server: LiveServer
) -> None:
    actor = await api_post(
        live_server,
        "officer",
        "/api/actors",
        factories.feature("actors", name="Public Bikoro Relief", classification="public"),
    )
    actor_id = actor["id"]
    ws = await signed_in(browser, live_server, "partner", "/workspace/actors")
    page = ws.page
    await page.get_by_role("link", name="Public Bikoro Relief").wait_for()
    assert await page.get_by_role("link", name="Add a new actor").count() == 0
    await page.get_by_role("link", name="Public Bikoro Relief").click()
    await page.wait_for_url(RECORD_URL)
    await page.get_by_role("heading", name=re.compile("Public Bikoro Relief")).wait_for()
    for name in ("Save", "Delete Public Bikoro Relief", "Draw a point", "Draw an outline"):
        assert await page.get_by_role("button", name=name).count() == 0, name
    assert await page.get_by_role("textbox").count() == 0

    token = await ws.token()
    form = {
        "name": "Forged actor",
        "category": "armed_group",
        "classification": "public",
        "coordinates": "25.7, 5.5",
    }
    officer = await live_server.api_key("officer")
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        bearer = {"Authorization": f"Bearer {token}", "HX-Request": "true"}
        forged = await http.post("/workspace/actors", data=form, headers=bearer)
        assert forged.status_code == 403
        assert "officers and admins" in forged.text
        changed = await http.post(f"/workspace/actors/{actor_id}", data=form, headers=bearer)
        assert changed.status_code == 403
        deleted = await http.post(f"/workspace/actors/{actor_id}/delete", headers=bearer)
        assert deleted.status_code == 403
        found = await http.get(
            "/api/actors", params={"q": "Forged actor"}, headers={"X-API-Key": officer}
        )
        assert found.json()["features"] == []
        kept = await http.get(f"/api/actors/{actor_id}", headers={"X-API-Key": officer})
        assert kept.json()["properties"]["name"] == "Public Bikoro Relief"
    assert refused_in_console(ws.errors) == [], ws.errors


async def test_a_gis_officer_corrects_a_place_and_draws_a_sector(
    browser: Any, live_server: LiveServer
) -> None:
    place = await api_post(
        live_server, "admin", "/api/places", factories.feature("places", name="Bolomba")
    )
    ws = await signed_in(browser, live_server, "admin", f"/workspace/places/{place['id']}")
    page = ws.page
    await page.get_by_role("heading", name=re.compile("Bolomba")).wait_for()
    await page.get_by_label("Other names and spellings").fill("Bolombo, Mbolomba")
    await page.get_by_label("Class of place").select_option(label="City")
    await page.get_by_label("Population").fill("-3")
    await page.get_by_role("button", name="Save", exact=True).click()
    await page.get_by_role("alert").filter(has_text="There is a problem").wait_for()
    assert await page.get_by_label("Population").get_attribute("aria-invalid") == "true"
    await page.get_by_label("Population").fill("61000")
    await page.get_by_role("button", name="Save", exact=True).click()
    await page.get_by_role("status").filter(has_text="Saved.").wait_for()
    stored = await ws.api(f"/api/places/{place['id']}")
    assert stored["properties"]["alternate_names"] == "Bolombo, Mbolomba"
    assert stored["properties"]["place_class"] == "city"
    assert stored["properties"]["population"] == 61000
    # The gazetteer finds it by its other spelling.
    found = await ws.api("/api/places?q=Mbolomba")
    assert [f["id"] for f in found["features"]] == [place["id"]]

    await page.goto(live_server.url + "/workspace/sectors/new")
    await page.get_by_role("heading", name="Draw a new sector").wait_for()
    await page.get_by_label("Name", exact=True).fill("Battalion area Ingende")
    await page.get_by_label("Level").select_option(label="Battalion area")
    await page.get_by_label("Who may see it").select_option(value="public")
    await page.get_by_label("Outline of the sector").fill(
        "24.10, 3.40\n24.60, 3.40\n24.60, 3.90\n24.10, 3.90"
    )
    await page.get_by_role("button", name="Draw a new sector").click()
    await page.wait_for_url(RECORD_URL)
    await page.get_by_role("heading", name=re.compile("Battalion area Ingende")).wait_for()
    sector = await ws.api(f"/api/sectors/{ws.record_id()}")
    assert sector["properties"]["level"] == "battalion"
    assert sector["geometry"]["type"] == "MultiPolygon"
    await ws.shot("sector", docs=True)
    assert refused_in_console(ws.errors) == [], ws.errors


async def test_a_population_figure_is_withdrawn_with_its_reason(
    browser: Any, live_server: LiveServer
) -> None:
    site = await api_post(
        live_server,
        "officer",
        "/api/idp_sites",
        factories.feature("idp_sites", factories.point(25.8, 5.6), name="Itipo camp"),
    )
    site_id = site["id"]
    for day, individuals in (("2026-11-01", 3000), ("2026-11-08", 9000)):
        await api_post(
            live_server,
            "officer",
            f"/api/idp_sites/{site_id}/population",
            {"observed_on": day, "individuals": individuals},
        )
    ws = await signed_in(browser, live_server, "officer", f"/workspace/sites/{site_id}")
    page = ws.page
    population = page.get_by_role("region", name="Population")
    await population.get_by_role("cell", name="9000").wait_for()
    await population.get_by_text("Withdraw the figure of 2026-11-08").click()
    withdrawal = population.get_by_role("form", name="Withdraw the figure of 2026-11-08")
    await withdrawal.get_by_role("button", name="Withdraw the figure").click()
    await population.get_by_text("Enter why the figure is withdrawn").first.wait_for()
    withdrawal = population.get_by_role("form", name="Withdraw the figure of 2026-11-08")
    reason = withdrawal.get_by_label("Why the figure is withdrawn")
    assert await reason.get_attribute("aria-invalid") == "true"
    assert (await ws.api(f"/api/idp_sites/{site_id}"))["properties"][
        "population_individuals"
    ] == 9000
    await reason.fill("Counted twice: the registration was entered again")
    await withdrawal.get_by_role("button", name="Withdraw the figure").click()
    await population.get_by_role("status").filter(has_text="Figure withdrawn").wait_for()
    assert await population.get_by_role("cell", name="9000").count() == 0
    history = await ws.api(f"/api/idp_sites/{site_id}/population?withdrawn=true")
    withdrawn = [f for f in history if f["individuals"] == 9000]
    assert withdrawn[0]["withdrawn_reason"] == "Counted twice: the registration was entered again"
    site = await ws.api(f"/api/idp_sites/{site_id}")
    assert site["properties"]["population_individuals"] == 3000
    assert refused_in_console(ws.errors) == [], ws.errors


def request_feature(title: str, actor_id: str, lon: float, lat: float) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": factories.point(lon, lat),
        "properties": {
            "title": title,
            "need": "Fuel for the water pumps",
            "capability": "logistics",
            "needed_from": "2026-12-20T06:00:00Z",
            "requesting_actor_id": actor_id,
            "classification": "mission",
        },
    }


async def test_a_requests_own_fields_are_corrected(browser: Any, live_server: LiveServer) -> None:
    actor = await api_post(
        live_server, "admin", "/api/actors", factories.feature("actors", name="Wendji Relief")
    )
    made = await api_post(
        live_server,
        "officer",
        "/api/assistance_requests",
        request_feature("Fuel to Wendji", actor["id"], 25.9, 5.7),
    )
    ws = await signed_in(browser, live_server, "officer", f"/workspace/requests/{made['id']}")
    page = ws.page
    await page.get_by_role("heading", name="Fuel to Wendji").wait_for()
    await page.get_by_text("Correct the request").click()
    form = page.get_by_role("form", name="Correct the request")
    await form.get_by_label("Title").fill("")
    await form.get_by_label("Needed until").fill("2026-12-18T06:00")  # before it is needed
    await form.get_by_role("button", name="Save the corrections").click()
    form = page.get_by_role("form", name="Correct the request")
    summary = form.get_by_role("alert").filter(has_text="There is a problem")
    await summary.wait_for()
    assert await form.get_by_label("Title").get_attribute("aria-invalid") == "true"
    assert await form.get_by_label("Needed until").get_attribute("aria-invalid") == "true"
    assert await summary.get_by_text("The end of the need must be at or after its start.").count()
    await form.get_by_label("Needed until").fill("2026-12-27T18:00")
    await form.get_by_label("Title").fill("Fuel and filters to Wendji")
    await form.get_by_label("Capability asked for").select_option(label="Ground transport")
    await form.get_by_label("The capability is unique to the force").check()
    await form.get_by_role("button", name="Save the corrections").click()
    await page.get_by_role("status").filter(has_text="The request was corrected.").wait_for()
    await page.get_by_role("heading", name="Fuel and filters to Wendji").wait_for()
    stored = await ws.api(f"/api/assistance_requests/{made['id']}")
    assert stored["properties"]["title"] == "Fuel and filters to Wendji"
    assert stored["properties"]["capability"] == "ground_transport"
    assert stored["properties"]["capability_unique"] is True
    assert stored["properties"]["needed_until"].startswith("2026-12-27")
    assert stored["properties"]["status"] == "submitted"

    # A partner's forged correction is refused, and nothing changes.
    partner = await signed_in(browser, live_server, "partner", "/workspace")
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        forged = await http.post(
            f"/workspace/requests/{made['id']}/edit",
            data={"title": "Forged", "need": "x", "capability": "medical",
                  "needed_from": "2026-12-20T07:00"},
            headers={"Authorization": f"Bearer {await partner.token()}", "HX-Request": "true"},
        )  # fmt: skip
        assert forged.status_code in (403, 404)
    stored = await ws.api(f"/api/assistance_requests/{made['id']}")
    assert stored["properties"]["title"] == "Fuel and filters to Wendji"
    assert refused_in_console(ws.errors) == [], ws.errors


async def test_a_sector_limited_officer_finds_no_request_outside_its_sectors_in_the_queue(
    browser: Any, live_server: LiveServer
) -> None:
    actor = await api_post(
        live_server, "admin", "/api/actors", factories.feature("actors", name="Basankusu Aid")
    )
    suffix = uuid.uuid4().hex[:4]
    north = f"Boat to Basankusu {suffix}"  # in the North sector (latitude 6 to 9)
    south = f"Escort to Ikela {suffix}"  # in the South sector
    # An area mostly in the North but reaching into the South: its sector is the North, so an
    # officer of the North reads it, but it does not lie within the North.
    across = f"Road repair Bokungu {suffix}"
    areas = (
        (north, factories.point(24.5, 7.4)),
        (south, factories.point(24.5, 4.4)),
        (across, factories.square(24.4, 5.8, 24.6, 7.6)),
    )
    ids = {}
    for title, geometry in areas:
        feature = request_feature(title, actor["id"], 0, 0) | {"geometry": geometry}
        made = await api_post(live_server, "officer", "/api/assistance_requests", feature)
        ids[title] = made["id"]
    # An officer of the whole mission has all three in the queue.
    everywhere = await signed_in(browser, live_server, "officer", "/workspace/requests")
    for title in (north, south, across):
        await everywhere.page.get_by_role("article", name=title).wait_for()

    ws = await signed_in(browser, live_server, "officer-north", "/workspace/requests")
    page = ws.page
    await page.get_by_role("article", name=north).wait_for()
    for title in (south, across):
        assert await page.get_by_role("article", name=title).count() == 0, title
        assert await page.get_by_text(title).count() == 0, title
    # The request reaching outside is readable, but offers the officer of the North no step.
    await page.goto(f"{live_server.url}/workspace/requests/{ids[across]}")
    await page.get_by_role("heading", name=across).wait_for()
    assert await page.get_by_role("button", name="Start the review").count() == 0
    assert await page.get_by_text("Correct the request").count() == 0
    assert refused_in_console(ws.errors) == [], ws.errors
