"""Sexual-violence incidents are restricted whoever writes them: the access policy keeps every
record at least at its category's floor, on the API, OGC API - Features Part 4 and imports.

A writer cleared for the floor has the record raised to it and is told so; a writer who is not
(``officer``) is refused, since the record would vanish from their own view."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings, get_settings
from tests import factories, geofiles
from tests.test_imports import records, upload

Headers = Callable[[str], dict[str, str]]
ROUTES = ["/api/incidents", "/collections/incidents/items"]
RAISED = "classification raised from mission to restricted"


async def _stored(session: AsyncSession) -> list[tuple[str, str]]:
    """(category, classification) of every incident, whoever may see it."""
    rows = await session.execute(text("SELECT category, classification FROM incidents"))
    return sorted((str(r[0]), str(r[1])) for r in rows)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("classification", ["mission", None])
async def test_an_officer_not_cleared_may_not_record_sexual_violence_below_restricted(
    client: AsyncClient,
    headers: Headers,
    session: AsyncSession,
    route: str,
    classification: str | None,
) -> None:
    """It was stored ``mission``: every analyst and officer read it."""
    feature = factories.feature("incidents", category="sexual_violence")
    if classification is not None:
        feature["properties"]["classification"] = classification
    response = await client.post(route, json=feature, headers=headers("officer"))
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "properties", "classification"]
    assert "restricted at least" in problem["msg"] and "not cleared" in problem["msg"]
    assert await _stored(session) == []


@pytest.mark.parametrize("route", ROUTES)
async def test_a_cleared_writer_has_the_record_raised_to_the_floor_and_is_told(
    client: AsyncClient, headers: Headers, session: AsyncSession, route: str
) -> None:
    feature = factories.feature("incidents", category="sexual_violence", classification="mission")
    response = await client.post(route, json=feature, headers=headers("admin"))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["properties"]["classification"] == "restricted"
    assert RAISED in created["notices"][0]
    # A record changed into the category is raised too, or refused to an officer not cleared.
    clash = await client.post(route, json=factories.feature("incidents"), headers=headers("admin"))
    item = f"{route}/{clash.json()['id']}"
    change = {"properties": {"category": "sexual_violence"}}
    refused = await client.patch(item, json=change, headers=headers("officer"))
    assert refused.status_code == 422, refused.text
    changed = await client.patch(item, json=change, headers=headers("admin"))
    assert changed.status_code == 200, changed.text
    assert changed.json()["properties"]["classification"] == "restricted"
    assert RAISED in changed.json()["notices"][0]
    # Nor can a cleared writer lower it again.
    lower = {"properties": {"classification": "mission"}}
    lowered = await client.patch(item, json=lower, headers=headers("admin"))
    assert lowered.json()["properties"]["classification"] == "restricted"
    assert await _stored(session) == [("sexual_violence", "restricted")] * 2


async def test_a_record_at_or_above_its_floor_is_stored_as_asked_without_notice(
    client: AsyncClient, headers: Headers
) -> None:
    feature = factories.feature(
        "incidents", category="sexual_violence", classification="restricted"
    )
    response = await client.post("/api/incidents", json=feature, headers=headers("admin"))
    assert response.status_code == 201 and "notices" not in response.json()
    other = factories.feature("incidents", classification="public")
    response = await client.post("/api/incidents", json=other, headers=headers("officer"))
    assert response.status_code == 201 and "notices" not in response.json()
    assert response.json()["properties"]["classification"] == "public"


def _acled(folder: Path) -> Path:
    rows = [
        *geofiles.ACLED_ROWS,
        dict(
            geofiles.ACLED_ROWS[0],
            event_id_cnty="CEN1003",
            sub_event_type="Sexual violence",
            notes="Two women attacked near the water point.",
        ),
    ]
    path = folder / "acled.csv"
    path.write_text(geofiles.acled_csv(rows))
    return path


@pytest.mark.parametrize("bulk", [False, True])
async def test_an_acled_import_stores_sexual_violence_restricted_and_says_so(
    client: AsyncClient,
    headers: Headers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bulk: bool,
) -> None:
    """ACLED imports default to ``mission``: the sexual-violence event was stored so."""
    if bulk:
        monkeypatch.setattr(get_settings(), "import_bulk_rows", 1)
    response = await upload(client, headers, _acled(tmp_path), collection="incidents", user="admin")
    assert response.status_code == 201, response.text
    (warning,) = response.json()["problems"]
    assert (warning["row"], warning["severity"]) == (3, "warning")
    assert RAISED in warning["message"]
    found = await records(client, headers, "incidents")
    assert {k: f["properties"]["classification"] for k, f in found.items()} == {
        "CEN1001": "mission",
        "CEN1002": "mission",
        "CEN1003": "restricted",
    }


@pytest.mark.parametrize("dry_run", [False, True])
async def test_an_officer_not_cleared_may_not_import_sexual_violence(
    client: AsyncClient, headers: Headers, session: AsyncSession, tmp_path: Path, dry_run: bool
) -> None:
    options: dict[str, Any] = {"dry_run": "true"} if dry_run else {}
    response = await upload(client, headers, _acled(tmp_path), collection="incidents", **options)
    if dry_run:
        assert response.status_code == 200, response.text
        (problem,) = response.json()["problems"]
        assert (problem["row"], problem["field"], problem["severity"]) == (
            3,
            "classification",
            "error",
        )
    else:
        assert response.status_code == 422, response.text
        (problem,) = response.json()["detail"]
        assert problem["loc"] == ["body", "file", 3, "classification"]
        assert "not cleared for restricted" in problem["msg"]
    assert await _stored(session) == []


async def test_a_reimport_that_makes_a_record_sexual_violence_raises_it(
    client: AsyncClient, headers: Headers, session: AsyncSession, tmp_path: Path
) -> None:
    path = tmp_path / "v1.csv"
    path.write_text(geofiles.incidents_csv())
    assert (await upload(client, headers, path, collection="incidents")).status_code == 201
    rows = [dict(r) for r in geofiles.INCIDENTS]
    rows[0]["category"] = "sexual_violence"
    path.write_text(geofiles.incidents_csv(rows))
    refused = await upload(client, headers, path, collection="incidents")
    assert refused.status_code == 422, refused.text
    raised = await upload(client, headers, path, collection="incidents", user="admin")
    assert raised.status_code == 201, raised.text
    assert (raised.json()["updated"], len(raised.json()["problems"])) == (1, 1)
    assert await _stored(session) == [
        ("abduction", "mission"),
        ("looting", "mission"),
        ("sexual_violence", "restricted"),
    ]


async def test_floors_are_set_in_the_settings(
    client: AsyncClient, headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    floors = {"incidents": {"abduction": "restricted"}}
    monkeypatch.setattr(get_settings(), "category_floors", floors)
    feature = factories.feature("incidents", category="abduction")
    refused = await client.post("/api/incidents", json=feature, headers=headers("officer"))
    assert refused.status_code == 422, refused.text
    # The defaults stay unless the settings change them.
    feature = factories.feature("incidents", category="sexual_violence")
    refused = await client.post("/api/incidents", json=feature, headers=headers("officer"))
    assert refused.status_code == 422, refused.text
    with pytest.raises(ValidationError, match="no category sexual_violense"):
        Settings(category_floors={"incidents": {"sexual_violense": "restricted"}})
    with pytest.raises(ValidationError, match="'patrols' has no categories"):
        Settings(category_floors={"patrols": {"mobile": "restricted"}})


async def test_the_migration_raises_records_stored_below_the_floor(session: AsyncSession) -> None:
    migration = importlib.import_module("migrations.versions.20261207_a19b01c0d0e1_category_floors")
    insert = (
        "INSERT INTO incidents (category, occurred_at, severity, classification, geom) VALUES "
        "(:category, now(), 2, :classification, ST_SetSRID(ST_MakePoint(24.5, 7.5), 4326))"
    )
    for category, classification in [
        ("sexual_violence", "public"),
        ("sexual_violence", "mission"),
        ("sexual_violence", "restricted"),
        ("looting", "mission"),
    ]:
        await session.execute(
            text(insert), {"category": category, "classification": classification}
        )
    await session.execute(text(migration.RAISE_TO_FLOORS))
    assert await _stored(session) == [
        ("looting", "mission"),
        *[("sexual_violence", "restricted")] * 3,
    ]


async def test_the_demo_mission_keeps_the_floors_set_in_the_settings(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scenario makes sexual violence restricted (tests/test_demo_generator.py); a floor
    set in the settings is applied to the demo records as they are loaded."""
    from service.audit import trail
    from service.demo.load import _raise_to_floors

    monkeypatch.setattr(
        get_settings(), "category_floors", {"incidents": {"abduction": "restricted"}}
    )
    insert = (
        "INSERT INTO incidents (category, occurred_at, severity, classification, origin, geom) "
        "VALUES (:category, now(), 2, 'mission', 'demo', ST_SetSRID(ST_MakePoint(24.5, 7.5), 4326))"
    )
    for category in ("abduction", "looting"):
        await session.execute(text(insert), {"category": category})
    await _raise_to_floors(trail.on_session(session))
    assert await _stored(session) == [("abduction", "restricted"), ("looting", "mission")]


async def test_rolling_an_import_back_never_restores_a_record_below_its_floor(
    client: AsyncClient,
    headers: Headers,
    session: AsyncSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """inc-3 (an abduction) was mission before the second import; abductions get a floor of
    restricted since: rolling the second import back keeps it restricted."""
    path = tmp_path / "v1.csv"
    path.write_text(geofiles.incidents_csv())
    assert (await upload(client, headers, path, collection="incidents")).status_code == 201
    monkeypatch.setattr(
        get_settings(), "category_floors", {"incidents": {"abduction": "restricted"}}
    )
    rows = [dict(r) for r in geofiles.INCIDENTS]
    rows[2]["severity"] = 5
    path.write_text(geofiles.incidents_csv(rows))
    job = await upload(client, headers, path, collection="incidents", user="admin")
    assert job.status_code == 201, job.text
    rolled = await client.post(
        f"/api/imports/{job.json()['id']}/rollback", headers=headers("admin")
    )
    assert rolled.status_code == 200, rolled.text
    assert await _stored(session) == [
        ("abduction", "restricted"),
        ("armed_clash", "mission"),
        ("looting", "mission"),
    ]
