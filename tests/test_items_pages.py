"""Pages of items in a box: the same records in the same order whichever index picks them (the
point index for few matches, the time index for many), a bounded numberMatched, and a box that
holds the points on its edges and nothing beyond them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient

from service.core import records as service
from tests import factories

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]
BOX = "27.0,6.0,27.2,6.2"


async def _walk(client: AsyncClient, auth: dict[str, str], **params: Any) -> list[list[str]]:
    """Every page of the box, following the next links; the ids of each page."""
    pages: list[list[str]] = []
    response = await client.get("/collections/incidents/items", params=params, headers=auth)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([feature["id"] for feature in body["features"]])
        links = {link["rel"]: link["href"] for link in body["links"]}
        if "next" not in links:
            return pages
        response = await client.get(links["next"], headers=auth)


async def test_both_indexes_give_the_same_pages(
    client: AsyncClient, headers: Headers, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = []
    for n in range(9):
        made.append(
            await make(
                "incidents",
                geometry=factories.point(27.05 + n * 0.01, 6.1),
                # Two at the same instant: the id decides between them, in both plans.
                occurred_at=f"2026-03-{1 + n // 2 * 2:02d}T10:00:00Z",
                classification="restricted" if n == 4 else "mission",
            )
        )
    await make("incidents", geometry=factories.point(27.5, 6.1))  # outside the box
    for role in ("admin", "analyst"):
        auth = headers(role)
        monkeypatch.setattr(service, "DENSE_PAGE", 1_000)
        by_points = await _walk(client, auth, bbox=BOX, limit=2)
        monkeypatch.setattr(service, "DENSE_PAGE", 0)
        by_time = await _walk(client, auth, bbox=BOX, limit=2)
        assert by_points == by_time
        seen = [record for page in by_points for record in page]
        expected = [
            f["id"]
            for f in made
            if role == "admin" or f["properties"]["classification"] != "restricted"
        ]
        ordered = sorted(
            (f for f in made if f["id"] in expected),
            key=lambda f: (f["properties"]["occurred_at"], f["id"]),
            reverse=True,
        )
        assert seen == [f["id"] for f in ordered]


async def test_number_matched_is_counted_up_to_a_bound(
    client: AsyncClient, headers: Headers, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        await make("incidents", geometry=factories.point(27.1, 6.05 + n * 0.01))
    auth = headers("analyst")
    params = {"bbox": BOX, "limit": 2}
    counted = (await client.get("/collections/incidents/items", params=params, headers=auth)).json()
    assert counted["numberMatched"] == 5 and counted["numberReturned"] == 2
    monkeypatch.setattr(service, "COUNT_BOUND", 4)
    for dense in (1_000, 0):
        monkeypatch.setattr(service, "DENSE_PAGE", dense)
        response = await client.get("/collections/incidents/items", params=params, headers=auth)
        body = response.json()
        assert "numberMatched" not in body and body["numberReturned"] == 2
        assert any(link["rel"] == "next" for link in body["links"])


async def test_a_box_holds_the_points_on_its_edges_and_none_beyond(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    corner = await make("incidents", geometry=factories.point(27.2, 6.2))
    edge = await make("incidents", geometry=factories.point(27.0, 6.1))
    await make("incidents", geometry=factories.point(27.2000001, 6.1))
    await make("incidents", geometry=factories.point(27.1, 5.9999999))
    found = await client.get(
        "/collections/incidents/items", params={"bbox": BOX}, headers=headers("analyst")
    )
    assert {f["id"] for f in found.json()["features"]} == {corner["id"], edge["id"]}
