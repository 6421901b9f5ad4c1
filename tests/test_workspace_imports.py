"""The import wizard and the export dialog of the workspace, in a real browser (Debian's
Chromium through Playwright, under the pages' real Content-Security-Policy) against the
service and its job worker running as users run them.

A GIS officer drops a partner's shapefile in UTM, reads the preview (its problems with row and
field), fixes the mapping (a column and a table of values), imports it, follows the import and
rolls it back; an analyst exports what the map shows and downloads the file; a partner gets
no import entry and a forged upload is refused. Only the pages are used; the API only checks
the outcome. Screenshots go to artifacts/workspace-imports-*.png (and, with `make docs-images`,
docs/images/)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyogrio
import pytest
from playwright.async_api import expect

from tests import factories, geofiles
from tests.conftest import LiveServer
from tests.workspace_browser import WorkspacePage, browser, open_workspace

__all__ = ["browser"]

#: The worker starts a process per job: generous on a loaded machine.
JOB_WAIT_MS = 120_000

#: A partner's incidents, with French categories and their own column names, in UTM 35N.
PARTNER_EVENTS: list[dict[str, Any]] = [
    {
        "ext_id": "ws-gis-1",
        "type": "Affrontement",
        "date": "2026-09-01T08:00:00Z",
        "severity": 3,
        "notes_terr": "Tirs près du marché de Ndoki",
        "lon": 24.11,
        "lat": 7.21,
    },
    {
        "ext_id": "ws-gis-2",
        "type": "Pillage",
        "date": "2026-09-02T09:30:00Z",
        "severity": 2,
        "notes_terr": "Boutiques pillées",
        "lon": 24.52,
        "lat": 7.63,
    },
    {
        "ext_id": "ws-gis-3",
        "type": "Rapt",
        "date": "2026-09-03T17:45:00Z",
        "severity": 4,
        "notes_terr": "Deux travailleurs humanitaires enlevés",
        "lon": 25.03,
        "lat": 8.04,
    },
]
VALUE_MAP = "Affrontement = armed_clash\nPillage = looting\nRapt = abduction"


async def shot(opened: WorkspacePage, name: str, docs: bool = False) -> None:
    await opened.screenshot(f"imports-{name}", docs=docs)


@pytest.fixture
async def officer_api(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    key = await live_server.api_key("officer")
    async with httpx.AsyncClient(
        base_url=live_server.url, timeout=60, headers={"X-API-Key": key}
    ) as http:
        yield http


def utm_shapefile(folder: Path) -> Path:
    data = geofiles.table(PARTNER_EVENTS, crs="EPSG:32635")
    return geofiles.shapefile_zip(folder / "utm", data, crs="EPSG:32635", name="evenements")


async def problems(opened: WorkspacePage) -> list[list[str]]:
    """The preview's problems as the table shows them: row, field, problem, severity."""
    table = opened.page.get_by_role("table", name=re.compile("^Problems"))
    rows = table.get_by_role("row")
    found = []
    for index in range(1, await rows.count()):  # the first is the header
        found.append(
            [c.strip() for c in await rows.nth(index).get_by_role("cell").all_inner_texts()]
        )
    return found


async def check_file(opened: WorkspacePage, path: Path, collection: str = "incidents") -> None:
    page = opened.page
    await page.get_by_label("Import into").select_option(collection)
    await page.get_by_label("File", exact=True).set_input_files(str(path))
    await page.get_by_role("button", name="Check the file").click()
    await preview_shown(opened)


async def preview_shown(opened: WorkspacePage) -> None:
    """Wait for the preview; a refusal fails the test with the page's own words."""
    page = opened.page
    heading = page.get_by_role("heading", name="What the import would do")
    refused = page.get_by_role("alert").filter(has_text="There is a problem")
    await heading.or_(refused).first.wait_for(timeout=JOB_WAIT_MS)
    assert await refused.count() == 0, await refused.inner_text()


async def test_a_utm_shapefile_is_imported_after_its_mapping_is_fixed_then_rolled_back(
    browser: Any, live_server: LiveServer, officer_api: httpx.AsyncClient, tmp_path: Path
) -> None:
    opened = await open_workspace(browser, live_server, "officer", "/workspace/imports")
    page = opened.page
    try:
        await check_file(opened, utm_shapefile(tmp_path))
        # The keyboard's focus moves to what the check found.
        await expect(page.get_by_role("heading", name="What the import would do")).to_be_focused()
        summary = page.locator("dl").filter(has_text="Coordinate reference system")
        await expect(summary).to_contain_text("EPSG:32635")
        await expect(summary).to_contain_text("converted to WGS 84")
        await expect(summary).to_contain_text("shapefile")
        # The partner's categories are not civop's: each row is named, under its column.
        found = await problems(opened)
        assert [p[:2] for p in found if "Affrontement" in p[2]] == [["1", "type"]], found
        assert [p[:2] for p in found if "Rapt" in p[2]] == [["3", "type"]], found
        assert all(p[3] == "error" for p in found)
        category = page.get_by_role("row").filter(has=page.get_by_label("category taken from"))
        await expect(page.get_by_label("category taken from")).to_have_value("type")
        await expect(category).to_contain_text("a common synonym")
        await expect(
            page.get_by_role("button", name=re.compile(r"^Import \d+ records"))
        ).to_have_count(0)
        await expect(
            page.get_by_text("Nothing can be imported while the file has errors")
        ).to_be_visible()
        await shot(opened, "preview-problems", docs=True)

        # Fix the mapping: translate the categories, take the description from its column.
        await page.get_by_label("Translated values of category").fill(VALUE_MAP)
        await page.get_by_label("description taken from").select_option("notes_terr")
        await page.get_by_role("button", name="Check again with this mapping").click()
        await page.get_by_text("No problem was found.").wait_for(timeout=JOB_WAIT_MS)
        counts = page.get_by_role("list", name="What each row would do")
        await expect(counts).to_contain_text("3 new")
        await expect(counts).to_contain_text("0 changed")
        description = page.get_by_role("row").filter(
            has=page.get_by_label("description taken from")
        )
        await expect(description).to_contain_text("chosen by you")
        await expect(category).to_contain_text("a column with translated values")
        kept = await page.get_by_label("Translated values of category").input_value()
        assert sorted(kept.splitlines()) == sorted(VALUE_MAP.splitlines())
        await shot(opened, "preview-fixed", docs=True)

        # Confirmed with the keyboard alone.
        await page.get_by_role("button", name="Import 3 records").focus()
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(r"/workspace/imports/[0-9a-f-]{36}$"))
        import_id = page.url.rsplit("/", 1)[1]
        state = page.get_by_role("status").filter(has_text=re.compile(r"^\s*Imported\s*$"))
        await state.wait_for(timeout=JOB_WAIT_MS)
        await expect(page.locator("dl").filter(has_text="New records")).to_contain_text("3")
        await shot(opened, "imported", docs=True)

        job = (await officer_api.get(f"/api/imports/{import_id}")).json()
        assert job["status"] == "succeeded" and job["crs"] == "EPSG:32635"
        assert job["created"] == 3 and job["options"]["mapping"]["description"] == "notes_terr"
        records = (await officer_api.get("/api/incidents", params={"q": "Ndoki"})).json()
        mine = [f for f in records["features"] if f["properties"]["external_id"] == "ws-gis-1"]
        assert len(mine) == 1
        assert mine[0]["properties"]["category"] == "armed_clash"
        assert mine[0]["properties"]["description"] == "Tirs près du marché de Ndoki"
        lon, lat = mine[0]["geometry"]["coordinates"]
        assert abs(lon - 24.11) < 1e-6 and abs(lat - 7.21) < 1e-6  # from UTM, back in place

        # The import is among the user's imports, and rolled back from its page.
        await page.get_by_role("button", name="Roll back this import").click()
        rolled = page.get_by_role("status").filter(has_text=re.compile(r"^\s*Rolled back\s*$"))
        await rolled.wait_for(timeout=JOB_WAIT_MS)
        await shot(opened, "rolled-back")
        assert (await officer_api.get(f"/api/imports/{import_id}")).json()[
            "status"
        ] == "rolled_back"
        gone = (await officer_api.get("/api/incidents", params={"q": "Ndoki"})).json()
        assert not [f for f in gone["features"] if f["properties"]["external_id"] == "ws-gis-1"]

        await page.get_by_role("link", name="Import another file, or see your imports").click()
        listed = page.get_by_role("row").filter(
            has=page.get_by_role("link", name="evenements-utm.zip")
        )
        await expect(listed).to_contain_text("Rolled back")
        assert opened.outside == [] and opened.errors == [], (opened.outside, opened.errors)
    finally:
        await opened.close()


async def test_the_preview_names_the_row_and_field_of_every_problem(
    browser: Any, live_server: LiveServer, officer_api: httpx.AsyncClient, tmp_path: Path
) -> None:
    rows = [["ext_id", "category", "occurred_at", "severity", "longitude", "latitude"]]
    rows.append(["ws-bad-1", "armed_clash", "2026-09-01T08:00:00Z", "3", "24.11", "7.21"])
    rows.append(["ws-bad-2", "looting", "2026-09-02T09:30:00Z", "9", "24.52", "7.63"])
    rows.append(["ws-bad-3", "abduction", "last tuesday", "2", "25.03", "8.04"])
    path = tmp_path / "bad-rows.csv"
    path.write_text(geofiles.csv_text(rows), encoding="utf-8")
    before = len((await officer_api.get("/api/imports")).json())

    opened = await open_workspace(browser, live_server, "officer", "/workspace/imports")
    page = opened.page
    try:
        await page.get_by_label("Import into").select_option("incidents")
        # The file is dropped on the page, as from the file manager.
        drop_zone = page.locator("[data-drop-zone]")
        transfer = await page.evaluate_handle(
            """([name, text]) => {
                const transfer = new DataTransfer();
                transfer.items.add(new File([text], name, {type: 'text/csv'}));
                return transfer;
            }""",
            [path.name, path.read_text(encoding="utf-8")],
        )
        await drop_zone.dispatch_event("drop", {"dataTransfer": transfer})
        await expect(drop_zone).to_contain_text("bad-rows.csv")
        await page.get_by_role("button", name="Check the file").click()
        await preview_shown(opened)
        found = await problems(opened)
        by_row = {(p[0], p[1]): p[2] for p in found}
        assert "severity" in by_row.get(("2", "severity"), ""), found
        assert "last tuesday" in by_row.get(("3", "occurred_at"), ""), found
        assert ("1", "severity") not in by_row and ("1", "category") not in by_row
        counts = page.get_by_role("list", name="What each row would do")
        await expect(counts).to_contain_text("3 new")  # rows, as the service counts them
        await expect(
            page.get_by_role("button", name=re.compile(r"^Import \d+ records"))
        ).to_have_count(0)
        await shot(opened, "problems")
        # A value the field cannot take is refused before any row is read, saying so.
        await page.get_by_label("category taken from").select_option(
            label="one value for every record"
        )
        await page.get_by_label("Value of category for every record").fill("atack")
        await page.get_by_role("button", name="Check again with this mapping").click()
        summary = page.get_by_role("alert").filter(has_text="There is a problem")
        await expect(summary).to_contain_text("'atack'", timeout=JOB_WAIT_MS)
        await expect(summary.get_by_role("link")).to_have_attribute("href", "#import-mapping")
        await expect(page.get_by_label("category taken from")).to_be_visible()
        await shot(opened, "mapping-refused")
        # A line of translated values that is not 'value = value' is refused at its box.
        await page.get_by_label("category taken from").select_option("category")
        await page.get_by_label("Translated values of category").fill("Pillage looting")
        await page.get_by_role("button", name="Check again with this mapping").click()
        summary = page.get_by_role("alert").filter(has_text="Line 1 of the values for category")
        await expect(summary.get_by_role("link")).to_have_attribute(
            "href", "#import-values-category"
        )
        # A preview writes nothing and starts no import.
        assert len((await officer_api.get("/api/imports")).json()) == before
        # The browser logs the refused form's 422; nothing else went wrong.
        unexpected = [e for e in opened.errors if "status of 422" not in e]
        assert unexpected == [], opened.errors
    finally:
        await opened.close()


async def test_an_export_of_the_map_view_is_downloaded(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    # Two incidents: one in the view the map opens on, one outside it.
    key = await live_server.api_key("admin")
    when = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0).isoformat()
    made = {}
    async with httpx.AsyncClient(
        base_url=live_server.url, timeout=60, headers={"X-API-Key": key}
    ) as http:
        for name, lon, lat in (("inside", 26.50, 6.90), ("outside", 27.40, 7.60)):
            feature = factories.feature(
                "incidents",
                geometry=factories.point(lon, lat),
                classification="public",
                occurred_at=when,
                description=f"ws-export-{name}",
            )
            response = await http.post("/api/incidents", json=feature)
            assert response.status_code == 201, response.text
            made[name] = response.json()["id"]

    opened = await open_workspace(browser, live_server, "analyst", "/workspace")
    page = opened.page
    try:
        # The map in the same tab knows the user; its toolbar links to the export dialog.
        await page.goto(f"{live_server.url}/map#map=11/6.90000/26.50000")
        link = page.get_by_role("link", name="Export this view")
        await expect(link).to_have_attribute(
            "href", re.compile(r"bbox=26\.\d+,6\.\d+,26\.\d+,\d\.\d+")
        )
        await link.click()
        await page.get_by_text("From the map: the area, period and filters").wait_for(
            timeout=20_000
        )
        bbox = await page.get_by_label("Area").input_value()
        west, south, east, north = (float(v) for v in bbox.split(","))
        assert west < 26.50 < east and south < 6.90 < north and east < 27.40
        await expect(page.get_by_label("Collection")).to_have_value("incidents")
        await page.get_by_label("GeoPackage (QGIS, ArcGIS)").check()
        await shot(opened, "export", docs=True)
        await page.get_by_role("button", name="Export", exact=True).click()
        download_link = page.get_by_role("link", name="Download incidents.gpkg")
        await download_link.wait_for(timeout=JOB_WAIT_MS)
        await shot(opened, "export-ready", docs=True)
        async with page.expect_download() as waiting:
            await download_link.click()
        download = await waiting.value
        saved = tmp_path / "incidents.gpkg"
        await download.save_as(str(saved))
        written = geofiles.features_of(saved, "gpkg")
        ids = {f["id"] for f in written}
        assert made["inside"] in ids and made["outside"] not in ids
        # The file holds what the API lists for the analyst in the same view.
        analyst = await live_server.api_key("analyst")
        async with httpx.AsyncClient(
            base_url=live_server.url, timeout=60, headers={"X-API-Key": analyst}
        ) as http:
            listed = (await http.get("/api/incidents", params={"bbox": bbox, "limit": 1000})).json()
        assert ids == {f["id"] for f in listed["features"]}
        assert pyogrio.read_info(saved)["crs"] == "EPSG:4326"
        assert opened.outside == [], opened.outside
    finally:
        await opened.close()


async def test_a_partner_has_no_import_entry_and_a_forged_upload_is_refused(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    admin = await live_server.api_key("admin")
    async with httpx.AsyncClient(
        base_url=live_server.url, timeout=60, headers={"X-API-Key": admin}
    ) as http:
        before = len((await http.get("/api/imports", params={"limit": 500})).json())

    opened = await open_workspace(browser, live_server, "partner", "/workspace")
    page = opened.page
    try:
        nav = page.get_by_role("navigation", name="Workspace")
        await expect(nav.get_by_role("link", name="Export a collection")).to_be_visible()
        await expect(nav.get_by_role("link", name="Import a file")).to_have_count(0)
        # Typed into the address bar: the page says why not, and offers no upload.
        await page.goto(f"{live_server.url}/workspace/imports")
        await expect(page.get_by_role("alert")).to_contain_text("You may not do this")
        await expect(page.get_by_label("File", exact=True)).to_have_count(0)
        await shot(opened, "partner-refused")
        # A forged upload with the partner's own token is refused before the file is read.
        path = utm_shapefile(tmp_path)
        token = await page.evaluate("() => sessionStorage.getItem('civop.token')")
        async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
            answer = await http.post(
                "/workspace/imports/preview",
                headers={"Authorization": f"Bearer {token}", "HX-Request": "true"},
                data={"collection": "incidents"},
                files={"file": (path.name, path.read_bytes(), "application/zip")},
            )
            assert answer.status_code == 403, answer.text
            assert "You may not do this" in answer.text
            rollback = await http.post(
                f"/workspace/imports/{'0' * 8}-0000-4000-8000-{'0' * 12}/rollback",
                headers={"Authorization": f"Bearer {token}", "HX-Request": "true"},
            )
            assert rollback.status_code == 403
            after = await http.get(
                "/api/imports", params={"limit": 500}, headers={"X-API-Key": admin}
            )
        assert len(after.json()) == before
    finally:
        await opened.close()
