"""The leak suite for change signals: the data versions a map polls (``/layers/versions``), the
ETags of vector and heat tiles, and the live stream's event ids move for a user only with
changes that user may see. A partner polling them must not learn when a restricted incident is written."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import morecantile
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from service.alerts import rules
from tests import factories
from tests.conftest import LiveServer
from tests.test_alerts_live import post, subscribe

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]
TMS = morecantile.tms.get("WebMercatorQuad")
#: In the North-West, where every user but the South's analyst sees records.
PLACE = (24.31, 7.42)
UNMOVED = ("partner", "analyst", "analyst-south")


def tile_urls() -> list[str]:
    tile = TMS.tile(*PLACE, 10)
    return [
        f"/collections/incidents/tiles/WebMercatorQuad/10/{tile.x}/{tile.y}",
        f"/layers/heat/incidents/10/{tile.x}/{tile.y}",
    ]


async def signals(client: AsyncClient, headers: Headers, user: str) -> dict[str, Any]:
    """What tells ``user`` that something changed: the versions and each tile's ETag."""
    auth = headers(user)
    versions = await client.get("/layers/versions", headers=auth)
    assert versions.status_code == 200, versions.text
    seen: dict[str, Any] = {"versions": versions.json()}
    for url in tile_urls():
        tile = await client.get(url, headers=auth)
        assert tile.status_code == 200, tile.text
        seen[url] = tile.headers["etag"]
    return seen


async def still_current(
    client: AsyncClient, headers: Headers, user: str, seen: dict[str, Any]
) -> None:
    """The user's copies revalidate: 304, nothing moved."""
    now = await signals(client, headers, user)
    assert now == seen, user
    for url in tile_urls():
        again = await client.get(url, headers={**headers(user), "If-None-Match": seen[url]})
        assert again.status_code == 304, (user, url)


async def test_a_restricted_incident_moves_no_version_of_who_may_not_see_it(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    users = [*UNMOVED, "analyst-cleared", "admin"]
    before = {user: await signals(client, headers, user) for user in users}
    restricted = await make(
        "incidents", geometry=factories.point(*PLACE), classification="restricted"
    )
    for user in UNMOVED:
        await still_current(client, headers, user, before[user])
    for user in ("analyst-cleared", "admin"):
        after = await signals(client, headers, user)
        assert after["versions"]["incidents"] > before[user]["versions"]["incidents"], user
        assert all(after[url] != before[user][url] for url in tile_urls()), user
    # Changed and deleted, it still moves nothing for them.
    url = f"/api/incidents/{restricted['id']}"
    changed = await client.patch(
        url, json={"properties": {"severity": 5}}, headers=headers("admin")
    )
    assert changed.status_code == 200, changed.text
    deleted = await client.delete(url, headers=headers("admin"))
    assert deleted.status_code == 204, deleted.text
    for user in UNMOVED:
        await still_current(client, headers, user, before[user])


async def test_a_mission_incident_moves_the_analysts_version_not_the_partners(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    partner = await signals(client, headers, "partner")
    south = await signals(client, headers, "analyst-south")
    analyst = await signals(client, headers, "analyst")
    await make("incidents", geometry=factories.point(*PLACE), classification="mission")
    await still_current(client, headers, "partner", partner)
    # Out of the South's sectors: nothing it may see changed.
    await still_current(client, headers, "analyst-south", south)
    moved = await signals(client, headers, "analyst")
    assert moved["versions"]["incidents"] > analyst["versions"]["incidents"]


async def test_what_a_partner_sees_change_moves_the_partners_version(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    before = await signals(client, headers, "partner")
    public = await make("incidents", geometry=factories.point(*PLACE), classification="public")
    after = await signals(client, headers, "partner")
    assert after["versions"]["incidents"] > before["versions"]["incidents"]
    assert all(after[url] != before[url] for url in tile_urls())
    # Made restricted, it leaves the partner's map: that too is a change the partner sees.
    hidden = await client.patch(
        f"/api/incidents/{public['id']}",
        json={"properties": {"classification": "restricted"}},
        headers=headers("admin"),
    )
    assert hidden.status_code == 200, hidden.text
    gone = await signals(client, headers, "partner")
    assert gone["versions"]["incidents"] > after["versions"]["incidents"]
    # A generalised site the partner sees moves the partner's sites; a restricted one does not.
    sites = gone["versions"]["idp_sites"]
    await make("idp_sites", classification="restricted")
    assert (await signals(client, headers, "partner"))["versions"]["idp_sites"] == sites
    await make("idp_sites", classification="mission")
    assert (await signals(client, headers, "partner"))["versions"]["idp_sites"] > sites


@pytest.mark.parametrize("user", ["partner", "analyst"])
async def test_a_hidden_write_moves_nothing_through_an_import(
    client: AsyncClient, app: Any, headers: Headers, user: str, tmp_path: Any
) -> None:
    """An import of restricted incidents moves nothing for who may not see them (the same
    bookkeeping on a table without triggers is checked by test_trail)."""
    from tests.test_imports import upload

    before = await signals(client, headers, user)
    cleared = await signals(client, headers, "analyst-cleared")
    path = tmp_path / "restricted.csv"
    path.write_text(
        "external_id,category,occurred_at,severity,latitude,longitude\n"
        f"r-1,sexual_violence,2026-10-01T10:00:00Z,4,{PLACE[1]},{PLACE[0]}\n"
    )
    imported = await upload(
        client, headers, path, user="admin", collection="incidents", classification="restricted"
    )
    assert imported.status_code == 201, imported.text
    app.state.changes.announce("incidents")  # what PostgreSQL announces on commit
    await still_current(client, headers, user, before)
    moved = await signals(client, headers, "analyst-cleared")
    assert moved["versions"]["incidents"] > cleared["versions"]["incidents"]


async def test_the_live_stream_tells_a_partner_nothing_of_hidden_writes(
    live_server: LiveServer,
) -> None:
    """The stream's event ids were the event log's: their gaps, or the id a new connection
    starts from, counted the restricted records written meanwhile."""
    url = live_server.url
    admin = await live_server.api_key("admin")
    partner = await live_server.api_key("partner")
    async with httpx.AsyncClient() as http:
        async with subscribe(http, url, partner) as first:
            for _ in range(3):
                await post(http, url, admin, "/api/incidents",
                           factories.feature("incidents", classification="restricted"))  # fmt: skip
            public = await post(http, url, admin, "/api/incidents",
                                factories.feature("incidents", classification="public"))  # fmt: skip
            seen = await first.wait_for(lambda e: public["id"] in e.data)
            assert all(public["id"] in e.data for e in first.events if e.name == "feature")
        async with subscribe(http, url, partner) as second:
            pass
    ids = [line[3:].strip() for line in first.raw + second.raw if line.startswith("id:")]
    assert len(ids) >= 3
    # Opaque, and never the same twice: nothing to subtract one from another.
    assert not any(token.isdigit() for token in ids), ids
    assert len(set(ids)) == len(ids)
    assert seen.id is not None  # (the service itself reads them back)


async def test_a_partner_cannot_count_the_alerts_hidden_from_them(
    client: AsyncClient, headers: Headers, session: AsyncSession, make: Make
) -> None:
    """Alerts are numbered as they are raised: a partner shown numbers 4 and 7 would know two
    alerts came in between that they may not see (raised by restricted incidents)."""
    rule = {"name": "near", "kind": "incident_near_site", "radius_km": 50, "min_severity": 1}
    assert (await client.post("/api/alert_rules", json=rule, headers=headers("admin"))).is_success
    await make("idp_sites", geometry=factories.point(*PLACE), classification="public")
    incidents = []
    for classification in ("public", "restricted", "restricted", "public"):
        incident = await make(
            "incidents", geometry=factories.point(*PLACE), classification=classification
        )
        incidents.append(uuid.UUID(incident["id"]))
        await rules.evaluate(session, rules.Changed(incidents={incidents[-1]}))

    first = await client.get("/api/alerts", params={"limit": 1}, headers=headers("partner"))
    assert first.status_code == 200, first.text
    (shown,) = first.json()["features"]
    assert shown["properties"]["number"] is None
    (link,) = [x["href"] for x in first.json()["links"] if x["rel"] == "next"]
    before = parse_qs(urlsplit(link).query)["before"][0]
    assert not before.isdigit()
    second = await client.get(link.removeprefix("http://testserver"), headers=headers("partner"))
    assert second.status_code == 200, second.text
    assert len(second.json()["features"]) == 1  # the other public alert, and no more
    probe = await client.get("/api/alerts", params={"before": 3}, headers=headers("partner"))
    assert probe.status_code == 422
    assert probe.json()["detail"][0]["loc"] == ["query", "before"]
    # Who sees every alert keeps the numbers.
    admin = await client.get("/api/alerts", params={"limit": 10}, headers=headers("admin"))
    numbers = [f["properties"]["number"] for f in admin.json()["features"]]
    assert len(numbers) == 4 and all(isinstance(n, int) for n in numbers)


async def test_an_import_jobs_running_number_is_shown_only_to_admins(
    client: AsyncClient, headers: Callable[[str], dict[str, str]], tmp_path: Any
) -> None:
    """Import numbers run over every import: an officer's next number counted the imports
    of others, restricted ones included, that the officer may not list."""
    from tests import geofiles
    from tests.test_imports import upload

    path = tmp_path / "incidents.csv"
    path.write_text(geofiles.incidents_csv())
    mine = await upload(client, headers, path, collection="incidents", user="officer")
    assert mine.status_code == 201, mine.text
    assert mine.json()["number"] is None
    listed = await client.get("/api/imports", headers=headers("officer"))
    assert listed.status_code == 200, listed.text
    assert listed.json() and all(job["number"] is None for job in listed.json())
    seen_by_admin = await client.get(f"/api/imports/{mine.json()['id']}", headers=headers("admin"))
    assert isinstance(seen_by_admin.json()["number"], int)
