"""Dates that record what happened cannot lie in the future, on every write path; planned
dates can. Projects and requests cannot be completed before they start or are needed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from service.config import get_settings
from tests import factories, geofiles
from tests.test_imports import records, upload
from tests.test_requests import Walker, request_feature

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]

NEXT_YEAR = "2027-03-01T10:00:00Z"
URL = "/api/assistance_requests"


def soon(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def refused_field(response: Any, *loc: Any) -> str:
    """The 422's message for the field at ``loc``."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    found = [d for d in detail if tuple(d["loc"])[-len(loc) :] == loc]
    assert found, detail
    message: str = found[0]["msg"]
    assert "future" in message
    return message


@pytest.mark.parametrize("prefix", ["/api/incidents", "/collections/incidents/items"])
async def test_an_incident_cannot_have_happened_next_year(
    client: AsyncClient, headers: Headers, prefix: str
) -> None:
    feature = factories.feature("incidents", occurred_at=NEXT_YEAR)
    response = await client.post(prefix, json=feature, headers=headers("officer"))
    refused_field(response, "properties", "occurred_at")
    feature = factories.feature("incidents", reported_at=NEXT_YEAR)
    response = await client.post(prefix, json=feature, headers=headers("officer"))
    refused_field(response, "properties", "reported_at")
    listed = await client.get("/api/incidents", headers=headers("officer"))
    assert listed.json()["features"] == []


async def test_an_incident_cannot_be_changed_into_the_future(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    incident = await make("incidents")
    url = f"/api/incidents/{incident['id']}"
    patched = await client.patch(
        url, json={"properties": {"occurred_at": NEXT_YEAR}}, headers=headers("officer")
    )
    refused_field(patched, "properties", "occurred_at")
    replaced = await client.put(
        f"/collections/incidents/items/{incident['id']}",
        json=factories.feature("incidents", occurred_at=NEXT_YEAR),
        headers=headers("officer"),
    )
    refused_field(replaced, "properties", "occurred_at")
    stored = await client.get(url, headers=headers("officer"))
    assert stored.json()["properties"]["occurred_at"].startswith("2026-10-01")


async def test_a_clock_a_little_ahead_is_tolerated(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    tolerance = get_settings().future_tolerance_minutes
    await make("incidents", occurred_at=soon(tolerance / 2))
    response = await client.post(
        "/api/incidents",
        json=factories.feature("incidents", occurred_at=soon(tolerance + 5)),
        headers=headers("officer"),
    )
    refused_field(response, "properties", "occurred_at")


async def test_a_population_cannot_have_been_counted_next_year(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    site = await make("idp_sites")
    response = await client.post(
        f"/api/idp_sites/{site['id']}/population",
        json={"observed_on": "2027-06-01", "individuals": 90_000},
        headers=headers("officer"),
    )
    refused_field(response, "observed_on")
    stored = await client.get(f"/api/idp_sites/{site['id']}", headers=headers("officer"))
    assert stored.json()["properties"]["population_individuals"] == 12000
    assert stored.json()["properties"]["population_date"] is None
    patched = await client.patch(
        f"/api/idp_sites/{site['id']}",
        json={"properties": {"population_date": "2027-06-01"}},
        headers=headers("officer"),
    )
    refused_field(patched, "properties", "population_date")


async def test_a_planned_patrol_may_start_next_year_a_conducted_one_may_not(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    planned = await make("patrols", state="planned", start_at=NEXT_YEAR)
    conducted = await client.post(
        "/api/patrols",
        json=factories.feature("patrols", state="conducted", start_at=NEXT_YEAR),
        headers=headers("officer"),
    )
    refused_field(conducted, "properties", "start_at")
    # Recording the planned patrol as conducted before it starts is refused too.
    patched = await client.patch(
        f"/api/patrols/{planned['id']}",
        json={"properties": {"state": "conducted"}},
        headers=headers("officer"),
    )
    refused_field(patched, "properties", "start_at")


async def test_a_project_cannot_be_completed_before_it_starts(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    project = await make("projects", status="ongoing", start_date="2027-01-15")
    response = await client.post(
        f"/api/projects/{project['id']}/status",
        json={"status": "completed", "reason": "handed over"},
        headers=headers("officer"),
    )
    assert response.status_code == 409, response.text
    assert "2027-01-15" in response.json()["detail"]
    history = await client.get(f"/api/projects/{project['id']}/history", headers=headers("officer"))
    assert history.json()["status"] == "ongoing"
    written = await client.post(
        "/api/projects",
        json=factories.feature(
            "projects", status="completed", start_date="2026-06-01", end_date="2027-02-01"
        ),
        headers=headers("officer"),
    )
    refused_field(written, "properties", "end_date")


async def test_a_request_cannot_be_completed_before_it_is_needed(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    ngo = str((await make("actors", name="Kalembe Relief", classification="public"))["id"])
    walker = Walker(client, headers, ngo)
    later = await walker.submit(
        life_saving=True, needed_from=soon(3 * 24 * 60), needed_until=soon(9 * 24 * 60)
    )
    refused = await walker.step(later["id"], "complete", status=409)
    assert "needed from" in refused["detail"]
    needed = (await walker.submit(life_saving=True))["id"]  # needed from 2026-11-12
    early = await walker.step(
        needed, "complete", status=422, completed_at="2026-11-11T10:00:00Z", note="x"
    )
    assert early["detail"][0]["loc"] == ["body", "completed_at"]
    assert "needed" in early["detail"][0]["msg"]
    # Nor can a completed request be made to have been needed only after it was delivered.
    done = await walker.step(needed, "complete", completed_at="2026-11-20T10:00:00Z", note="x")
    moved = await client.patch(
        f"{URL}/{done['id']}",
        json={"properties": {"needed_from": "2026-11-25T00:00:00Z"}},
        headers=headers("officer"),
    )
    assert moved.status_code == 422, moved.text
    assert moved.json()["detail"][0]["loc"] == ["body", "properties", "needed_from"]
    asked_later = await client.post(
        URL, json=request_feature(ngo, requested_at=NEXT_YEAR), headers=headers("officer")
    )
    refused_field(asked_later, "properties", "requested_at")


@pytest.mark.parametrize("bulk", [False, True])
async def test_an_import_with_a_future_incident_names_its_row_and_field(
    client: AsyncClient,
    headers: Headers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bulk: bool,
) -> None:
    if bulk:
        monkeypatch.setattr(get_settings(), "import_bulk_rows", 2)
    rows = [dict(r) for r in geofiles.INCIDENTS]
    rows[1]["occurred_at"] = NEXT_YEAR
    path = tmp_path / "future.csv"
    path.write_text(geofiles.incidents_csv(rows))
    response = await upload(client, headers, path, collection="incidents")
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["body", "file", 2, "occurred_at"]
    assert "future" in problem["msg"]
    assert await records(client, headers, "incidents") == {}
