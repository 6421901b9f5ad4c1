"""Big imports are bulk loads: the collection's secondary indexes, unique constraints and
foreign keys are dropped and built again in the import's transaction. What a user must be able
to rely on: the records, their sectors and their audit rows are the same as in an ordinary
import, the table comes back with exactly the indexes and keys it had, every one of them valid,
duplicates are still refused, and a table that is busy is loaded the ordinary way rather than
waited for. A table other tables refer to (incidents: merged duplicates, field reports,
dismissed pairs) keeps its primary key through the load, which checks each new id as it goes
in; the secondary indexes are still built again."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.config import get_settings
from service.db import driver_of
from service.imports.bulk import roomy
from tests import geofiles
from tests.test_imports import upload

Headers = Callable[[str], dict[str, str]]

STRUCTURE = """
SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes WHERE tablename = 'incidents'
UNION ALL
SELECT 'constraint ' || conname || ': ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE conrelid = 'incidents'::regclass
ORDER BY 1
"""
#: Imported incidents whose sector is not the one the database would give them.
WRONG_SECTOR = """
SELECT count(*) FROM incidents
WHERE origin = 'import' AND sector_id IS DISTINCT FROM civop_sector_at(geom)
"""
#: Indexes a query cannot use or a write would not keep, and constraints left unchecked.
UNUSABLE = """
SELECT indexrelid::regclass::text FROM pg_index
WHERE indrelid = 'incidents'::regclass AND NOT (indisvalid AND indisready AND indislive)
UNION ALL
SELECT conname FROM pg_constraint WHERE conrelid = 'incidents'::regclass AND NOT convalidated
"""
#: One imported incident again, under another external id but with the same id.
COPY_WITH_SAME_ID = [
    "CREATE TEMP TABLE copied ON COMMIT DROP AS "
    "SELECT * FROM incidents WHERE origin = 'import' LIMIT 1",
    "UPDATE copied SET external_id = 'copy'",
    "INSERT INTO incidents SELECT * FROM copied",
]
INDEX_OIDS = """
SELECT indexrelid::regclass::text, indexrelid FROM pg_index WHERE indrelid = 'incidents'::regclass
"""


@pytest.fixture(autouse=True)
async def _true_row_count(session: AsyncSession) -> None:
    """A bulk load is chosen against the collection's estimated size (``reltuples``), which
    autovacuum sets from whatever earlier tests left, rolled back or not: count it afresh."""
    await session.execute(text("ANALYZE incidents"))


def _many(folder: Path, count: int, prefix: str, moved: int = 0, seed: int | None = None) -> Path:
    """``count`` incidents at random places; the first ``moved`` of them 0.05 degrees east."""
    rng = random.Random(count if seed is None else seed)
    rows = [
        dict(
            geofiles.INCIDENTS[i % len(geofiles.INCIDENTS)],
            external_id=f"{prefix}-{i}",
            lon=round(rng.uniform(23.2, 28.8), 6) + (0.05 if i < moved else 0),
            lat=round(rng.uniform(3.2, 8.8), 6),
        )
        for i in range(count)
    ]
    path = folder / f"{prefix}-{count}-{moved}.csv"
    path.write_text(geofiles.incidents_csv(rows))
    return path


async def _rows(session: AsyncSession, sql: str, **params: Any) -> list[Any]:
    return list((await session.execute(text(sql), params)).all())


@pytest.fixture
def bulk_from_50(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "import_bulk_rows", 50)


async def test_a_big_import_comes_back_with_every_index_and_key(
    client: AsyncClient, headers: Headers, session: AsyncSession, tmp_path: Path, bulk_from_50: None
) -> None:
    before = await _rows(session, STRUCTURE)
    oids_before = dict(await _rows(session, INDEX_OIDS))
    response = await upload(client, headers, _many(tmp_path, 1200, "bulk"), collection="incidents")
    assert response.status_code == 201, response.text
    job = response.json()
    assert (job["status"], job["created"]) == ("succeeded", 1200)

    assert await _rows(session, STRUCTURE) == before
    assert await _rows(session, UNUSABLE) == []
    oids_after = dict(await _rows(session, INDEX_OIDS))
    rebuilt = {name for name, oid in oids_after.items() if oids_before.get(name) != oid}
    assert {"idx_incidents_geom", "ix_incidents_origin_external_id"} <= rebuilt
    # Other tables refer to incidents (merged duplicates, field reports, dismissed pairs): the
    # primary key is kept through the load, and still refuses a second record with an id.
    assert "pk_incidents" in oids_after
    with pytest.raises(IntegrityError, match="pk_incidents"):
        async with session.begin_nested():
            for statement in COPY_WITH_SAME_ID:
                await session.execute(text(statement))
    # The job says where its time went, the index builds as part of the merge.
    seconds = job["options"]["seconds"]
    assert set(seconds) == {"read_and_stage", "check", "merge", "indexes"}
    assert 0 < seconds["indexes"] <= seconds["merge"]

    # Sectors as the database would give them; one audit row lists the 1,200 records created.
    assert await _rows(session, WRONG_SECTOR) == [(0,)]
    audit = await _rows(
        session,
        "SELECT count(*), count(record_id), sum(cardinality(record_ids)), count(after), "
        "min(actor) FROM audit_log WHERE context = :context",
        context=f"import:{job['id']}",
    )
    assert audit == [(1, 0, 1200, 0, "officer")]
    # The rebuilt unique key still holds: importing the file again updates, never duplicates.
    again = await upload(client, headers, _many(tmp_path, 1200, "bulk"), collection="incidents")
    assert again.status_code == 201, again.text
    assert (again.json()["created"], again.json()["updated"]) == (0, 0)
    (count,) = (
        await session.execute(text("SELECT count(*) FROM incidents WHERE origin = 'import'"))
    ).one()
    assert count == 1200


async def test_a_bulk_reimport_updates_the_changed_records_in_place(
    client: AsyncClient, headers: Headers, session: AsyncSession, tmp_path: Path, bulk_from_50: None
) -> None:
    first = await upload(
        client, headers, _many(tmp_path, 600, "re", seed=1), collection="incidents"
    )
    assert first.json()["created"] == 600
    ids = dict(
        await _rows(session, "SELECT external_id, id FROM incidents WHERE origin = 'import'")
    )
    # 150 records moved, 600 unchanged, 100 new: a bulk load again (700 rows >= 50).
    changed = _many(tmp_path, 700, "re", moved=150, seed=1)
    oids = dict(await _rows(session, INDEX_OIDS))
    again = await upload(client, headers, changed, collection="incidents")
    assert again.status_code == 201, again.text
    rebuilt = dict(await _rows(session, INDEX_OIDS))
    assert rebuilt["idx_incidents_geom"] != oids["idx_incidents_geom"]  # it was a bulk load
    job = again.json()
    assert (job["created"], job["updated"]) == (100, 150)
    after = dict(
        await _rows(session, "SELECT external_id, id FROM incidents WHERE origin = 'import'")
    )
    assert len(after) == 700
    assert all(after[key] == ids[key] for key in ids)  # updated in place, never recreated
    audit = await _rows(
        session,
        "SELECT action, count(*), count(before) FROM audit_log WHERE context = :context "
        "GROUP BY action ORDER BY action",
        context=f"import:{job['id']}",
    )
    assert audit == [("create", 100, 0), ("update", 150, 150)]
    assert await _rows(session, WRONG_SECTOR) == [(0,)]


async def test_a_busy_table_is_loaded_the_ordinary_way(
    client: AsyncClient,
    headers: Headers,
    session: AsyncSession,
    engine: AsyncEngine,
    tmp_path: Path,
    bulk_from_50: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(get_settings(), "import_bulk_lock_timeout_s", 0.2)
    caplog.set_level("INFO", logger="civop")
    oids_before = dict(await _rows(session, INDEX_OIDS))
    async with engine.connect() as reader:
        # A long map query holds the table: the bulk load must not wait for it.
        await reader.execute(text("SELECT count(*) FROM incidents"))
        response = await upload(
            client, headers, _many(tmp_path, 1300, "busy"), collection="incidents"
        )
        await reader.rollback()
    assert response.status_code == 201, response.text
    assert response.json()["created"] == 1300
    assert dict(await _rows(session, INDEX_OIDS)) == oids_before
    assert "the table is busy, loading without a bulk load" in caplog.text
    assert "indexes" not in response.json()["options"]["seconds"]


async def test_a_small_import_into_a_big_table_keeps_the_indexes(
    client: AsyncClient, headers: Headers, session: AsyncSession, tmp_path: Path, bulk_from_50: None
) -> None:
    await upload(client, headers, _many(tmp_path, 400, "base"), collection="incidents")
    await session.execute(text("ANALYZE incidents"))
    oids_before = dict(await _rows(session, INDEX_OIDS))
    response = await upload(client, headers, _many(tmp_path, 60, "few"), collection="incidents")
    assert response.status_code == 201, response.text
    assert dict(await _rows(session, INDEX_OIDS)) == oids_before
    audit = await _rows(
        session,
        "SELECT count(*), count(after) FROM audit_log WHERE context = :context",
        context=f"import:{response.json()['id']}",
    )
    assert audit == [(60, 60)]  # small creates keep a copy of the values


async def test_a_table_other_tables_refer_to_keeps_its_primary_key(
    client: AsyncClient, headers: Headers, session: AsyncSession, tmp_path: Path, bulk_from_50: None
) -> None:
    """Assistance requests and population figures refer to IDP sites by id: a bulk load of
    sites rebuilds their secondary indexes but leaves the key those references use."""
    sites = "SELECT indexrelid::regclass::text, indexrelid FROM pg_index WHERE indrelid = 'idp_sites'::regclass"
    before = dict(await _rows(session, sites))
    rows = [
        [
            f"CF-{i:04}",
            f"Site {i}",
            "Planned camp",
            "Open",
            4 + i / 100,
            24 + i / 100,
            100 + i,
            20,
            "2026-07-30",
        ]
        for i in range(80)
    ]
    path = tmp_path / "dtm-80.csv"
    path.write_text(geofiles.csv_text([geofiles.DTM_HEADER, *rows]))
    response = await upload(client, headers, path, collection="idp_sites")
    assert response.status_code == 201, response.text
    assert response.json()["created"] == 80
    after = dict(await _rows(session, sites))
    assert after["pk_idp_sites"] == before["pk_idp_sites"]
    assert any(after[name] != oid for name, oid in before.items())  # it was a bulk load
    assert set(after) == set(before)


async def test_a_bulk_load_raises_work_mem_for_its_transaction_and_never_lowers_it(
    session: AsyncSession,
) -> None:
    """The transition tables of a bulk load stay in memory (``bulk.roomy``): work_mem is raised
    for the import's transaction only, and a larger setting is kept."""
    driver = await driver_of(session)
    await session.execute(text("SET LOCAL work_mem = '64MB'"))
    await roomy(driver, 300 * 1024**2)
    assert await driver.fetchval("SHOW work_mem") == "300MB"
    await roomy(driver)  # 256 MB, less than now
    assert await driver.fetchval("SHOW work_mem") == "300MB"
    await session.execute(text("SET LOCAL work_mem = '2GB'"))
    await roomy(driver, 300 * 1024**2)
    assert await driver.fetchval("SHOW work_mem") == "2GB"
