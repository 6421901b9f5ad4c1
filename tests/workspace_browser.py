"""What the workspace's browser tests share: Debian's Chromium through Playwright, a page
signed in through the workspace's own sign-in form, under the page's real Content-Security-
Policy (so no ``wait_for_function``: Playwright evaluates it with eval; wait on what a person
sees instead). Import the fixture into a test module with
``from tests.workspace_browser import browser``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import pytest

from tests import factories
from tests.conftest import screenshot

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
#: A tablet held in landscape: the workspace's field device.
TABLET = {"width": 1024, "height": 768}


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
class WorkspacePage:
    """An open workspace page and what it did: console errors, requests outside the service,
    answers by status."""

    page: Any
    context: Any
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    statuses: list[tuple[str, str, int]] = field(default_factory=list)

    def unexpected_errors(self, *expected_statuses: int, offline: bool = False) -> list[str]:
        """Console errors, but the browser's note of an answer with a status the test
        provoked (a 422 for a form sent with errors, a 403 for a forged post) and, for a test
        that cut the link, of the loads that failed while it was cut."""
        noted = tuple(f"status of {status} " for status in expected_statuses)
        if offline:
            noted += ("net::ERR_INTERNET_DISCONNECTED",)
        return [e for e in self.errors if not (noted and any(n in e for n in noted))]

    async def screenshot(self, name: str, docs: bool = False) -> None:
        """``artifacts/workspace-<name>.png`` (and the guide's copy: ``conftest.screenshot``)."""
        await screenshot(self.page, f"workspace-{name}", docs=docs, full_page=True)

    async def close(self) -> None:
        await self.context.close()


class Served(Protocol):
    """A running service (``LiveServer``, the map tests' demo service): where it answers."""

    url: str


def _local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob") or parts.hostname in ("127.0.0.1", "localhost")


async def open_workspace(
    browser: Any, live_server: Served, username: str | None, path: str = "/workspace"
) -> WorkspacePage:
    """Open ``path`` in a fresh browser context and, for a ``username``, sign in through the
    page's sign-in form; returns once the navigation shows who is signed in."""
    context = await browser.new_context(viewport=TABLET)
    page = await context.new_page()
    opened = WorkspacePage(page, context)
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
    page.on("request", lambda r: None if _local(r.url) else opened.outside.append(r.url))
    page.on("response", lambda r: opened.statuses.append((r.request.method, r.url, r.status)))
    await page.goto(f"{live_server.url}{path}")
    if username is not None:
        await sign_in(page, username)
    return opened


async def sign_in(page: Any, username: str) -> None:
    form = page.get_by_role("region", name="Sign in")
    await form.get_by_label("Username").fill(username)
    await form.get_by_label("Password").fill(factories.PASSWORD)
    await form.get_by_role("button", name="Sign in").click()
    await page.get_by_text(f"Signed in as {username} (").first.wait_for(timeout=15_000)
