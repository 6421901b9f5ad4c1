"""OGC API - Features Parts 1 and 2 to the letter: refused values answer 400, unknown
parameters 400, HEAD and byte ranges, the API definition in the version the conformance
document claims, and features in the mission's projected CRSs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from pyproj import Transformer

from service.layers.groups import GRID
from tests import factories

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"datetime": "yesterday"}, "datetime"),
        ({"category": "not-a-category"}, "category"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"ooga": "booga"}, "ooga"),
        ({"crs": "http://www.opengis.net/def/crs/EPSG/0/2154"}, "crs"),
    ],
)
async def test_refused_values_answer_400_with_what_was_wrong(
    client: AsyncClient, headers: Headers, query: dict[str, str], field: str
) -> None:
    answer = await client.get(
        "/collections/incidents/items", params=query, headers=headers("analyst")
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"][0]["loc"] == ["query", field]
    # The domain API keeps FastAPI's 422 for the same mistakes.
    if field not in ("ooga", "crs", "bbox"):
        domain = await client.get("/api/incidents", params=query, headers=headers("analyst"))
        assert domain.status_code == 422


async def test_a_limit_above_the_maximum_is_served_as_the_maximum(
    client: AsyncClient, headers: Headers
) -> None:
    answer = await client.get(
        "/collections/incidents/items", params={"limit": "100000"}, headers=headers("analyst")
    )
    assert answer.status_code == 200


async def test_ids_that_cannot_exist_and_tiles_outside_the_grid_are_404(
    client: AsyncClient, headers: Headers
) -> None:
    auth = headers("analyst")
    assert (await client.get("/collections/incidents/items/42", headers=auth)).status_code == 404
    for path in ("3/8/0", "3/0/8", "25/0/0"):
        tile = await client.get(
            f"/collections/incidents/tiles/WebMercatorQuad/{path}", headers=auth
        )
        assert tile.status_code == 404, (path, tile.text)


async def test_head_answers_like_get_without_a_body(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    await make("incidents")
    auth = headers("analyst")
    for path in ("/", "/conformance", "/collections", "/collections/incidents/items"):
        got = await client.get(path, headers=auth)
        head = await client.head(path, headers=auth)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"]


async def test_tiles_answer_byte_ranges(client: AsyncClient, headers: Headers, make: Make) -> None:
    await make("incidents", geometry=factories.point(24.5, 4.5))
    auth = headers("analyst")
    path = "/collections/incidents/tiles/WebMercatorQuad/0/0/0"
    whole = await client.get(path, headers=auth)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    assert size > 20
    part = await client.get(path, headers={**auth, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == whole.content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{size}"
    tail = await client.get(path, headers={**auth, "Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == whole.content[-5:]
    beyond = await client.get(path, headers={**auth, "Range": f"bytes={size + 10}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    head = await client.head(path, headers=auth)
    assert head.status_code == 200 and int(head.headers["content-length"]) == size


async def test_the_api_definition_is_the_version_the_conformance_claims(
    client: AsyncClient, headers: Headers
) -> None:
    from openapi_spec_validator import validate

    auth = headers("analyst")
    landing = (await client.get("/", headers=auth)).json()
    classes = (await client.get("/conformance", headers=auth)).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30" in classes
    described = {
        link["type"]: link["href"] for link in landing["links"] if link["rel"] == "service-desc"
    }
    for media_type, href in described.items():
        version = media_type.rsplit("version=", 1)[1]
        document = (await client.get(httpx.URL(href).path)).json()
        assert document["openapi"].startswith(version + "."), (media_type, document["openapi"])
        validate(document)
    definition = (await client.get("/openapi-3.0.json")).json()
    items = definition["paths"]["/collections/incidents/items"]["get"]["parameters"]
    limit = next(p for p in items if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
    assert limit["style"] == "form" and limit["explode"] is False
    bbox = next(p for p in items if p["name"] == "bbox")
    assert bbox["schema"]["type"] == "array" and bbox["schema"]["minItems"] == 4


async def test_features_in_web_mercator_and_the_missions_utm_zone(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    created = await make("bases", geometry=factories.point(25.25, 6.5))
    auth = headers("analyst")
    described = (await client.get("/collections/bases", headers=auth)).json()
    assert {CRS84, EPSG + "3857", EPSG + "32635"} <= set(described["crs"])
    for code in (3857, 32635):
        answer = await client.get(
            f"/collections/bases/items/{created['id']}",
            params={"crs": EPSG + str(code)},
            headers=auth,
        )
        assert answer.status_code == 200
        assert answer.headers["content-crs"] == f"<{EPSG}{code}>"
        x, y = Transformer.from_crs(4326, code, always_xy=True).transform(25.25, 6.5)
        got = answer.json()["geometry"]
        assert "crs" not in got
        assert got["coordinates"] == pytest.approx([x, y], abs=0.01)
    # EPSG:4326 as EPSG defines it: latitude first.
    lat_first = await client.get(
        f"/collections/bases/items/{created['id']}", params={"crs": EPSG + "4326"}, headers=auth
    )
    assert lat_first.json()["geometry"]["coordinates"] == pytest.approx([6.5, 25.25])
    plain = await client.get(f"/collections/bases/items/{created['id']}", headers=auth)
    assert plain.headers["content-crs"] == f"<{CRS84}>"


async def test_a_bbox_in_utm_finds_what_the_same_box_in_degrees_finds(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    inside = await make("bases", geometry=factories.point(25.30, 6.60))
    outside = await make("bases", geometry=factories.point(26.30, 7.60))
    auth = headers("analyst")
    to_utm = Transformer.from_crs(4326, 32635, always_xy=True)
    west, south = to_utm.transform(25.2, 6.5)
    east, north = to_utm.transform(25.4, 6.7)
    answer = await client.get(
        "/collections/bases/items",
        params={"bbox": f"{west},{south},{east},{north}", "bbox-crs": EPSG + "32635"},
        headers=auth,
    )
    assert answer.status_code == 200, answer.text
    ids = {f["id"] for f in answer.json()["features"]}
    assert inside["id"] in ids and outside["id"] not in ids
    in_lat_lon = await client.get(
        "/collections/bases/items",
        params={"bbox": "6.5,25.2,6.7,25.4", "bbox-crs": EPSG + "4326", "crs": EPSG + "32635"},
        headers=auth,
    )
    assert inside["id"] in {f["id"] for f in in_lat_lon.json()["features"]}
    assert in_lat_lon.headers["content-crs"] == f"<{EPSG}32635>"


async def test_tile_fields_are_typed_as_the_tiles_carry_them(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    import mapbox_vector_tile
    import morecantile

    await make(
        "incidents",
        geometry=factories.point(24.5, 4.5),
        severity=4,
        occurred_at="2026-03-02T10:00:00+02:00",
    )
    auth = headers("analyst")
    described = await client.get(
        "/collections/incidents/tiles/WebMercatorQuad/tilejson.json", headers=auth
    )
    fields = described.json()["vector_layers"][0]["fields"]
    assert fields["severity"] == "Number" and fields["category"] == "String"
    tile = morecantile.tms.get("WebMercatorQuad").tile(24.5, 4.5, 10)
    content = await client.get(
        f"/collections/incidents/tiles/WebMercatorQuad/10/{tile.x}/{tile.y}", headers=auth
    )
    decoded = mapbox_vector_tile.decode(content.content)["incidents"]["features"]
    found = next(f for f in decoded if f["properties"]["occurred_at"].startswith("2026-03-02"))
    assert found["properties"]["occurred_at"] == "2026-03-02T08:00:00Z"  # RFC 3339, UTC
    assert isinstance(found["properties"]["severity"], int)


async def test_low_zoom_point_tiles_group_what_falls_on_one_cell(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    """Below zoom 8 points on one cell of the tile grid with the same drawn attributes are one
    feature with their count; a record hidden from the reader is not counted."""
    import mapbox_vector_tile
    import morecantile

    for i in range(3):
        await make(
            "incidents",
            geometry=factories.point(28.61 + i * 0.001, 8.61),
            category="looting",
            severity=2,
        )
    await make(
        "incidents",
        geometry=factories.point(28.612, 8.611),
        category="looting",
        severity=2,
        classification="restricted",
    )
    tms = morecantile.tms.get("WebMercatorQuad")

    async def looting_counts(user: str, z: int) -> list[int]:
        tile = tms.tile(28.61, 8.61, z)
        answer = await client.get(
            f"/collections/incidents/tiles/WebMercatorQuad/{z}/{tile.x}/{tile.y}",
            params={"category": "looting"},
            headers=headers(user),
        )
        assert answer.status_code == 200
        layer = mapbox_vector_tile.decode(answer.content)["incidents"]
        near = []
        for feature in layer["features"]:
            fx, fy = feature["geometry"]["coordinates"]
            lon, lat = tms.lnglat(
                *_tile_xy(tms.xy_bounds(tile), fx / layer["extent"], fy / layer["extent"])
            )
            # A group sits at the centre of its cell: 8 pixels of the tile.
            within = max(0.5, 360 / 2**z / GRID)
            if abs(lon - 28.61) < within and abs(lat - 8.61) < within:
                near.append(feature["properties"].get("count", 1))
        return near

    assert sum(await looting_counts("analyst", 0)) == 3
    assert max(await looting_counts("analyst", 0)) == 3  # one feature
    assert sum(await looting_counts("analyst-cleared", 0)) == 4
    assert await looting_counts("analyst", 14) == [1, 1, 1]  # each point its own feature


def _tile_xy(bounds: Any, fx: float, fy: float) -> tuple[float, float]:
    return (
        bounds.left + (bounds.right - bounds.left) * fx,
        bounds.bottom + (bounds.top - bounds.bottom) * fy,
    )
