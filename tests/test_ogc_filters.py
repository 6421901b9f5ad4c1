"""OGC API - Features Part 3 (CQL2 filters) and Part 5 (schemas, queryables, sortables,
sortby), the collections of one geometry type, and the access rules under all of them: a
filter or a sort order cannot reveal a hidden record, a masked value or a precise place."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient

from tests import factories
from tests.test_access_leaks import (
    COARSE,
    HIDDEN,
    MARKED,
    USERS,
    expected,
    plant,
)

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]


async def items(
    client: AsyncClient, auth: dict[str, str], collection: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        f"/collections/{collection}/items", params={"limit": 1000, **params}, headers=auth
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> set[str]:
    return {f["id"] for f in body["features"]}


async def test_cql2_text_and_json_select_the_same_features(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    auth = headers("analyst")
    grave = await make(
        "incidents",
        geometry=factories.point(24.31, 4.41),
        severity=5,
        category="abduction",
        occurred_at="2026-03-02T10:00:00Z",
    )
    minor = await make(
        "incidents",
        geometry=factories.point(24.32, 4.42),
        severity=1,
        category="abduction",
        occurred_at="2026-03-03T10:00:00Z",
    )
    elsewhere = await make(
        "incidents",
        geometry=factories.point(27.5, 8.5),
        severity=5,
        category="abduction",
        occurred_at="2026-03-04T10:00:00Z",
    )
    text = (
        "severity >= 4 AND category IN ('abduction','looting') "
        "AND S_INTERSECTS(geom, POLYGON((24.3 4.4, 24.4 4.4, 24.4 4.5, 24.3 4.5, 24.3 4.4))) "
        "AND T_DURING(occurred_at, INTERVAL('2026-03-01T00:00:00Z','2026-03-31T00:00:00Z'))"
    )
    by_text = await items(client, auth, "incidents", filter=text)
    assert grave["id"] in ids(by_text)
    assert minor["id"] not in ids(by_text) and elsewhere["id"] not in ids(by_text)
    as_json = {
        "op": "and",
        "args": [
            {"op": ">=", "args": [{"property": "severity"}, 4]},
            {
                "op": "s_intersects",
                "args": [{"property": "geom"}, {"bbox": [24.3, 4.4, 24.4, 4.5]}],
            },
            {
                "op": "t_after",
                "args": [{"property": "occurred_at"}, {"timestamp": "2026-03-01T00:00:00Z"}],
            },
        ],
    }
    by_json = await items(
        client, auth, "incidents", filter=json.dumps(as_json), **{"filter-lang": "cql2-json"}
    )
    assert ids(by_json) == ids(by_text)
    assert by_text["numberMatched"] == len(by_text["features"])


async def test_a_filter_geometry_in_utm(client: AsyncClient, headers: Headers, make: Make) -> None:
    from pyproj import Transformer

    created = await make("bases", geometry=factories.point(25.25, 6.5))
    to_utm = Transformer.from_crs(4326, 32635, always_xy=True)
    x0, y0 = to_utm.transform(25.2, 6.45)
    x1, y1 = to_utm.transform(25.3, 6.55)
    found = await items(
        client,
        headers("analyst"),
        "bases",
        filter=f"S_WITHIN(geom, BBOX({x0},{y0},{x1},{y1}))",
        **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/32635"},
    )
    assert created["id"] in ids(found)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("nothing_here = 1", "unknown property"),
        ("severity = 'high'", "severity"),
        ("severity >>> 3", "not valid cql2-text"),
        ("occurred_at = 'yesterday'", "occurred_at"),
        ("S_INTERSECTS(severity, POINT(1 2))", "geometry"),
    ],
)
async def test_a_bad_filter_answers_400_saying_what_is_wrong(
    client: AsyncClient, headers: Headers, text: str, says: str
) -> None:
    answer = await client.get(
        "/collections/incidents/items", params={"filter": text}, headers=headers("analyst")
    )
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["detail"][0]["msg"]
    lang = await client.get(
        "/collections/incidents/items",
        params={"filter": "severity = 1", "filter-lang": "sql"},
        headers=headers("analyst"),
    )
    assert lang.status_code == 400


async def test_sortby_orders_and_pages_through_everything(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    auth = headers("analyst")
    marker = "SORT-7c1"
    for severity in (2, 5, 3, 1, 4):
        await make("incidents", severity=severity, description=f"{marker} {severity}")
    where = f"description LIKE '{marker}%'"
    first = await items(client, auth, "incidents", filter=where, sortby="-severity", limit=2)
    assert [f["properties"]["severity"] for f in first["features"]] == [5, 4]
    assert first["numberMatched"] == 5
    seen = [f["properties"]["severity"] for f in first["features"]]
    link = next(link for link in first["links"] if link["rel"] == "next")
    while link:
        page = (await client.get(link["href"], headers=auth)).json()
        seen += [f["properties"]["severity"] for f in page["features"]]
        link = next((x for x in page["links"] if x["rel"] == "next"), None)
    assert seen == [5, 4, 3, 2, 1]
    wrong = await client.get(
        "/collections/incidents/items", params={"sortby": "geom"}, headers=auth
    )
    assert wrong.status_code == 400 and "sortables" in wrong.json()["detail"][0]["msg"]


async def test_schema_queryables_and_sortables_type_every_field(
    client: AsyncClient, headers: Headers
) -> None:
    auth = headers("analyst")
    schema = (await client.get("/collections/idp_sites/schema", headers=auth)).json()
    fields = schema["properties"]
    assert fields["population_individuals"]["type"] == "integer"
    assert fields["population_date"] == {**fields["population_date"], "format": "date"}
    assert fields["id"]["x-ogc-role"] == "id"
    assert fields["geom"]["x-ogc-role"] == "primary-geometry"
    assert "enum" in fields["status"]
    queryables = (await client.get("/collections/incidents/queryables", headers=auth)).json()
    assert queryables["properties"]["severity"]["type"] == "integer"
    assert queryables["properties"]["geom"]["format"] == "geometry-point"
    assert queryables["additionalProperties"] is False
    sortables = (await client.get("/collections/incidents/sortables", headers=auth)).json()
    assert {"severity", "occurred_at"} <= set(sortables["properties"])
    assert "geom" not in sortables["properties"]
    points = (await client.get("/collections/idp_sites_points/schema", headers=auth)).json()
    assert points["properties"]["geom"]["format"] == "geometry-point"
    described = (await client.get("/collections/idp_sites", headers=auth)).json()
    rels = {link["rel"] for link in described["links"]}
    assert "http://www.opengis.net/def/rel/ogc/1.0/queryables" in rels


async def test_points_and_areas_are_collections_of_one_geometry_type(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    auth = headers("analyst")
    camp = await make("idp_sites", geometry=factories.square(24.1, 4.1, 24.12, 4.12))
    village = await make("idp_sites", geometry=factories.point(24.2, 4.2))
    listed = (await client.get("/collections", headers=auth)).json()["collections"]
    assert {"idp_sites_points", "idp_sites_areas"} <= {c["id"] for c in listed}
    points = await items(client, auth, "idp_sites_points")
    areas = await items(client, auth, "idp_sites_areas")
    assert {f["geometry"]["type"] for f in points["features"]} == {"Point"}
    assert {f["geometry"]["type"] for f in areas["features"]} <= {"Polygon", "MultiPolygon"}
    assert village["id"] in ids(points) and camp["id"] in ids(areas)
    assert camp["id"] not in ids(points) and village["id"] not in ids(areas)
    one = await client.get(f"/collections/idp_sites_areas/items/{camp['id']}", headers=auth)
    assert one.status_code == 200 and one.json()["geometry"]["type"] == "Polygon"
    other = await client.get(f"/collections/idp_sites_areas/items/{village['id']}", headers=auth)
    assert other.status_code == 404


@pytest.mark.parametrize("user", USERS)
async def test_filters_and_sorting_reveal_nothing_hidden(
    client: AsyncClient, headers: Headers, user: str
) -> None:
    """For each planted record the user may not see, or sees generalised: filters on its exact
    place and on its masked values find nothing of it, and sorting on those values puts it
    with the records that have none."""
    planted = await plant(client, headers)
    auth = headers(user)
    for record in planted:
        seen_as = expected(user, record.collection, record.classification)
        if seen_as not in (HIDDEN, COARSE):
            continue
        x, y = float(record.coordinates[0]), float(record.coordinates[1])
        exact = [
            f"S_INTERSECTS(geom, BBOX({x - 0.0001},{y - 0.0001},{x + 0.0001},{y + 0.0001}))",
            f"S_INTERSECTS(geom, POINT({x} {y}))",
            f"S_DWITHIN(geom, POINT({x} {y}), 10, meters)",
        ]
        masked = [f"{field} = '{record.marker}-{field}'" for field in MARKED[record.collection]] + [
            f"{field} LIKE '{record.marker}%'" for field in MARKED[record.collection]
        ]
        masked.append(f"external_id = 'CAR-{record.marker}'")
        for text in exact + masked:
            answer = await client.get(
                f"/collections/{record.collection}/items",
                params={"filter": text, "limit": 1000},
                headers=auth,
            )
            if answer.status_code == 400:  # an operator not offered: nothing answered
                continue
            assert answer.status_code == 200, (text, answer.text)
            assert record.id not in ids(answer.json()), (user, record.collection, text)
            assert record.marker not in json.dumps(answer.json()["features"]), (user, text)
        for field in MARKED[record.collection]:
            ordered = await items(client, auth, record.collection, sortby=field, bbox="23,3,29,9")
            values = [f["properties"].get(field) for f in ordered["features"]]
            if record.id in ids(ordered):
                assert seen_as == COARSE
                position = [f["id"] for f in ordered["features"]].index(record.id)
                # Among the records without the value, not placed by the value it hides.
                assert values[position] is None
                assert all(v is None for v in values[position:]), (user, field)
            else:
                assert seen_as == HIDDEN
