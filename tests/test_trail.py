"""Without their statement triggers (as under Citus, docs/scaling.md), incidents and patrols keep
the same audit trail, change events and layer versions: the service writes them itself in
every write path. Each test runs the same writes with the triggers and without them and
compares what a user of the audit log, the alert engine and the map would see."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine

from service.audit import trail
from service.collections.registry import COLLECTIONS
from service.config import get_settings
from service.demo.load import load_demo
from tests import factories
from tests.conftest import TEST_DB, _server_dsn, create_database, drop_database
from tests.test_imports import upload
from tests.test_imports_bulk import _many
from tests.test_requests import request_feature

Headers = Callable[[str], dict[str, str]]

#: (A custom setting once set in a session reads '' rather than NULL after its transaction.)
AUDIT = """
SELECT action, collection, record_id, before, after, actor, nullif(context, ''),
       cardinality(record_ids)
FROM audit_log WHERE id > :mark ORDER BY id
"""
EVENTS = "SELECT collection, record_id, action FROM events WHERE id > :mark ORDER BY id"
#: Every status history row, as the demo loader leaves them.
DEMO_HISTORIES = """
SELECT 'project', project_id, from_status, to_status, reason, context, changed_by
FROM project_status_history
UNION ALL
SELECT 'request', request_id, step, from_status, to_status, happened_at::text, NULL
FROM assistance_request_history
"""
#: The status histories of the projects and requests created in this transaction.
HISTORIES = """
SELECT 'project', project_id, from_status, to_status, reason, nullif(context, ''), changed_by
FROM project_status_history WHERE changed_at = now()
UNION ALL
SELECT 'request', request_id, step, from_status, to_status, happened_at::text, NULL
FROM assistance_request_history h
WHERE request_id IN (SELECT id FROM assistance_requests WHERE created_at = now())
"""
VERSIONS = "SELECT collection, version FROM layer_versions"
#: The key of each imported incident written in this transaction, kept or rolled back (a purge's
#: audit row holds the record), by id: new records get random ids.
IMPORTED = """
SELECT id::text, external_id FROM incidents WHERE created_at = now() AND origin = 'import'
UNION
SELECT record_id::text, before->>'external_id' FROM audit_log
WHERE id > :mark AND action = 'purge' AND collection = 'incidents'
"""
#: The counters of each collection's parts (classification, sector, owner) users are shown.
PARTS = """
SELECT collection, classification, sector_id, owner_id, version FROM layer_version_parts
ORDER BY collection, classification, sector_id, owner_id
"""
#: The records as they end up (created in this transaction: their created_at is now()).
RECORDS = """
SELECT 'incidents', to_jsonb(i) - 'geom' || jsonb_build_object('geom', ST_AsText(i.geom))
FROM incidents i WHERE created_at = now()
UNION ALL
SELECT 'patrols', to_jsonb(p) - 'geom' || jsonb_build_object('geom', ST_AsText(p.geom))
FROM patrols p WHERE created_at = now()
"""


async def _drop_statement_triggers(run: Callable[[Any], Awaitable[Any]]) -> int:
    trail.forget_triggers()  # the service looks them up once per process
    statements = [row[0] for row in (await run(text(trail.DROP_STATEMENT_TRIGGERS))).all()]
    for statement in statements:
        await run(text(statement))
    assert (await run(text(trail.DROP_STATEMENT_TRIGGERS))).all() == []
    return len(statements)


async def _writes(client: AsyncClient, headers: Headers, folder: Path) -> list[str]:
    """Every write path: the API (create, change, delete), an ordinary import and re-import,
    a bulk import and re-import, and the rollback of both; returns the ids it was given."""
    given: list[str] = []

    async def ok(response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    for collection, change in (("incidents", {"severity": 4}), ("patrols", {"unit": "BANBAT-2"})):
        feature = factories.feature(collection)
        created = await ok(
            await client.post(f"/api/{collection}", json=feature, headers=headers("admin")), 201
        )
        given.append(created["id"])
        url = f"/api/{collection}/{created['id']}"
        await ok(await client.patch(url, json={"properties": change}, headers=headers("admin")))
        await ok(await client.delete(url, headers=headers("admin")), 204)

    # A project whose status changes, and a request for assistance: each keeps a history.
    actor = await ok(
        await client.post(
            "/api/actors",
            json=factories.feature("actors", name="Kalembe Relief", classification="public"),
            headers=headers("admin"),
        ),
        201,
    )
    project = await ok(
        await client.post(
            "/api/projects",
            json=factories.feature("projects", status="proposed"),
            headers=headers("admin"),
        ),
        201,
    )
    await ok(
        await client.post(
            f"/api/projects/{project['id']}/status",
            json={"status": "approved", "reason": "QIP committee"},
            headers=headers("admin"),
        )
    )
    request = await ok(
        await client.post(
            "/api/assistance_requests",
            json=request_feature(actor["id"]),
            headers=headers("officer"),
        ),
        201,
    )
    given.extend([actor["id"], project["id"], request["id"]])

    async def imported(path: Path, bulk: bool) -> dict[str, Any]:
        settings = get_settings()
        settings.import_bulk_rows = 50 if bulk else 100_000
        job: dict[str, Any] = await ok(
            await upload(client, headers, path, collection="incidents"), 201
        )
        assert job["status"] == "succeeded", job
        given.append(job["id"])
        return job

    # Ordinary imports (one INSERT ... ON CONFLICT): more than 1,000 records created (lean
    # audit rows), then more than 500 changed (one 'reload' event) and 100 created.
    first = await imported(_many(folder, 1_100, "few", seed=1), bulk=False)
    again = await imported(_many(folder, 1_200, "few", moved=550, seed=1), bulk=False)
    assert (first["created"], again["created"], again["updated"]) == (1_100, 100, 550)
    # Bulk loads (an UPDATE, then an INSERT).
    bulk = await imported(_many(folder, 120, "bulk", seed=2), bulk=True)
    moved = await imported(_many(folder, 120, "bulk", moved=30, seed=2), bulk=True)
    assert (bulk["created"], moved["updated"]) == (120, 30)
    for job in (moved, bulk, again):
        await ok(
            await client.post(f"/api/imports/{job['id']}/rollback", headers=headers("officer"))
        )
    return given


async def _seen(session: AsyncSession, audit_mark: int, event_mark: int) -> dict[str, Any]:
    async def rows(sql: str, **params: Any) -> list[list[Any]]:
        result = await session.execute(text(sql), params)
        return [[str(v) if v is not None else None for v in row] for row in result.all()]

    return {
        "histories": sorted(await rows(HISTORIES), key=str),
        "audit": await rows(AUDIT, mark=audit_mark),
        "events": await rows(EVENTS, mark=event_mark),
        "versions": dict(await rows(VERSIONS)),
        "parts": await rows(PARTS),
        "records": await rows(RECORDS),
        "imported": dict(await rows(IMPORTED, mark=audit_mark)),
    }


def _same_text(seen: dict[str, Any], ids: list[str]) -> str:
    """``seen`` with the ids the service drew at random (API records, import jobs) numbered in
    the order they were given, and those of imported records named by their key."""
    imported = seen.pop("imported")
    out = json.dumps(seen, sort_keys=True)
    for number, value in enumerate(ids):
        out = out.replace(value, f"<given {number}>")
    for value, key in imported.items():
        out = out.replace(value, f"<imported {key}>")
    return out


def _statements(rows: list[list[Any]], *columns: int) -> list[list[Any]]:
    """Runs of rows alike in ``columns`` (the rows of one statement), in order: within one,
    rows are in the order of the records' ids, which are random."""
    runs: list[list[Any]] = []
    for row in rows:
        kind = [row[c] for c in columns]
        if not runs or runs[-1][0] != kind:
            runs.append([kind, 0])
        runs[-1][1] += 1
    return runs


def _multiset(rows: list[list[Any]]) -> list[str]:
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


@pytest.fixture
def bulk_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk-load threshold, as it was after the test."""
    monkeypatch.setattr(get_settings(), "import_bulk_rows", get_settings().import_bulk_rows)


async def test_every_write_path_records_the_same_without_triggers(
    client: AsyncClient,
    headers: Headers,
    session: AsyncSession,
    connection: AsyncConnection,
    tmp_path: Path,
    bulk_setting: None,
) -> None:
    marks = (
        await session.scalar(text("SELECT coalesce(max(id), 0) FROM audit_log")),
        await session.scalar(text("SELECT coalesce(max(id), 0) FROM events")),
    )
    versions_before = dict((await session.execute(text(VERSIONS))).all())
    await session.commit()  # the session's savepoints now open inside the test's own ones

    runs = []
    for triggers in (True, False):
        savepoint = await connection.begin_nested()
        if not triggers:
            assert await _drop_statement_triggers(session.execute) == 10 * len(COLLECTIONS) + 3
        folder = tmp_path / ("with" if triggers else "without")
        folder.mkdir()
        ids = await _writes(client, headers, folder)
        seen = await _seen(session, *marks)
        runs.append((seen, ids))
        await session.rollback()
        await savepoint.rollback()
        trail.forget_triggers()  # the savepoint brought them back

    (with_triggers, ids_a), (without, ids_b) = runs
    a = json.loads(_same_text(with_triggers, ids_a))
    b = json.loads(_same_text(without, ids_b))
    # The same records in the end, and the same history of each of them.
    assert _multiset(b["records"]) == _multiset(a["records"])
    # 2 by the API, the first ordinary import's 1,100 and the 30 bulk records changed after
    # their import (the other 90, and the re-import's 100, were rolled back).
    assert len(a["records"]) == 2 + 1_100 + 30
    # The same audit rows, statement by statement.
    assert _multiset(b["audit"]) == _multiset(a["audit"])
    assert _statements(b["audit"], 0, 6) == _statements(a["audit"], 0, 6)
    actions = {row[0] for row in b["audit"]}
    assert actions == {"create", "update", "delete", "purge"}
    assert all(row[5] in ("admin", "officer") for row in b["audit"])
    # An import's creation of more than 1,000 records is one row listing them all.
    for seen in (a, b):
        bulk = [row for row in seen["audit"] if row[7] is not None]
        assert [(row[0], row[2], row[7]) for row in bulk] == [("create", None, "1100")]
        assert bulk[0][6].startswith("import:")
    # Rollback found the imports' rows by their context.
    assert {row[6].split(":")[0] for row in b["audit"] if row[6]} == {"import", "rollback"}
    # The same change events for the alert engine and the live map.
    assert _multiset(b["events"]) == _multiset(a["events"])
    assert _statements(b["events"], 0, 2) == _statements(a["events"], 0, 2)
    assert ["incidents", None, "reload"] in b["events"]
    # Every collection written has a new layer version, so no cached tile outlives a change.
    for seen in (a, b):
        bumped = {
            name
            for name, version in seen["versions"].items()
            if int(version) > int(versions_before.get(name, 0))
        }
        assert bumped == {"incidents", "patrols", "actors", "projects", "assistance_requests"}
    # The same counters for each part of a collection, so a user's versions move alike.
    assert b["parts"] == a["parts"]
    assert sorted((h[:4] for h in b["histories"]), key=str) == sorted(
        [
            ["project", "<given 3>", None, "proposed"],
            ["project", "<given 3>", "proposed", "approved"],
            ["request", "<given 4>", "recorded", None],
        ],
        key=str,
    )
    assert b["histories"] == a["histories"]


async def _notifications(dsn: str) -> tuple[asyncpg.Connection, list[str]]:
    heard: list[str] = []
    listener = await asyncpg.connect(dsn)
    await listener.add_listener("civop_changes", lambda *args: heard.append(args[3]))
    return listener, heard


async def test_the_demo_loader_records_the_same_without_triggers() -> None:
    """Committed, in databases of their own: the notifications go out on commit."""
    seen = []
    seen_histories = []
    for triggers in (True, False):
        name = f"{TEST_DB}_trail_{'on' if triggers else 'off'}"
        engine = None
        try:  # (a database half made is dropped too)
            engine = create_async_engine(await create_database(name))
            if not triggers:
                async with engine.begin() as conn:
                    assert await _drop_statement_triggers(conn.execute) == 10 * len(COLLECTIONS) + 3
            listener, heard = await _notifications(_server_dsn(name))
            await load_demo(engine, incidents=1_200)
            await asyncio.sleep(0.2)
            await listener.close()
            async with engine.connect() as conn:
                audit = (
                    await conn.execute(
                        text(
                            "SELECT action, collection, record_id, after - 'created_at' "
                            "- 'updated_at', actor, context FROM audit_log ORDER BY id"
                        )
                    )
                ).all()
                events = (await conn.execute(text(EVENTS), {"mark": 0})).all()
                versions = dict((await conn.execute(text(VERSIONS))).all())
                histories = sorted(
                    map(tuple, (await conn.execute(text(DEMO_HISTORIES))).all()), key=str
                )
            assert histories, "the demo has projects and requests"
            seen.append((audit, events, versions, set(heard)))
            seen_histories.append(histories)
        finally:
            if engine is not None:
                await engine.dispose()
            await drop_database(name)
    (audit_a, events_a, versions_a, heard_a), (audit_b, events_b, versions_b, heard_b) = seen
    assert seen_histories[1] == seen_histories[0]
    by_collection = {}
    for row in audit_b:
        by_collection[row[1]] = by_collection.get(row[1], 0) + 1
    assert by_collection["incidents"] == 1_200 and by_collection["patrols"] > 0
    # 1,200 incidents in one statement: lean audit rows and one 'reload' event, as the triggers do.
    assert all(row[3] is None for row in audit_b if row[1] == "incidents")
    assert sorted(map(tuple, audit_b), key=str) == sorted(map(tuple, audit_a), key=str)
    assert sorted(map(tuple, events_b), key=str) == sorted(map(tuple, events_a), key=str)
    assert set(versions_b) == set(versions_a)
    assert {"incidents", "patrols", "events"} <= heard_b
    assert heard_b == heard_a


async def test_a_change_waits_for_a_concurrent_one_and_records_what_it_replaced() -> None:
    """The previous values in the audit are those the change replaced, even when another
    transaction changed the record between the start of the statement and its row lock."""
    name = f"{TEST_DB}_trail_race"
    incidents = COLLECTIONS["incidents"].table
    engine, other = None, None
    try:  # (a database half made is dropped too)
        engine = create_async_engine(await create_database(name))
        other = await asyncpg.connect(_server_dsn(name))
        async with engine.begin() as conn:
            await _drop_statement_triggers(conn.execute)
            record = await conn.scalar(
                text(
                    "INSERT INTO incidents (category, occurred_at, severity, geom) VALUES "
                    "('looting', now(), 2, ST_SetSRID(ST_MakePoint(25, 5), 4326)) RETURNING id"
                )
            )
        async with other.transaction():
            await other.execute("UPDATE incidents SET severity = 5 WHERE id = $1", record)

            async def change() -> None:
                async with AsyncSession(engine) as session:
                    await trail.write(
                        trail.on_session(session),
                        incidents,
                        update(incidents).where(incidents.c.id == record).values(killed=3),
                        kind="update",
                        targets=[record],
                    )
                    await session.commit()

            changing = asyncio.create_task(change())
            await asyncio.sleep(0.5)
            assert not changing.done()  # waiting for the other transaction's row lock
        await asyncio.wait_for(changing, 10)
        async with engine.connect() as conn:
            before, after = (
                await conn.execute(
                    text(
                        "SELECT before, after FROM audit_log WHERE record_id = :id "
                        "AND action = 'update'"
                    ),
                    {"id": record},
                )
            ).one()
        assert (before["severity"], before["killed"]) == (5, 0)
        assert (after["severity"], after["killed"]) == (5, 3)
    finally:
        if other is not None:
            await other.close()
        if engine is not None:
            await engine.dispose()
        await drop_database(name)


async def test_the_triggers_are_looked_up_once_per_process(
    client: AsyncClient, headers: Headers, connection: AsyncConnection
) -> None:
    """Each write asked PostgreSQL which triggers its table runs; they change only with the
    schema, so the service asks once."""
    from sqlalchemy import event

    lookups: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "pg_trigger t JOIN pg_proc p" in statement and "tgrelid = CAST" in statement:
            lookups.append(statement)

    trail.forget_triggers()
    event.listen(connection.sync_connection, "before_cursor_execute", seen)
    try:
        for severity in (2, 3, 4):
            feature = factories.feature("incidents", severity=severity)
            response = await client.post("/api/incidents", json=feature, headers=headers("admin"))
            assert response.status_code == 201, response.text
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", seen)
    assert len(lookups) == 1
