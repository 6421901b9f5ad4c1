"""Administration in the browser (Debian's Chromium through Playwright, under the pages' real
Content-Security-Policy): an admin creates a user limited to a sector, who then sees only that
sector on the map; an API key is shown once, then revoked and stops working; webhooks are added,
tested and removed; the audit trail is searched. Analysts and partners see no administration
entry, and what they post to the administration forms is refused and writes nothing.
Screenshots go to artifacts/workspace-admin-*.png (and, with `make docs-images`, docs/images/ for
the operators' guide)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests import factories
from tests.conftest import LiveServer, screenshot
from tests.test_admin_api import Receiver, receiver  # noqa: F401 - the webhook receiver fixture
from tests.test_viewer import open_map
from tests.workspace_browser import WorkspacePage, browser, open_workspace

__all__ = ["browser"]

#: A fresh service answers its first request only once FastAPI has built its routes: seconds
#: on a loaded machine.
TIMEOUT_S = 60.0
ADMIN_ENTRIES = ["Users", "API keys", "Alert webhooks", "Audit trail"]


async def shot(opened: WorkspacePage, name: str, docs: bool = True) -> None:
    """A screenshot for the artifacts and (``docs``) the operators' guide."""
    await opened.screenshot(f"admin-{name}", docs=docs)


def unexpected(opened: WorkspacePage) -> list[str]:
    """Console errors besides the browser's note of the forms' expected 422 answers."""
    return [e for e in opened.errors if "status of 422" not in e]


async def admin_api(live_server: LiveServer) -> httpx.AsyncClient:
    key = await live_server.api_key("admin")
    return httpx.AsyncClient(
        base_url=live_server.url, headers={"X-API-Key": key}, timeout=TIMEOUT_S
    )


async def test_an_admin_creates_a_user_limited_to_a_sector_who_sees_only_that_sector(
    browser: Any, live_server: LiveServer
) -> None:
    tag = secrets.token_hex(3)
    sites = {}
    async with await admin_api(live_server) as api:
        for name, (lon, lat) in {"north": (27.2, 7.6), "south": (27.2, 4.4)}.items():
            feature = factories.feature(
                "idp_sites",
                geometry=factories.point(lon, lat),
                name=f"Site {name} {tag}",
                classification="public",
            )
            made = await api.post("/api/idp_sites", json=feature)
            assert made.status_code == 201, made.text
            sites[name] = made.json()["id"]

    opened = await open_workspace(browser, live_server, "admin", "/workspace/admin/users")
    page = opened.page
    main = page.get_by_role("main")
    nav = page.get_by_role("navigation", name="Workspace")
    for entry in ADMIN_ENTRIES:
        await nav.get_by_role("link", name=entry, exact=True).wait_for()
    await page.get_by_role("link", name="Create a user").click()
    await page.get_by_role("heading", name="Create a user").wait_for()

    # Sent empty: the error summary names each field and links to it.
    await page.get_by_role("button", name="Create the user").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    await summary.wait_for()
    await summary.get_by_role("link", name="Username").wait_for()
    await shot(opened, "user-errors")

    username = f"north-watch-{tag}"
    await main.get_by_label("Username").fill(username)
    await main.get_by_label("Password").fill(factories.PASSWORD)
    await main.get_by_label("Full name").fill("Amina North")
    await main.get_by_label("Analyst: reads").check()
    await main.get_by_label("North", exact=True).check()
    await shot(opened, "user-new")
    await page.get_by_role("button", name="Create the user").click()
    await page.get_by_text(f"User {username} created.").wait_for()
    row = page.get_by_role("row").filter(has_text=username)
    assert "North" in await row.inner_text() and "Analyst" in await row.inner_text()
    await shot(opened, "users")

    # The role changes on the user's page; a short password is refused next to its field.
    await row.get_by_role("link", name=username).click()
    await page.get_by_role("heading", name=f"User {username}").wait_for()
    password = page.get_by_role("region", name="Reset the password")
    await password.get_by_label("New password").fill("short")
    await password.get_by_role("button", name="Set the new password").click()
    await page.get_by_text("password must have at least 12 characters").first.wait_for()
    await main.get_by_label("Officer: writes records").check()
    await page.get_by_role("button", name="Save the changes").click()
    await page.get_by_text(f"Changes to {username} saved.").wait_for()
    await shot(opened, "user")
    assert unexpected(opened) == [] and opened.outside == [], (opened.errors, opened.outside)
    await opened.close()

    # The new user, on the map: the North's site, not the South's.
    shown = await open_map(browser, live_server, username)
    await shown.page.get_by_text(f"{username} (officer, limited to 3 area(s))").wait_for()
    ids = await shown.ids("idp_sites")
    assert sites["north"] in ids and sites["south"] not in ids, ids
    await screenshot(shown.page, "workspace-admin-scoped-map", docs=True)
    await shown.page.context.close()


async def test_an_api_key_is_shown_once_then_revoked_and_stops_working(
    browser: Any, live_server: LiveServer
) -> None:
    name = f"QGIS in the JOC {secrets.token_hex(3)}"
    opened = await open_workspace(browser, live_server, "admin", "/workspace/admin/keys")
    page = opened.page
    main = page.get_by_role("main")
    await page.get_by_role("heading", name="API keys", exact=True).wait_for()
    await opened.context.grant_permissions(["clipboard-read", "clipboard-write"])
    # With the keyboard alone: the fields, then the button, in the order they are read.
    await main.get_by_label("Acts as").select_option("analyst")
    await main.get_by_label("Acts as").press("Tab")
    await page.keyboard.type(name)
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    created = page.get_by_role("region", name=f"Key {name} for analyst")
    await created.get_by_text("it is shown this once").wait_for()
    await expect(created).to_be_focused()
    key = await created.get_by_label("The new key").input_value()
    assert key.startswith("civop_")
    await page.keyboard.press("Tab")
    await expect(created.get_by_label("The new key")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(created.get_by_role("button", name="Copy the key")).to_be_focused()
    await page.keyboard.press("Enter")
    await created.get_by_text("Copied to the clipboard.").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == key
    await shot(opened, "key-created")

    async with httpx.AsyncClient(
        base_url=live_server.url, headers={"X-API-Key": key}, timeout=TIMEOUT_S
    ) as http:
        me = await http.get("/auth/me")
        assert me.status_code == 200 and me.json()["username"] == "analyst"

        # Shown once: the list never shows it again.
        await page.goto(f"{live_server.url}/workspace/admin/keys")
        row = page.get_by_role("row").filter(has_text=name)
        await row.wait_for()
        assert key not in await page.content()
        await row.get_by_role("button", name=f"Revoke the key {name} of analyst").click()
        await page.get_by_text("The key is revoked.").wait_for()
        assert "Revoked" in await page.get_by_role("row").filter(has_text=name).inner_text()
        await shot(opened, "keys")
        # The service forgets the key when the database announces the change.
        for _ in range(50):
            if (await http.get("/auth/me")).status_code == 401:
                break
            await asyncio.sleep(0.1)
        assert (await http.get("/auth/me")).status_code == 401
    assert unexpected(opened) == [] and opened.outside == [], (opened.errors, opened.outside)
    await opened.close()


async def test_an_admin_adds_tests_and_removes_a_webhook(
    browser: Any,
    live_server: LiveServer,
    receiver: str,  # noqa: F811 - the fixture imported above
) -> None:
    opened = await open_workspace(browser, live_server, "admin", "/workspace/admin/webhooks")
    page = opened.page
    main = page.get_by_role("main")
    await page.get_by_role("heading", name="Alert webhooks", exact=True).wait_for()
    await main.get_by_label("Receiver").fill("JOC situation room")
    await main.get_by_label("Address").fill("ftp://joc.example")
    await page.get_by_role("button", name="Add the webhook").click()
    await page.get_by_role("link", name="Address: Enter a web address starting with").wait_for()
    await main.get_by_label("Address").fill(receiver)
    # Its people read French: the alerts' title and description come to it in French.
    await main.get_by_label("Language").select_option("fr")
    await page.get_by_role("button", name="Add the webhook").click()
    await page.get_by_text("Alerts now go to JOC situation room.").wait_for()
    row = page.get_by_role("row").filter(has_text="JOC situation room")
    assert "français" in await row.inner_text()
    await page.get_by_role("button", name="Send a test to JOC situation room").click()
    await page.get_by_text("The test message was received (HTTP 204).").wait_for()
    assert Receiver.received[-1]["type"] == "civop.test"
    await shot(opened, "webhooks")
    await page.get_by_role("button", name="Remove the webhook of JOC situation room").click()
    await page.get_by_text("The webhook is removed").wait_for()
    assert await page.get_by_role("row").filter(has_text="JOC situation room").count() == 0
    assert unexpected(opened) == [] and opened.outside == [], (opened.errors, opened.outside)
    await opened.close()


async def test_the_audit_trail_of_a_record_and_of_a_user_over_a_period(
    browser: Any, live_server: LiveServer
) -> None:
    async with await admin_api(live_server) as api:
        made = await api.post(
            "/api/admin/users",
            json={"username": f"audited-{secrets.token_hex(3)}", "password": factories.PASSWORD,
                  "role": "partner"},
        )  # fmt: skip
        user = made.json()
        changed = await api.put(
            f"/api/admin/users/{user['id']}", json={"role": "analyst", "full_name": "Joseph K"}
        )
        assert changed.status_code == 200, changed.text

    opened = await open_workspace(browser, live_server, "admin", "/workspace/admin/audit")
    page = opened.page
    search = page.get_by_role("search", name="Search the audit trail")
    await search.wait_for()
    await search.get_by_label("Collection").select_option("users")
    await search.get_by_label("Record id").fill(user["id"])
    await search.get_by_role("button", name="Search").click()
    await page.get_by_role("heading", name="Changes found").wait_for()
    rows = page.get_by_role("row").filter(has_text=user["id"])
    assert await rows.count() == 2
    assert "update · users" in await rows.first.inner_text()
    assert "partner" in await rows.first.inner_text()
    assert "analyst" in await rows.first.inner_text()
    assert "create · users" in await rows.last.inner_text()
    assert "password_hash" not in await page.content()
    await shot(opened, "audit-record")

    await search.get_by_role("link", name="Clear the search").click()
    await search.get_by_label("Record id").wait_for()
    await search.get_by_label("Changed by").fill("admin")
    await search.get_by_label("From").fill("2020-01-01T00:00")
    await search.get_by_role("button", name="Search").click()
    await page.get_by_role("heading", name="Changes found").wait_for()
    assert await page.get_by_role("row").filter(has_text=user["id"]).count() >= 2
    await search.get_by_label("Until").fill("2020-01-02T00:00")
    await search.get_by_role("button", name="Search").click()
    await page.get_by_text("No change matches the search.").wait_for()
    assert unexpected(opened) == [] and opened.outside == [], (opened.errors, opened.outside)
    await opened.close()


@pytest.mark.parametrize("username", ["analyst", "partner"])
async def test_others_see_no_administration_and_their_forged_posts_are_refused(
    browser: Any, live_server: LiveServer, username: str
) -> None:
    async with await admin_api(live_server) as api:

        async def state() -> tuple[Any, ...]:
            users = (await api.get("/api/admin/users")).json()
            keys = (await api.get("/api/admin/api_keys")).json()
            hooks = (await api.get("/api/alert_webhooks")).json()
            return users, keys, hooks

        before = await state()
        target = next(u for u in before[0] if u["username"] == "officer")

        opened = await open_workspace(browser, live_server, username)
        page = opened.page
        nav = page.get_by_role("navigation", name="Workspace")
        await nav.get_by_role("link", name="Home").wait_for()
        for entry in ADMIN_ENTRIES:
            assert await nav.get_by_role("link", name=entry, exact=True).count() == 0
        await page.goto(f"{live_server.url}/workspace/admin/users")
        await page.get_by_role("heading", name="You may not do this").wait_for()
        assert "officer" not in await page.get_by_role("main").inner_text()
        await shot(opened, f"refused-{username}", docs=False)
        token = await page.evaluate("sessionStorage.getItem('civop.token')")
        await opened.close()

        forged = {
            "/workspace/admin/users": {"username": "intruder", "password": "x" * 16,
                                       "role": "admin"},
            f"/workspace/admin/users/{target['id']}": {"role": "partner"},
            f"/workspace/admin/users/{target['id']}/password": {"password": "y" * 16},
            f"/workspace/admin/users/{target['id']}/disable": {},
            "/workspace/admin/keys": {"username": "admin", "name": "mine now"},
            "/workspace/admin/webhooks": {"name": "leak", "url": "https://example.org/x"},
        }  # fmt: skip
        headers = {"Authorization": f"Bearer {token}", "HX-Request": "true"}
        async with httpx.AsyncClient(
            base_url=live_server.url, headers=headers, timeout=TIMEOUT_S
        ) as http:
            for path, form in forged.items():
                answer = await http.post(path, data=form)
                assert answer.status_code == 403, (path, answer.text)
            audit = await http.get("/workspace/admin/audit", params={"collection": "users"})
            assert audit.status_code == 403 and target["id"] not in audit.text
        assert await state() == before
