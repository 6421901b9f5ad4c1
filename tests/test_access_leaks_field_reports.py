"""The leak suite for field reports: a partner's submission reaches that partner and no other,
through any output (items, tiles, the time chart, exports, the sources of an incident), and a
merge shows no reader a source they may not see."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient

from tests import factories
from tests.test_field_reports import ANSWERS, two_ngos_and_a_form
from tests.test_field_reports_triage import report
from tests.test_layers import decode, tile_of
from tests.test_requests import PartnerOf, partner_of

__all__ = ["partner_of"]  # fixtures

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]
WHERE = (25.32, 5.31)  # lon, lat of ANSWERS["location"]
SECRET = "Stalls at the north gate looted; the Kalembe focal point saw it"


@pytest.fixture
async def partners(
    client: AsyncClient, headers: Headers, make: Make, partner_of: PartnerOf
) -> dict[str, Any]:
    """Two NGOs with a partner account each; the first has a public form of its own, whose
    report (not yet verified) is merged into a public, verified incident of the mission."""
    ngo, other_ngo, created = await two_ngos_and_a_form(client, headers, make)
    theirs = await report(
        client, created, "kalembe_alerts", description=SECRET, source="focal point K"
    )
    kept = await make(
        "incidents",
        geometry=factories.point(WHERE[0] + 0.002, WHERE[1]),
        category="looting",
        occurred_at="2026-12-01T06:00:00Z",
        source="UNPOL Kalembe",
        classification="public",
    )
    merged = await client.post(
        f"/api/incidents/{kept['id']}/merge",
        json={"duplicate_id": theirs},
        headers=headers("analyst"),
    )
    assert merged.status_code == 200, merged.text
    return {
        "own": await partner_of(ngo["id"]),
        "other": await partner_of(other_ngo["id"]),
        "report": theirs,
        "kept": kept["id"],
    }


async def test_a_partners_report_reaches_no_other_partner_through_any_output(
    client: AsyncClient, headers: Headers, partners: dict[str, Any]
) -> None:
    theirs = partners["report"]
    for who, sees in (
        (partners["own"], True),
        (partners["other"], False),
        (headers("partner"), False),
    ):
        listed = await client.get("/api/incidents?limit=1000", headers=who)
        assert (theirs in {f["id"] for f in listed.json()["features"]}) is sees
        z, x, y = tile_of(*WHERE, 12)
        tile = await client.get(
            f"/collections/incidents/tiles/WebMercatorQuad/{z}/{x}/{y}", headers=who
        )
        categories = [f["properties"]["category"] for f in decode(tile.content, "incidents")]
        # The kept incident (public, verified) is a looting too: the report adds a second one.
        assert len(categories) == (2 if sees else 1), categories
        timeline = await client.get(
            "/api/incidents/timeline",
            params={"interval": "day", "bbox": "25.3,5.3,25.34,5.32", "datetime": "2026-12-01"},
            headers=who,
        )
        assert timeline.json()["total"] == (2 if sees else 1)
        exported = await client.get("/api/incidents/export", params={"format": "csv"}, headers=who)
        assert exported.status_code == 200, exported.text
        assert (SECRET in exported.text) is sees
        assert (theirs in exported.text) is sees


async def test_a_merge_shows_no_partner_a_source_they_may_not_see(
    client: AsyncClient, headers: Headers, partners: dict[str, Any]
) -> None:
    url = f"/api/incidents/{partners['kept']}/sources"
    sources = {
        "own": (await client.get(url, headers=partners["own"])).json()["sources"],
        "other": (await client.get(url, headers=partners["other"])).json()["sources"],
        "analyst": (await client.get(url, headers=headers("analyst"))).json()["sources"],
    }
    assert {s["source"] for s in sources["own"]} == {"UNPOL Kalembe", "focal point K"}
    assert {s["source"] for s in sources["other"]} == {"UNPOL Kalembe"}
    assert {s["source"] for s in sources["analyst"]} == {"UNPOL Kalembe", "focal point K"}
    # The kept incident's answer names no duplicate; the other partner cannot open the report.
    kept = await client.get(f"/api/incidents/{partners['kept']}", headers=partners["other"])
    assert partners["report"] not in kept.text
    gone = await client.get(f"/api/incidents/{partners['report']}", headers=partners["other"])
    assert gone.status_code == 404
    # Who reported it is staff information, even to the partner who did.
    own = await client.get(f"/api/incidents/{partners['report']}", headers=partners["own"])
    assert own.json()["properties"]["reporting_actor_id"] is None
    assert own.json()["properties"]["description"] == SECRET
    assert ANSWERS["category"] == own.json()["properties"]["category"]
