"""Intake forms in Chromium, as an admin connects a KoboToolbox form: the form is added (a
mapping line written wrong is refused at its field), its token is shown once and copied, and a
submission posted as KoboToolbox posts it, to the intake address the page shows, lands as a
reported incident in the triage queue; once disabled, the form's next submission is refused.
The shipped XLSForm downloads from the page. An analyst sees no entry, and what they post to
the forms' pages is refused and writes nothing. Screenshots go to
artifacts/workspace-intake-*.png."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect

from service.workspace.intake_forms import XLSFORM
from tests.conftest import LiveServer
from tests.test_field_reports import ANSWERS, kobo_submission
from tests.workspace_browser import browser, open_workspace

__all__ = ["browser"]

TIMEOUT_S = 60.0
#: In the West, away from the places other live-server tests write to.
PLACE = (23.41, 6.12)  # lon, lat


async def admin_api(live_server: LiveServer) -> httpx.AsyncClient:
    key = await live_server.api_key("admin")
    return httpx.AsyncClient(
        base_url=live_server.url, headers={"X-API-Key": key}, timeout=TIMEOUT_S
    )


async def test_an_admin_connects_a_kobo_form_whose_submission_reaches_the_triage(
    browser: Any, live_server: LiveServer
) -> None:
    tag = secrets.token_hex(3)
    form_id = f"aZx3PqR7sT9uV2wX{tag}"
    title = f"3 Coy patrol reports {tag}"
    source = f"Bossele market committee {tag}"

    opened = await open_workspace(browser, live_server, "admin", "/workspace/admin/intake-forms")
    page = opened.page
    main = page.get_by_role("main")
    nav = page.get_by_role("navigation", name="Workspace")
    await nav.get_by_role("link", name="Intake forms", exact=True).wait_for()
    await page.get_by_role("heading", name="Intake forms", exact=True).wait_for()
    await opened.context.grant_permissions(["clipboard-read", "clipboard-write"])

    # The shipped XLSForm, from the page.
    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Download the incident report form (XLSForm)").click()
    download = await downloading.value
    assert download.suggested_filename == "incident-report.xlsx"
    got = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert got == await asyncio.to_thread(XLSFORM.read_bytes)

    # Sent empty: the form's id and title are asked for, each at its field.
    await page.get_by_role("button", name="Add the form").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    await summary.get_by_role("link", name="Form id").wait_for()
    await summary.get_by_role("link", name="Title").wait_for()
    await page.get_by_text("Enter the form's id in its server.").first.wait_for()

    # A mapping line naming no incident field is refused at the mapping, by the service's check.
    await main.get_by_label("Form id").fill(form_id)
    await main.get_by_label("Title").fill(title)
    await main.get_by_label("Mission: mission staff only").check()
    await main.get_by_label("Field mapping").fill("happened_on = date_incident")
    await page.get_by_role("button", name="Add the form").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    await summary.wait_for()
    await summary.get_by_role("link", name="Field mapping").wait_for()
    await page.get_by_text("'happened_on' is no incident field a form fills").first.wait_for()
    await opened.screenshot("intake-errors")
    assert await main.get_by_label("Form id").input_value() == form_id

    await main.get_by_label("Field mapping").fill("")
    await page.get_by_role("button", name="Add the form").click()
    issued = page.get_by_role("region", name=f"Token for {title}")
    await issued.get_by_text("it is shown this once").wait_for()
    await expect(issued).to_be_focused()
    token = await issued.get_by_label("The form's token").input_value()
    url = await issued.get_by_label("Intake address").input_value()
    assert url == f"{live_server.url}/api/intake/{form_id}"
    await issued.get_by_role("button", name="Copy the token").click()
    await issued.get_by_text("Copied to the clipboard.").wait_for()
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied == token and len(token) >= 40
    await opened.screenshot("intake-token", docs=True)

    # Shown once: the list has the form, never its token.
    await page.goto(f"{live_server.url}/workspace/admin/intake-forms")
    row = page.get_by_role("row").filter(has_text=title)
    await row.wait_for()
    assert token not in await page.content()
    text = await row.inner_text()
    assert form_id in text and "Taking submissions" in text and "Mission" in text

    # KoboToolbox's REST service posts the submission with the copied token as Basic password.
    answers = {**ANSWERS, "source": source, "location": f"{PLACE[1]} {PLACE[0]} 0 5"}
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as kobo:
        sent = await kobo.post(
            url, json=kobo_submission(answers, form_id=form_id), auth=("kobo", copied)
        )
        assert sent.status_code == 201, sent.text
        incident_id = sent.json()["incident_id"]

    await page.reload()
    row = page.get_by_role("row").filter(has_text=title)
    await row.wait_for()
    assert (await row.get_by_role("cell").nth(3).inner_text()).strip() == "1"
    await opened.screenshot("intake-forms", docs=True)

    # The report waits in the triage queue.
    await page.goto(f"{live_server.url}/workspace/triage")
    queued = page.get_by_role("row").filter(has_text=source)
    await queued.get_by_role("link", name="Triage Looting").click()
    await page.get_by_role("heading", name="Triage a report").wait_for()
    await page.get_by_text(ANSWERS["description"]).first.wait_for()
    assert incident_id in page.url

    # Disabled, the form takes no more submissions.
    await page.goto(f"{live_server.url}/workspace/admin/intake-forms")
    await page.get_by_role("button", name=f"Disable the form {title}").click()
    await page.get_by_text(f"The form {title} takes no more submissions").wait_for()
    row = page.get_by_role("row").filter(has_text=title)
    assert "Disabled" in await row.inner_text()
    assert await row.get_by_role("button").count() == 0
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as kobo:
        refused = await kobo.post(
            url, json=kobo_submission(answers, form_id=form_id), auth=("kobo", copied)
        )
        assert refused.status_code == 401, refused.text
    assert opened.unexpected_errors(422) == [] and opened.outside == [], opened.errors
    await opened.close()


async def test_a_new_token_replaces_the_old_one(browser: Any, live_server: LiveServer) -> None:
    tag = secrets.token_hex(3)
    form_id, title = f"ngo_alertes_{tag}", f"Alertes communautaires {tag}"
    async with await admin_api(live_server) as api:
        made = await api.post("/api/intake-forms", json={"form_id": form_id, "title": title})
        assert made.status_code == 201, made.text
        old = made.json()["token"]

    opened = await open_workspace(browser, live_server, "admin", "/workspace/admin/intake-forms")
    page = opened.page
    await page.get_by_role("button", name=f"New token for {title}").click()
    issued = page.get_by_role("region", name=f"Token for {title}")
    await issued.get_by_text("it is shown this once").wait_for()
    new = await issued.get_by_label("The form's token").input_value()
    url = await issued.get_by_label("Intake address").input_value()
    assert new != old
    answers = {**ANSWERS, "location": f"{PLACE[1] + 0.2} {PLACE[0]} 0 5"}
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as kobo:
        for token, status in ((old, 401), (new, 201)):
            sent = await kobo.post(
                url,
                json=kobo_submission(answers, form_id=form_id),
                headers={"X-Civop-Form-Token": token},
            )
            assert sent.status_code == status, sent.text
    assert opened.unexpected_errors() == [] and opened.outside == [], opened.errors
    await opened.close()


async def test_an_analyst_sees_no_intake_forms_and_their_forged_posts_are_refused(
    browser: Any, live_server: LiveServer
) -> None:
    tag = secrets.token_hex(3)
    async with await admin_api(live_server) as api:
        made = await api.post(
            "/api/intake-forms", json={"form_id": f"target_{tag}", "title": f"Target {tag}"}
        )
        assert made.status_code == 201, made.text
        target = made.json()
        before = (await api.get("/api/intake-forms")).json()

        opened = await open_workspace(browser, live_server, "analyst")
        page = opened.page
        nav = page.get_by_role("navigation", name="Workspace")
        await nav.get_by_role("link", name="Home").wait_for()
        assert await nav.get_by_role("link", name="Intake forms", exact=True).count() == 0
        await page.goto(f"{live_server.url}/workspace/admin/intake-forms")
        await page.get_by_role("heading", name="You may not do this").wait_for()
        assert f"Target {tag}" not in await page.get_by_role("main").inner_text()
        token = await page.evaluate("sessionStorage.getItem('civop.token')")
        await opened.close()

        headers = {"Authorization": f"Bearer {token}", "HX-Request": "true"}
        forged = {
            "/workspace/admin/intake-forms": {"form_id": f"mine_{tag}", "title": "Mine"},
            f"/workspace/admin/intake-forms/{target['id']}/token": {},
            f"/workspace/admin/intake-forms/{target['id']}/disable": {},
        }
        async with httpx.AsyncClient(
            base_url=live_server.url, headers=headers, timeout=TIMEOUT_S
        ) as http:
            for path, form in forged.items():
                answer = await http.post(path, data=form)
                assert answer.status_code == 403, (path, answer.text)
        assert (await api.get("/api/intake-forms")).json() == before
        # The token issued at creation still works: no new token was issued.
        sent = await api.post(
            f"/api/intake/target_{tag}",
            json=kobo_submission(
                {**ANSWERS, "location": f"{PLACE[1] - 0.2} {PLACE[0]} 0 5"},
                form_id=f"target_{tag}",
            ),
            headers={"X-Civop-Form-Token": target["token"]},
        )
        assert sent.status_code == 201, sent.text
