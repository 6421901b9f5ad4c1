"""List filters and keyset pagination, as an analyst uses them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from httpx import AsyncClient

from tests import factories

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]


async def ids(client: AsyncClient, headers: Headers, collection: str, **params: Any) -> set[str]:
    response = await client.get(
        f"/api/{collection}", params={"limit": 1000, **params}, headers=headers("admin")
    )
    assert response.status_code == 200, response.text
    return {f["id"] for f in response.json()["features"]}


async def test_bbox_datetime_category_sector_and_text(
    client: AsyncClient, headers: Headers, make: Make, world: factories.World
) -> None:
    near = await make(
        "incidents",
        geometry=factories.point(24.50, 4.50),
        category="abduction",
        occurred_at="2026-03-10T08:00:00Z",
        description="Two aid workers taken at the Tanzo checkpoint",
    )
    far = await make(
        "incidents",
        geometry=factories.point(28.0, 8.0),
        category="looting",
        occurred_at="2026-05-01T12:00:00Z",
    )
    found = await ids(client, headers, "incidents", bbox="24.4,4.4,24.6,4.6")
    assert near["id"] in found and far["id"] not in found

    march = await ids(
        client, headers, "incidents", datetime="2026-03-01T00:00:00Z/2026-03-31T23:59:59Z"
    )
    assert near["id"] in march and far["id"] not in march
    open_start = await ids(client, headers, "incidents", datetime="../2026-04-01T00:00:00Z")
    assert near["id"] in open_start and far["id"] not in open_start
    open_end = await ids(client, headers, "incidents", datetime="2026-04-01/..")
    assert far["id"] in open_end and near["id"] not in open_end

    both = await ids(client, headers, "incidents", category="abduction,looting")
    assert {near["id"], far["id"]} <= both
    assert far["id"] not in await ids(client, headers, "incidents", category="abduction")

    north = await ids(client, headers, "incidents", sector=str(world.sectors["North"]))
    assert far["id"] in north and near["id"] not in north

    assert await ids(client, headers, "incidents", q="tanzo") == {near["id"]}
    assert await ids(client, headers, "incidents", q="100%_sure") == set()


async def test_patrols_overlap_the_interval(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    long_patrol = await make(
        "patrols", start_at="2026-06-01T06:00:00Z", end_at="2026-06-03T18:00:00Z"
    )
    inside = await ids(
        client, headers, "patrols", datetime="2026-06-02T00:00:00Z/2026-06-02T12:00:00Z"
    )
    assert long_patrol["id"] in inside
    after = await ids(client, headers, "patrols", datetime="2026-06-04T00:00:00Z/..")
    assert long_patrol["id"] not in after


async def test_keyset_pages_cover_everything_once(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    created = set()
    for day in range(1, 13):
        # Two incidents at the same instant: the id breaks the tie.
        for _ in range(2):
            record = await make(
                "incidents", occurred_at=f"2026-01-{day:02d}T10:00:00Z", category="displacement"
            )
            created.add(record["id"])
    pages: list[list[str]] = []
    url: str | None = "/api/incidents?category=displacement&limit=5"
    last: dict[str, Any] = {}
    while url:
        response = await client.get(url, headers=headers("admin"))
        last = response.json()
        assert last["numberReturned"] == len(last["features"]) <= 5
        times = [f["properties"]["occurred_at"] for f in last["features"]]
        assert times == sorted(times, reverse=True)
        pages.append([f["id"] for f in last["features"]])
        url = link(last, "next")
    seen = [record for page in pages for record in page]
    assert len(seen) == len(set(seen)) == 24
    assert set(seen) == created
    assert len(pages) == 5
    first = await first_page(client, headers)
    assert link(first, "prev") is None
    assert first["numberMatched"] == 24
    whole = (
        await client.get("/api/incidents?category=displacement&limit=100", headers=headers("admin"))
    ).json()
    assert whole["numberMatched"] == whole["numberReturned"] == 24
    assert link(whole, "next") is None

    # Walking back with the prev links gives the same pages in reverse order.
    back: list[list[str]] = [pages[-1]]
    url = link(last, "prev")
    while url:
        body = (await client.get(url, headers=headers("admin"))).json()
        back.append([f["id"] for f in body["features"]])
        url = link(body, "prev")
    assert back == list(reversed(pages))


def link(body: dict[str, Any], rel: str) -> str | None:
    return next((item["href"] for item in body["links"] if item["rel"] == rel), None)


async def first_page(client: AsyncClient, headers: Headers) -> dict[str, Any]:
    response = await client.get(
        "/api/incidents?category=displacement&limit=5", headers=headers("admin")
    )
    return response.json()  # type: ignore[no-any-return]


async def test_bad_filters_name_the_parameter(client: AsyncClient, headers: Headers) -> None:
    cases = {
        "bbox=1,2,3": "bbox",
        "bbox=30,5,20,6": "bbox",
        "bbox=0,0,200,10": "bbox",
        "datetime=yesterday": "datetime",
        "datetime=2026-05-01/2026-04-01": "datetime",
        "category=alien_invasion": "category",
        "severity=high": "severity",
        "cursor=not-a-cursor": "cursor",
        "limit=0": "limit",
    }
    for query, parameter in cases.items():
        response = await client.get(f"/api/incidents?{query}", headers=headers("admin"))
        assert response.status_code == 422, query
        detail = response.json()["detail"]
        assert any(parameter in item["loc"] for item in detail), (query, detail)
    unknown = await client.get("/api/incidents?category=alien_invasion", headers=headers("admin"))
    assert "armed_clash" in unknown.json()["detail"][0]["msg"]


async def test_page_size_is_capped(client: AsyncClient, headers: Headers) -> None:
    response = await client.get("/api/sectors?limit=100000", headers=headers("admin"))
    assert response.status_code == 200
