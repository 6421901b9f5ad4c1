"""What each output counts of field reports: the map shows reports not yet judged (and can be
set to verified only), analyses count verified incidents unless asked otherwise, and none
counts a discredited report or a duplicate merged into an incident its reader sees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import service as auth
from service.prints.service import PrintRequest, gather
from tests import factories
from tests.test_field_reports import form
from tests.test_field_reports_triage import report
from tests.test_layers import decode, tile_of

__all__ = ["form"]  # fixtures

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]
CAMP = (25.30, 5.30)
WINDOW = "2026-11-25T00:00:00Z/2026-12-05T00:00:00Z"


@pytest.fixture
async def judged(
    client: AsyncClient, headers: Headers, make: Make, form: dict[str, Any]
) -> dict[str, Any]:
    """A camp with, nearby: a verified incident, a report not yet judged, a discredited report
    and a report merged into the verified incident."""
    camp = await make("idp_sites", geometry=factories.point(*CAMP), population_individuals=9000)
    verified = await make(
        "incidents",
        geometry=factories.point(25.31, 5.30),
        category="armed_clash",
        occurred_at="2026-12-01T05:00:00Z",
        classification="mission",
    )
    reported = await report(client, form, category="abduction")
    discredited = await report(client, form, category="looting")
    await client.post(
        f"/api/incidents/{discredited}/discredit",
        json={"reason": "rumour"},
        headers=headers("analyst"),
    )
    duplicate = await report(client, form, category="armed_clash")
    await client.post(
        f"/api/incidents/{verified['id']}/merge",
        json={"duplicate_id": duplicate},
        headers=headers("analyst"),
    )
    await client.post(f"/api/incidents/{duplicate}/verify", json={}, headers=headers("analyst"))
    return {
        "camp": camp["id"],
        "verified": verified["id"],
        "reported": reported,
        "discredited": discredited,
        "duplicate": duplicate,
    }


async def test_the_map_shows_reports_and_can_be_set_to_verified_only(
    client: AsyncClient, headers: Headers, judged: dict[str, Any]
) -> None:
    who = headers("analyst")
    listed = await client.get("/api/incidents?limit=1000", headers=who)
    shown = {f["id"]: f["properties"]["verification_state"] for f in listed.json()["features"]}
    assert shown[judged["reported"]] == "reported"
    assert shown[judged["discredited"]] == "discredited"
    only = await client.get("/api/incidents?limit=1000&verification_state=verified", headers=who)
    states = {f["properties"]["verification_state"] for f in only.json()["features"]}
    assert states == {"verified"}
    z, x, y = tile_of(25.32, 5.31, 12)
    url = f"/collections/incidents/tiles/WebMercatorQuad/{z}/{x}/{y}"
    everything = decode((await client.get(url, headers=who)).content, "incidents")
    assert "reported" in {f["properties"]["verification_state"] for f in everything}
    verified = decode(
        (await client.get(url, params={"verification_state": "verified"}, headers=who)).content,
        "incidents",
    )
    assert verified and {f["properties"]["verification_state"] for f in verified} == {"verified"}


async def test_analyses_count_verified_incidents_unless_asked_and_never_duplicates(
    client: AsyncClient, headers: Headers, judged: dict[str, Any]
) -> None:
    async def near_camp(**params: Any) -> dict[str, Any]:
        response = await client.get(
            "/api/analysis/proximity",
            params={"datetime": WINDOW, "radius_km": 10, **params},
            headers=headers("analyst"),
        )
        assert response.status_code == 200, response.text
        sites = {f["id"]: f["properties"] for f in response.json()["features"]}
        found: dict[str, Any] = sites[judged["camp"]]
        return found

    default = await near_camp()
    # The verified incident only: the duplicate merged into it is the same event.
    assert default["by_category"] == {"armed_clash": 1}
    everything = await near_camp(verified_only="false")
    # With the report not yet judged; never the discredited one.
    assert everything["by_category"] == {"armed_clash": 1, "abduction": 1}


async def test_a_print_of_the_map_set_to_verified_only_draws_no_report(
    session: AsyncSession, world: factories.World, judged: dict[str, Any]
) -> None:
    analyst = await auth.principal_of_user(session, world.users["analyst"])
    view = {"bbox": (25.2, 5.2, 25.4, 5.4), "datetime": WINDOW}
    categories = {}
    for verified_only in (False, True):
        gathered = await gather(session, analyst, PrintRequest(**view, verified_only=verified_only))
        categories[verified_only] = sorted(c for _, _, c, _ in gathered.incidents)
    # As on the map: every incident, then the verified ones only (the incident and the report
    # merged into it, verified), without the report not yet judged nor the discredited one.
    assert categories[False] == ["abduction", "armed_clash", "armed_clash", "looting"]
    assert categories[True] == ["armed_clash", "armed_clash"], categories
