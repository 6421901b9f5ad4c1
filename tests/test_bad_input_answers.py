"""Input the database cannot hold is refused with a 4xx that names the field, never a 500:
numbers beyond their column, malformed cursors, lone surrogates, instants outside the years
the service keeps; refused input is echoed only as a short prefix; and every error answer, a
500 included, carries the security headers."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from service.main import create_app
from tests import factories

Headers = Callable[[str], dict[str, str]]

SECURITY_HEADERS = ("X-Content-Type-Options", "Content-Security-Policy", "X-Frame-Options")


def refused(response: Response, *loc: str | int) -> dict[str, Any]:
    """A 4xx JSON answer with the security headers whose ``detail`` names ``loc``."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json")
    for name in SECURITY_HEADERS:
        assert name in response.headers, name
    detail = response.json()["detail"]
    for item in detail:
        if list(item["loc"][-len(loc) :]) == list(loc):
            return dict(item)
    raise AssertionError(f"no error at {loc}: {detail}")


def invalid_status(path: str) -> int:
    """OGC API answers refused query values with 400; the rest of the API with 422."""
    return 400 if path.startswith("/collections") else 422


def raw_json(body: Any) -> dict[str, Any]:
    """``content`` and ``headers`` for a body sent as JSON with its escapes as written
    (a lone surrogate is sent as ``\\ud800``, as JSON allows)."""
    return {
        "content": json.dumps(body).encode("ascii"),
        "headers": {"Content-Type": "application/json"},
    }


def cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


LISTS = ["/api/incidents", "/collections/incidents/items", "/api/incidents/export"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("value", ["32768", "2147483648", "1e23", "6", "-1"])
async def test_a_number_filter_beyond_its_column_is_refused(
    client: AsyncClient, headers: Headers, path: str, value: str
) -> None:
    answer = await client.get(path, params={"severity": value}, headers=headers("analyst"))
    item = refused(answer, "query", "severity")
    assert "severity" in item["msg"]


async def test_every_number_filter_of_every_collection_is_bounded(
    client: AsyncClient, headers: Headers
) -> None:
    from service.collections.registry import COLLECTIONS

    tried = 0
    for collection in COLLECTIONS.values():
        for name in collection.filters:
            for value in ("32768", "2147483648", "9223372036854775808", "1e23", "-32769"):
                answer = await client.get(
                    f"/api/{collection.name}", params={name: value}, headers=headers("admin")
                )
                refused(answer, "query", name)
                tried += 1
    assert tried >= 40


MALFORMED_CURSORS = [
    cursor(["not-a-date", "00000000-0000-0000-0000-000000000000", False]),
    cursor(["2026-01-01 00:00:00+00", 5, False]),
    cursor(["2026-01-01 00:00:00+00", "not-a-uuid", False]),
    cursor({"order": "2026-01-01"}),
    cursor(["2026-01-01 00:00:00+00"]),
    cursor(["\u0000", "00000000-0000-0000-0000-000000000000", False]),
    cursor(["99999-01-01 00:00:00+00", "00000000-0000-0000-0000-000000000000", False]),
    base64.urlsafe_b64encode(b"\xff\xfe not json").decode(),
    "%%%not-base64",
]


@pytest.mark.parametrize("path", ["/api/incidents", "/collections/incidents/items"])
@pytest.mark.parametrize("value", MALFORMED_CURSORS)
async def test_a_malformed_cursor_is_refused(
    client: AsyncClient, headers: Headers, path: str, value: str
) -> None:
    answer = await client.get(path, params={"cursor": value}, headers=headers("analyst"))
    item = refused(answer, "query", "cursor")
    assert answer.status_code == invalid_status(path)
    assert "first page" in item["msg"]


async def test_a_cursor_this_service_issued_still_pages(
    client: AsyncClient, headers: Headers, make: Callable[..., Any]
) -> None:
    for hour in range(3):
        await make("incidents", occurred_at=f"2026-10-01T0{hour}:00:00.123456+02:00")
    first = await client.get("/api/incidents?limit=2", headers=headers("admin"))
    following = [link["href"] for link in first.json()["links"] if link["rel"] == "next"]
    second = await client.get(following[0], headers=headers("admin"))
    assert second.status_code == 200, second.text
    assert second.json()["numberReturned"] == 1


@pytest.mark.parametrize(
    ("collection", "properties", "field"),
    [
        ("incidents", {"killed": 2**31}, "killed"),
        ("incidents", {"injured": 2**63}, "injured"),
        ("incidents", {"source_credibility": 32768}, "source_credibility"),
        ("idp_sites", {"population_individuals": 2**63}, "population_individuals"),
        ("idp_sites", {"population_households": 1e20}, "population_households"),
        ("incidents", {"occurred_at": "9999-12-31T23:59:59-14:00"}, "occurred_at"),
        ("incidents", {"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at"),
        ("incidents", {"reported_at": "1066-10-14T09:00:00Z"}, "reported_at"),
        ("projects", {"start_date": "0001-01-01"}, "start_date"),
        ("patrols", {"start_at": "9999-12-31T23:59:59-14:00"}, "start_at"),
    ],
)
async def test_a_value_beyond_what_its_column_holds_is_refused(
    client: AsyncClient,
    headers: Headers,
    collection: str,
    properties: dict[str, Any],
    field: str,
) -> None:
    feature = factories.feature(collection, **properties)
    answer = await client.post(
        f"/api/{collection}",
        content=json.dumps(feature).encode(),
        headers={**headers("officer"), "Content-Type": "application/json"},
    )
    refused(answer, "body", "properties", field)
    assert answer.status_code == 422


@pytest.mark.parametrize(
    ("collection", "properties", "loc"),
    [
        ("incidents", {"description": "a\ud800b"}, ("properties", "description")),
        ("incidents", {"source": "\udfff"}, ("properties", "source")),
        ("idp_sites", {"name": "camp \udc00"}, ("properties", "name")),
        ("actors", {"name": "x", "acronym": "\ud83d"}, ("properties", "acronym")),
        ("incidents", {"\ud800": 1}, ("properties", "\\ud800")),
    ],
)
async def test_a_lone_surrogate_in_any_text_is_refused(
    client: AsyncClient,
    headers: Headers,
    collection: str,
    properties: dict[str, Any],
    loc: tuple[str, ...],
) -> None:
    feature = factories.feature(collection, **properties)
    answer = await client.post(
        f"/api/{collection}",
        content=json.dumps(feature).encode(),
        headers={**headers("officer"), "Content-Type": "application/json"},
    )
    item = refused(answer, "body", *loc)
    assert answer.status_code == 422
    assert "surrogate" in item["msg"]


async def test_a_surrogate_pair_is_text_like_any_other(
    client: AsyncClient, headers: Headers
) -> None:
    feature = factories.feature("incidents", description="a \U0001f600 face")
    answer = await client.post(
        "/api/incidents",
        content=json.dumps(feature).encode(),
        headers={**headers("officer"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["properties"]["description"] == "a \U0001f600 face"


@pytest.mark.parametrize(
    ("figure", "field"),
    [
        ({"observed_on": "2026-01-01", "individuals": 1e20}, "individuals"),
        ({"observed_on": "2026-01-01", "individuals": 10**20}, "individuals"),
        ({"observed_on": "2026-01-01", "individuals": 2**31}, "individuals"),
        ({"observed_on": "2026-01-01", "individuals": 5, "households": 2**40}, "households"),
        ({"observed_on": "2026-01-01", "individuals": 5, "source": "\ud800"}, "source"),
    ],
)
async def test_a_population_figure_beyond_its_column_is_refused(
    client: AsyncClient,
    headers: Headers,
    make: Callable[..., Any],
    figure: dict[str, Any],
    field: str,
) -> None:
    site = await make("idp_sites")
    answer = await client.post(
        f"/api/idp_sites/{site['id']}/population",
        content=json.dumps(figure).encode(),
        headers={**headers("officer"), "Content-Type": "application/json"},
    )
    refused(answer, "body", field)
    assert answer.status_code == 422


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00/..", "0001-01-01"]
)
async def test_a_datetime_filter_outside_the_years_kept_is_refused(
    client: AsyncClient, headers: Headers, value: str
) -> None:
    answer = await client.get(
        "/api/incidents", params={"datetime": value}, headers=headers("analyst")
    )
    refused(answer, "query", "datetime")


@pytest.mark.parametrize(
    ("name", "value"),
    [("since", "9999-12-31T23:59:59-14:00"), ("before", str(2**63)), ("min_severity", "32768")],
)
async def test_an_alert_filter_beyond_what_it_can_hold_is_refused(
    client: AsyncClient, headers: Headers, name: str, value: str
) -> None:
    answer = await client.get("/api/alerts", params={name: value}, headers=headers("officer"))
    refused(answer, "query", name)


async def test_a_long_refused_string_is_echoed_only_as_a_short_prefix(
    client: AsyncClient, headers: Headers
) -> None:
    long_text = "x" * (10 * 1024 * 1024)
    feature = factories.feature("incidents", description=long_text)
    answer = await client.post("/api/incidents", json=feature, headers=headers("officer"))
    item = refused(answer, "body", "properties", "description")
    assert len(answer.content) < 2000
    assert item["input"].startswith("xxxx")
    assert len(item["input"]) <= 101
    assert item["input_truncated"] is True


async def test_a_long_refused_filter_is_echoed_only_as_a_short_prefix(
    client: AsyncClient, headers: Headers
) -> None:
    answer = await client.get(
        "/api/incidents", params={"category": "y" * 999}, headers=headers("analyst")
    )
    item = refused(answer, "query", "category")
    assert "y" * 101 not in item["msg"]
    assert "armed_clash" in item["msg"]  # what to send instead is still said


async def test_a_long_refused_tag_is_quoted_only_as_a_short_prefix(
    client: AsyncClient, headers: Headers
) -> None:
    """A geometry type of 200,000 characters came back twice, in the message and its context
    (a 400 kB answer)."""
    feature = factories.feature("incidents")
    feature["geometry"] = {"type": "A" * 200_000, "coordinates": [25.0, 5.0]}
    answer = await client.post("/api/incidents", json=feature, headers=headers("officer"))
    assert answer.status_code == 422, answer.text
    assert len(answer.content) < 5_000
    assert "A" * 601 not in answer.text


async def test_a_request_with_thousands_of_problems_lists_the_first_ones_and_counts_the_rest(
    client: AsyncClient, headers: Headers
) -> None:
    """20,000 unknown properties gave a 2.3 MB answer, one problem per property."""
    feature = factories.feature("incidents")
    feature["properties"].update({f"extra_{i}": i for i in range(20_000)})
    answer = await client.post("/api/incidents", json=feature, headers=headers("officer"))
    assert answer.status_code == 422, answer.text
    assert len(answer.content) < 20_000
    detail = answer.json()["detail"]
    assert len(detail) == 51
    assert detail[-1]["type"] == "too_many_errors"
    assert "19950 more problems" in detail[-1]["msg"]


async def test_a_long_unknown_property_name_is_quoted_only_as_a_short_prefix(
    client: AsyncClient, headers: Headers
) -> None:
    feature = factories.feature("incidents")
    feature["properties"]["k" * 1_000_000] = 1
    answer = await client.post("/api/incidents", json=feature, headers=headers("officer"))
    assert answer.status_code == 422, answer.text
    assert len(answer.content) < 2_000


@pytest.mark.parametrize("weights", ["nan,1,1,1,1", "1,inf,1,1,1", "1,1,1,1e400,1"])
async def test_risk_weights_must_be_finite(
    client: AsyncClient, headers: Headers, world: Any, weights: str
) -> None:
    """NaN and infinite weights answered 200 with risk null on every cell."""
    answer = await client.get(
        "/api/analysis/risk",
        params={"sector": str(world.sectors["North-West"]), "severity_weights": weights},
        headers=headers("analyst"),
    )
    refused(answer, "query", "severity_weights")


@pytest.fixture
def failing_app() -> FastAPI:
    """The application with one route that fails as an unforeseen bug would."""
    application = create_app()

    async def broken() -> None:
        raise RuntimeError("an unforeseen failure")

    application.add_api_route("/broken", broken)
    return application


async def test_an_unforeseen_failure_answers_500_with_the_security_headers(
    failing_app: FastAPI,
) -> None:
    transport = ASGITransport(app=failing_app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://testserver") as http:
        answer = await http.get("/broken")
    assert answer.status_code == 500
    for name in SECURITY_HEADERS:
        assert name in answer.headers, name
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "unforeseen" not in answer.text  # nothing of the failure leaks
    assert answer.json()["detail"]


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        ({"killed": 2**31}, "killed"),
        ({"occurred_at": "9999-12-31T23:59:59-14:00"}, "occurred_at"),
        ({"description": "\ud800"}, "description"),
    ],
)
async def test_a_change_beyond_what_a_column_holds_is_refused(
    client: AsyncClient,
    headers: Headers,
    make: Callable[..., Any],
    properties: dict[str, Any],
    field: str,
) -> None:
    incident = await make("incidents")
    answer = await client.patch(
        f"/api/incidents/{incident['id']}",
        content=json.dumps({"properties": properties}).encode(),
        headers={**headers("officer"), "Content-Type": "application/json"},
    )
    refused(answer, "body", "properties", field)
    assert answer.status_code == 422


async def test_a_deeply_nested_body_with_a_surrogate_is_refused_not_failed(
    client: AsyncClient, headers: Headers
) -> None:
    body = b"[" * 100_000 + b'"\\ud800"' + b"]" * 100_000
    answer = await client.post(
        "/api/incidents",
        content=body,
        headers={**headers("officer"), "Content-Type": "application/json"},
    )
    assert 400 <= answer.status_code < 500, answer.text[:300]
