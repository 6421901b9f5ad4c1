"""OGC API - Features and vector tiles, as GIS tools and the map use them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import mapbox_vector_tile
import morecantile
import pytest
from httpx import AsyncClient

from tests import factories

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]
TMS = morecantile.tms.get("WebMercatorQuad")


def tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int, int]:
    tile = TMS.tile(lon, lat, zoom)
    return tile.z, tile.x, tile.y


def decode(content: bytes, layer: str) -> list[dict[str, Any]]:
    if not content:
        return []
    decoded = mapbox_vector_tile.decode(content)
    return decoded[layer]["features"] if layer in decoded else []  # type: ignore[no-any-return]


async def test_landing_conformance_and_collections(client: AsyncClient, headers: Headers) -> None:
    auth = headers("analyst")
    landing = await client.get("/", headers=auth)
    assert landing.status_code == 200 and landing.headers["content-type"] == "application/json"
    rels = {link["rel"] for link in landing.json()["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels

    classes = (await client.get("/conformance", headers=auth)).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in classes

    listed = (await client.get("/collections", headers=auth)).json()["collections"]
    whole = set(factories.DEFAULTS) | {"assistance_requests"}
    # Collections of points and of areas: one geometry type each, for shapefiles and QGIS.
    mixed = {"actors", "idp_sites", "projects", "assistance_requests"}
    one_type = {f"{name}_{kind}" for name in mixed for kind in ("points", "areas")}
    assert {c["id"] for c in listed} == whole | one_type
    sectors = next(c for c in listed if c["id"] == "sectors")
    assert sectors["extent"]["spatial"]["bbox"] == [[23.0, 3.0, 29.0, 9.0]]
    items = next(link for link in sectors["links"] if link["rel"] == "items")
    assert items["type"] == "application/geo+json" and items["href"].endswith(
        "/collections/sectors/items"
    )
    assert (await client.get("/collections/nothing", headers=auth)).status_code == 404


async def test_collection_extent_covers_only_what_the_user_sees(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    await make(
        "incidents",
        geometry=factories.point(24.0, 4.0),
        occurred_at="2025-01-01T00:00:00Z",
        classification="public",
    )
    await make(
        "incidents",
        geometry=factories.point(28.5, 8.5),
        occurred_at="2026-06-01T00:00:00Z",
        classification="restricted",
    )
    admin = (await client.get("/collections/incidents", headers=headers("admin"))).json()
    partner = (await client.get("/collections/incidents", headers=headers("partner"))).json()
    assert admin["extent"]["spatial"]["bbox"][0][2] >= 28.5
    assert partner["extent"]["spatial"]["bbox"][0][2] < 28.5
    assert partner["extent"]["temporal"]["interval"][0][1].startswith("2025-01-01")


async def test_items_filter_page_and_link_back(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    for day in range(1, 8):
        await make(
            "incidents",
            occurred_at=f"2026-02-{day:02d}T10:00:00Z",
            category="looting",
            geometry=factories.point(26.5, 4.5),
        )
    auth = headers("analyst")
    first = await client.get(
        "/collections/incidents/items",
        params={
            "limit": 3,
            "category": "looting",
            "bbox": "26.4,4.4,26.6,4.6",
            "datetime": "2026-02-01/2026-02-28",
        },
        headers=auth,
    )
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/geo+json"
    body = first.json()
    assert body["type"] == "FeatureCollection" and body["numberReturned"] == 3
    assert body["numberMatched"] == 7
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert "collection" in rels and "next" in rels and "prev" not in rels
    second = (await client.get(rels["next"], headers=auth)).json()
    back = {link["rel"]: link["href"] for link in second["links"]}["prev"]
    assert [f["id"] for f in (await client.get(back, headers=auth)).json()["features"]] == [
        f["id"] for f in body["features"]
    ]
    one = body["features"][0]
    item = await client.get(f"/collections/incidents/items/{one['id']}", headers=auth)
    assert item.status_code == 200 and item.headers["content-type"] == "application/geo+json"
    assert item.json()["geometry"] == one["geometry"]
    assert {link["rel"] for link in item.json()["links"]} == {"self", "collection"}


async def test_transactions_part_4(client: AsyncClient, headers: Headers) -> None:
    feature = factories.feature(
        "idp_sites", name="Tanzo collective centre", site_type="collective_centre"
    )
    body = {"content": None}
    created = await client.post(
        "/collections/idp_sites/items",
        content=__import__("json").dumps(feature),
        headers={**headers("officer"), "Content-Type": "application/geo+json"},
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert "/collections/idp_sites/items/" in location
    record_id = created.json()["id"]
    replaced = await client.put(
        f"/collections/idp_sites/items/{record_id}",
        json=factories.feature("idp_sites", name="Tanzo centre", site_type="collective_centre"),
        headers=headers("officer"),
    )
    assert replaced.status_code == 200 and replaced.json()["properties"]["name"] == "Tanzo centre"
    patched = await client.patch(
        f"/collections/idp_sites/items/{record_id}",
        json={"properties": {"status": "closed"}},
        headers=headers("officer"),
    )
    assert patched.json()["properties"]["status"] == "closed"
    invalid = await client.post(
        "/collections/idp_sites/items",
        json=factories.feature("idp_sites", geometry=factories.point(5.1, 25.1)),
        headers=headers("officer"),
    )
    assert invalid.status_code == 422
    refused = await client.post(
        "/collections/idp_sites/items", json=feature, headers=headers("partner")
    )
    assert refused.status_code == 403
    assert (
        await client.delete(f"/collections/idp_sites/items/{record_id}", headers=headers("officer"))
    ).status_code == 204
    history = (
        await client.get("/api/audit", params={"record": record_id}, headers=headers("admin"))
    ).json()
    assert [e["action"] for e in reversed(history)] == ["create", "update", "update", "delete"]
    assert body


async def test_vector_tile_carries_the_features_under_it(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    incident = await make(
        "incidents", geometry=factories.point(25.7, 6.3), category="abduction", severity=4
    )
    z, x, y = tile_of(25.7, 6.3, 12)
    response = await client.get(
        f"/collections/incidents/tiles/WebMercatorQuad/{z}/{x}/{y}", headers=headers("analyst")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    features = decode(response.content, "incidents")
    mine = [f for f in features if f["properties"]["id"] == incident["id"]]
    assert len(mine) == 1
    assert (
        mine[0]["properties"]["category"] == "abduction" and mine[0]["properties"]["severity"] == 4
    )
    assert mine[0]["geometry"]["type"] == "Point"
    filtered = await client.get(
        f"/collections/incidents/tiles/WebMercatorQuad/{z}/{x}/{y}",
        params={"category": "looting"},
        headers=headers("analyst"),
    )
    assert incident["id"] not in [
        f["properties"]["id"] for f in decode(filtered.content, "incidents")
    ]
    elsewhere = await client.get(
        "/collections/incidents/tiles/WebMercatorQuad/12/0/0", headers=headers("analyst")
    )
    assert elsewhere.status_code == 200 and decode(elsewhere.content, "incidents") == []


async def test_tile_cache_follows_the_data(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    z, x, y = tile_of(27.7, 3.7, 10)
    url = f"/collections/incidents/tiles/WebMercatorQuad/{z}/{x}/{y}"
    auth = headers("analyst")
    first = await client.get(url, headers=auth)
    etag = first.headers["etag"]
    again = await client.get(url, headers={**auth, "If-None-Match": etag})
    assert again.status_code == 304
    incident = await make("incidents", geometry=factories.point(27.7, 3.7))
    after = await client.get(url, headers={**auth, "If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert incident["id"] in [f["properties"]["id"] for f in decode(after.content, "incidents")]


async def test_tiles_have_a_feature_limit(
    client: AsyncClient, headers: Headers, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        await make("incidents", geometry=factories.point(23.2 + i * 0.01, 8.8))
    from service.config import get_settings

    limited = get_settings().model_copy(update={"tile_max_features": 2})
    monkeypatch.setattr("service.layers.tiles.get_settings", lambda: limited)
    z, x, y = tile_of(23.2, 8.8, 8)
    response = await client.get(
        f"/collections/incidents/tiles/WebMercatorQuad/{z}/{x}/{y}",
        params={"datetime": "2026-01-01/.."},
        headers=headers("admin"),
    )
    assert len(decode(response.content, "incidents")) == 2


async def test_lines_are_simplified_by_zoom(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    wiggly = [[25.0 + i * 0.001, 5.5 + (0.0002 if i % 2 else 0.0)] for i in range(200)]
    patrol = await make("patrols", geometry={"type": "LineString", "coordinates": wiggly})

    async def vertices(zoom: int) -> int:
        z, x, y = tile_of(25.1, 5.5, zoom)
        response = await client.get(
            f"/collections/patrols/tiles/WebMercatorQuad/{z}/{x}/{y}", headers=headers("admin")
        )
        found = [
            f for f in decode(response.content, "patrols") if f["properties"]["id"] == patrol["id"]
        ]
        coords = found[0]["geometry"]["coordinates"]
        return len(coords[0]) if isinstance(coords[0][0], list) else len(coords)

    assert await vertices(8) < 10 < await vertices(14)


async def test_tilejson_describes_the_layer(client: AsyncClient, headers: Headers) -> None:
    response = await client.get(
        "/collections/incidents/tiles/WebMercatorQuad/tilejson.json",
        params={"category": "abduction"},
        headers=headers("analyst"),
    )
    body = response.json()
    assert body["tilejson"] == "3.0.0"
    assert body["tiles"][0].endswith(
        "/collections/incidents/tiles/WebMercatorQuad/{z}/{x}/{y}?category=abduction"
    )
    assert body["vector_layers"][0]["id"] == "incidents"
    assert "severity" in body["vector_layers"][0]["fields"]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/collections",
        "/collections/incidents/items",
        "/collections/incidents/tiles/WebMercatorQuad/0/0/0",
    ],
)
async def test_layers_need_credentials(client: AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401


def test_tile_cache_bounds_its_memory_and_can_be_off() -> None:
    from service.layers.tiles import Tile, TileCache

    off = TileCache(0)
    off.put("a", Tile(b"x" * 100, '"a"'))
    assert off.get("a") is None
    small = TileCache(8000)
    for i in range(20):
        small.put(str(i), Tile(b"x" * 900, f'"{i}"'))
    held = sum(len(t.content) for t in small.tiles.values())
    assert 0 < held <= 8000
    assert small.get("19") is not None and small.get("0") is None


async def test_layer_versions_move_with_the_data(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    before = (await client.get("/layers/versions", headers=headers("partner"))).json()
    assert set(before) == set(factories.DEFAULTS) | {"assistance_requests"}
    await make("incidents", classification="public")
    after = (await client.get("/layers/versions", headers=headers("partner"))).json()
    assert after["incidents"] > before["incidents"]
    assert after["sectors"] == before["sectors"]
