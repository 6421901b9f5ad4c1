"""The map in French and in Arabic, in a real browser: the browser's language is the default,
the picker changes it and keeps it with the user's account, Arabic is laid out right to left
(controls and panels mirrored). Screenshots: artifacts/map-fr.png, artifacts/map-ar.png."""

from __future__ import annotations

from typing import Any

import httpx

from tests import factories
from tests.conftest import ARTIFACTS, LiveServer
from tests.test_viewer import HERE, SITE_NAME, MapPage, browser, mission  # noqa: F401

USER = "officer"


async def open_in(
    chromium: Any, live_server: LiveServer, locale: str, path: str = "/map"
) -> MapPage:
    """The map in a browser whose language is ``locale`` (its Accept-Language), signed out."""
    context = await chromium.new_context(
        viewport={"width": 1280, "height": 800}, bypass_csp=True, locale=locale
    )
    page = await context.new_page()
    opened = MapPage(page)
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
    await page.goto(f"{live_server.url}{path}")
    return opened


async def sign_in(opened: MapPage, submit: str) -> None:
    page = opened.page
    await page.fill("#civop-username", USER)
    await page.fill("#civop-password", factories.PASSWORD)
    await page.get_by_role("button", name=submit).click()
    await page.wait_for_function(
        "window.civop && civop.ready.idp_sites !== undefined", timeout=20_000
    )


async def reset_language(live_server: LiveServer) -> None:
    key = await live_server.api_key(USER)
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": key}) as http:
        answer = await http.patch("/auth/me", json={"language": None})
        assert answer.status_code == 200, answer.text


async def test_the_map_in_french_from_the_browser_language(
    browser: Any,  # noqa: F811
    live_server: LiveServer,
    mission: Any,  # noqa: F811
) -> None:
    opened = await open_in(browser, live_server, "fr-FR")
    page = opened.page
    assert await page.get_attribute("html", "lang") == "fr"
    assert await page.get_attribute("html", "dir") == "ltr"
    assert await page.title() == "civop · carte des analystes"
    await page.get_by_role("heading", name="civop · la carte des analystes").wait_for()
    await sign_in(opened, "Se connecter")
    labels = await page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert [label.strip() for label in labels][:4] == [
        "Localités",
        "Secteurs",
        "Sites de PDI",
        "Incidents",
    ]
    legend = page.locator("#civop-legend")
    assert "Légende" in await legend.inner_text()
    assert "Attaque contre des civils" in await legend.inner_text()
    # A popup: field names, enumerated values and numbers in French.
    await opened.go_to(*HERE, 11)
    site = page.locator(f'path[data-id="{mission.ids["site"]}"]')
    title = page.locator(".leaflet-popup-content .civop-record-title")
    for _ in range(4):
        await site.wait_for(timeout=10_000)
        await site.click()
        try:
            await title.wait_for(timeout=5_000)
            break
        except Exception:  # noqa: S112 - a click during the zoom animation misses: again
            continue
    content = await page.locator(".leaflet-popup-content").inner_text()
    assert SITE_NAME in content
    assert "Où" in content and "Statut" in content and "Ouvert" in content
    assert "23\u202f000" in content or "23\u00a0000" in content, content
    await page.screenshot(path=str(ARTIFACTS / "map-fr.png"))
    assert opened.errors == [], opened.errors
    await page.context.close()


async def test_arabic_is_picked_kept_with_the_user_and_mirrored(
    browser: Any,  # noqa: F811
    live_server: LiveServer,
    mission: Any,  # noqa: F811
) -> None:
    try:
        opened = await open_in(browser, live_server, "en-GB")
        page = opened.page
        assert await page.get_attribute("html", "lang") == "en"
        await sign_in(opened, "Sign in")
        # The picker: the choice is kept with the account, and the page comes back in it.
        await page.get_by_role("combobox", name="Language").select_option("ar")
        await page.wait_for_url("**lang=ar**", timeout=20_000)
        await page.wait_for_function(
            "window.civop && civop.ready.idp_sites !== undefined", timeout=20_000
        )
        assert await page.get_attribute("html", "dir") == "rtl"
        assert await page.get_attribute("html", "lang") == "ar"
        width = 1280
        layers = await page.locator(".leaflet-control-layers").bounding_box()
        zoom = await page.locator(".leaflet-control-zoom").bounding_box()
        toolbar = await page.locator("#civop-toolbar").bounding_box()
        legend = await page.locator("#civop-legend").bounding_box()
        assert layers and zoom and toolbar and legend
        # Mirrored: what sits on the right in English sits on the left, and the reverse.
        assert layers["x"] + layers["width"] < width / 2, layers
        assert legend["x"] + legend["width"] < width / 2, legend
        assert zoom["x"] > width / 2, zoom
        assert toolbar["x"] > width / 2, toolbar
        names = await page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        assert "مواقع النازحين داخليًا" in [name.strip() for name in names]
        assert "مفتاح الخريطة" in await page.locator("#civop-legend").inner_text()
        direction = await page.evaluate(
            "getComputedStyle(document.querySelector('#civop-toolbar')).direction"
        )
        assert direction == "rtl"
        await opened.go_to(*HERE, 11)
        await page.wait_for_timeout(500)
        await page.screenshot(path=str(ARTIFACTS / "map-ar.png"))
        assert opened.errors == [], opened.errors
        await page.context.close()

        # Another browser, in English: once signed in, the map moves to the user's Arabic.
        again = await open_in(browser, live_server, "en-GB")
        await sign_in(again, "Sign in")
        await again.page.wait_for_url("**lang=ar**", timeout=20_000)
        await again.page.wait_for_function("document.documentElement.dir === 'rtl'", timeout=20_000)
        await again.page.context.close()
    finally:
        await reset_language(live_server)
