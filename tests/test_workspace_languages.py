"""The workspace in French and in Arabic, in a real browser: the browser's language chooses the
pages' language; an Arabic page reads right to left with its form mirrored. Screenshots in
artifacts/ (and docs/images/ with CIVOP_DOCS_IMAGES=1)."""

from __future__ import annotations

from typing import Any

import pytest

from service.i18n import translate
from tests import factories
from tests.conftest import LiveServer, screenshot
from tests.workspace_browser import TABLET, browser

__all__ = ["browser"]


@pytest.mark.parametrize("language", ["fr", "ar"])
async def test_an_incident_form_in_the_browsers_language(
    browser: Any, live_server: LiveServer, language: str
) -> None:
    context = await browser.new_context(viewport=TABLET, locale=language)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await page.goto(f"{live_server.url}/workspace/incidents/new")
        form = page.get_by_role("region", name=translate("Sign in", language))
        await form.get_by_label(translate("Username", language)).fill("officer")
        await form.get_by_label(translate("Password", language)).fill(factories.PASSWORD)
        await form.get_by_role("button", name=translate("Sign in", language)).click()
        heading = page.get_by_role("heading", name=translate("Report an incident", language))
        await heading.wait_for(timeout=20_000)
        assert await page.evaluate("document.documentElement.lang") == language
        direction = "rtl" if language == "ar" else "ltr"
        assert await page.evaluate("document.documentElement.dir") == direction
        # Mirrored: in Arabic the heading starts at the right of the page, in French at the left.
        box = await heading.bounding_box()
        assert box is not None
        width = TABLET["width"]
        if language == "ar":
            assert box["x"] + box["width"] > width * 0.6, box
        else:
            assert box["x"] < width * 0.4, box
        # Nothing pushes the page wider than the screen (no sideways scrolling).
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width + 1, wide
        assert errors == []
        await screenshot(page, f"workspace-form-{language}", docs=True, full_page=True)
    finally:
        await context.close()
