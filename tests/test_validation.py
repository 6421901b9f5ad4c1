"""Invalid input is refused with a 422 that names the field and says what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories

Headers = Callable[[str], dict[str, str]]


def located(detail: list[dict[str, Any]], *path: str) -> dict[str, Any]:
    for item in detail:
        if list(item["loc"][-len(path) :]) == list(path) or all(p in item["loc"] for p in path):
            return item
    raise AssertionError(f"no error at {path}: {detail}")


CASES: list[tuple[str, dict[str, Any], tuple[str, ...], str]] = [
    (
        "incidents",
        {"geometry": factories.point(5.3, 25.3)},
        ("geometry",),
        "swapped",
    ),
    (
        "incidents",
        {"geometry": factories.point(25.3, 95.0)},
        ("geometry",),
        "latitude",
    ),
    (
        "idp_sites",
        {
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[25, 5], [26, 6], [26, 5], [25, 6], [25, 5]]],
            }
        },
        ("geometry",),
        "Self-intersection",
    ),
    (
        "incidents",
        {"geometry": {"type": "LineString", "coordinates": [[25, 5], [26, 6]]}},
        ("geometry",),
        "Point",
    ),
    ("incidents", {"category": "alien_invasion"}, ("properties", "category"), "armed_clash"),
    ("incidents", {"severity": 9}, ("properties", "severity"), "less than or equal to 5"),
    (
        "incidents",
        {"occurred_at": "2026-10-01T10:00:00"},
        ("properties", "occurred_at"),
        "timezone",
    ),
    ("incidents", {"colour": "red"}, ("properties", "colour"), "not permitted"),
    ("incidents", {"classification": "secret"}, ("properties", "classification"), "restricted"),
    (
        "projects",
        {"start_date": "2026-05-01", "end_date": "2026-04-01"},
        ("properties",),
        "end_date",
    ),
    ("actors", {"email": "not-an-address"}, ("properties", "email"), "pattern"),
    (
        "idp_sites",
        {"population_individuals": -5},
        ("properties", "population_individuals"),
        "greater than",
    ),
]


@pytest.mark.parametrize(("collection", "change", "path", "says"), CASES)
async def test_invalid_input_names_the_field(
    client: AsyncClient,
    headers: Headers,
    collection: str,
    change: dict[str, Any],
    path: tuple[str, ...],
    says: str,
) -> None:
    geometry = change.pop("geometry", None)
    feature = factories.feature(collection, geometry=geometry, **change)
    response = await client.post(f"/api/{collection}", json=feature, headers=headers("admin"))
    assert response.status_code == 422, response.text
    item = located(response.json()["detail"], *path)
    assert says.lower() in item["msg"].lower(), item


async def test_reference_to_unknown_record_is_refused(
    client: AsyncClient, headers: Headers
) -> None:
    feature = factories.feature(
        "incidents", perpetrator_actor_id="00000000-0000-4000-8000-000000000000"
    )
    response = await client.post("/api/incidents", json=feature, headers=headers("admin"))
    assert response.status_code == 422
    item = located(response.json()["detail"], "properties", "perpetrator_actor_id")
    assert "actors" in item["msg"]


async def test_duplicate_external_id_is_a_conflict(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    """The service keeps keys unique among the records a writer sees in full (no constraint in
    the database does, as none could on a table sharded by id, docs/scaling.md); records
    hidden from the writer do not count (tests/test_access_leaks_existence.py)."""
    feature = factories.feature("incidents", origin="acled", external_id="SSD1234")
    first = await client.post("/api/incidents", json=feature, headers=headers("admin"))
    assert first.status_code == 201
    second = await client.post("/api/incidents", json=feature, headers=headers("admin"))
    assert second.status_code == 409
    assert "external_id" in second.json()["detail"]

    other = factories.feature("incidents", origin="acled", external_id="SSD1235")
    third = await client.post("/api/incidents", json=other, headers=headers("admin"))
    assert third.status_code == 201
    renamed = await client.patch(
        f"/api/incidents/{third.json()['id']}",
        json={"properties": {"external_id": "SSD1234"}},
        headers=headers("admin"),
    )
    assert renamed.status_code == 409
    assert "external_id" in renamed.json()["detail"]
    keys = await session.scalar(
        text("SELECT count(*) FROM incidents WHERE origin = 'acled' AND external_id = 'SSD1234'")
    )
    assert keys == 1


async def test_patch_breaking_a_rule_names_the_field(client: AsyncClient, headers: Headers) -> None:
    created = await client.post(
        "/api/patrols",
        json=factories.feature("patrols", end_at="2026-10-01T12:00:00Z"),
        headers=headers("admin"),
    )
    response = await client.patch(
        f"/api/patrols/{created.json()['id']}",
        json={"properties": {"start_at": "2026-10-02T06:00:00Z"}},
        headers=headers("admin"),
    )
    assert response.status_code == 422
    assert located(response.json()["detail"], "properties", "end_at")


async def test_unknown_record_is_404(client: AsyncClient, headers: Headers) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for method in ("GET", "DELETE"):
        response = await client.request(
            method, f"/api/incidents/{missing}", headers=headers("admin")
        )
        assert response.status_code == 404
