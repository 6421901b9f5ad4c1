"""The leak suite for the workspace's pages: the HTML fragments a signed-in user gets (record
pages, the incident list, the report and correction forms with their list of actors, the
navigation) never hold a hidden record's id, fields or exact place, nor a generalised record's
sensitive fields; shells hold no data at all; forged writes are refused and write nothing.

The same records as the API's leak suite are planted (``plant``) and the same expectations,
written out by hand from the documented policy, are checked on the HTML."""

from __future__ import annotations

import html
from collections.abc import Callable

from httpx import AsyncClient

from tests.test_access_leaks import (
    COARSE,
    COARSE_LOCATION,
    CONTACTS,
    FULL,
    HIDDEN,
    MARKED,
    USERS,
    Planted,
    expected,
    plant,
    sees_contacts,
)

Headers = Callable[[str], dict[str, str]]
FRAGMENT = {"HX-Request": "true"}


async def pages_for(
    client: AsyncClient, headers: Headers, user: str, planted: list[Planted]
) -> dict[str, str]:
    """Every workspace fragment about the planted records, as ``user`` gets it (by URL)."""
    auth = {**headers(user), **FRAGMENT}
    got: dict[str, str] = {}

    async def get(url: str) -> None:
        answer = await client.get(url, headers=auth)
        assert answer.status_code in (200, 403, 404), (url, answer.status_code, answer.text)
        got[url] = html.unescape(answer.text)

    await get("/workspace")
    await get("/workspace/nav")
    await get("/workspace/incidents")
    await get("/workspace/incidents/new")
    for record in planted:
        await get(f"/workspace/records/{record.collection}/{record.id}")
        if record.collection == "incidents":
            await get(f"/workspace/incidents/{record.id}/edit")
    return got


async def test_no_workspace_page_shows_what_its_user_may_not_see(
    client: AsyncClient, headers: Headers
) -> None:
    planted = await plant(client, headers)
    for user in USERS:
        got = await pages_for(client, headers, user, planted)
        everything = "\n".join(got.values())
        for record in planted:
            expectation = expected(user, record.collection, record.classification)
            where = f"{user} / {record.collection} / {record.classification}"
            page = got[f"/workspace/records/{record.collection}/{record.id}"]
            if expectation == HIDDEN:
                assert record.id not in everything, f"{where}: hidden id came out"
                assert record.marker not in everything, f"{where}: hidden field came out"
                for coordinate in record.coordinates:
                    assert coordinate not in everything, f"{where}: exact coordinate came out"
                assert "There is no such record, or you may not see it." in page, where
                continue
            assert record.id in page, f"{where}: should be shown"
            if expectation in (COARSE, COARSE_LOCATION):
                for coordinate in record.coordinates:
                    assert coordinate not in everything, f"{where}: exact coordinate came out"
                assert record.key not in everything, f"{where}: key of a generalised record"
                assert "generalised" in page, f"{where}: not said to be generalised"
            if expectation == COARSE:
                assert record.marker not in everything, f"{where}: sensitive field came out"
            if expectation in (FULL, COARSE_LOCATION):
                for field in MARKED[record.collection]:
                    shown = f"{record.marker}-{field}" in page
                    hidden_contact = field in CONTACTS and not sees_contacts(user)
                    assert shown != hidden_contact, f"{where}: {field}"


async def test_shells_hold_no_data(client: AsyncClient, headers: Headers) -> None:
    planted = await plant(client, headers)
    for record in planted:
        for url in (
            f"/workspace/records/{record.collection}/{record.id}",
            f"/workspace/incidents/{record.id}/edit",
        ):
            # Even with credentials, a plain GET answers the shell, never the record.
            shell = await client.get(url, headers=headers("admin"))
            assert shell.status_code == 200
            assert (
                record.marker not in shell.text and record.id not in shell.text.split("hx-get=")[0]
            ), url
            assert 'name="description"' not in shell.text, url


async def test_forged_workspace_writes_are_refused_and_write_nothing(
    client: AsyncClient, headers: Headers
) -> None:
    planted = await plant(client, headers)
    public = next(
        p for p in planted if p.collection == "incidents" and p.classification == "public"
    )
    restricted = next(
        p for p in planted if p.collection == "incidents" and p.classification == "restricted"
    )
    report = {
        "category": "looting",
        "latitude": "7.2",
        "longitude": "24.5",
        "location_precision": "exact",
        "occurred_at": "2026-10-01T10:00",
        "severity": "2",
        "killed": "0",
        "injured": "0",
        "displaced": "0",
        "classification": "public",
        "description": "FORGED-WORKSPACE-REPORT",
    }
    for user, refused_with in (("partner", 403), ("analyst", 403)):
        auth = {**headers(user), **FRAGMENT}
        made = await client.post("/workspace/incidents", data=report, headers=auth)
        assert made.status_code == refused_with, (user, made.text)
        assert "You may not do this" in made.text
        changed = await client.post(f"/workspace/incidents/{public.id}", data=report, headers=auth)
        assert changed.status_code == 403, (user, changed.text)
        gone = await client.delete(f"/workspace/records/incidents/{public.id}", headers=auth)
        assert gone.status_code == 403, (user, gone.text)
    # An officer not cleared for restricted records can neither write one nor touch one.
    auth = {**headers("officer"), **FRAGMENT}
    made = await client.post(
        "/workspace/incidents", data={**report, "classification": "restricted"}, headers=auth
    )
    assert made.status_code == 403 and "not cleared" in made.text
    hidden = await client.post(f"/workspace/incidents/{restricted.id}", data=report, headers=auth)
    assert hidden.status_code == 404
    assert restricted.marker not in hidden.text
    admin = headers("admin")
    found = await client.get("/api/incidents", params={"q": "FORGED-WORKSPACE"}, headers=admin)
    assert found.json()["features"] == []
    for record in (public, restricted):
        kept = await client.get(f"/api/incidents/{record.id}", headers=admin)
        assert kept.json()["properties"]["description"] == f"{record.marker}-description"
