"""`civop backup` and `civop restore` round-trip a whole database: every table (records, users
and keys, the audit trail, import jobs, alerts and their outbox, the event log) comes back
row for row, and sequences continue where they were. A restore never clobbers a database that
holds data unless told to, and a failed backup leaves no file that looks whole."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from service.auth import service as auth
from service.field_reports import xlsform
from service.ops.backup import USER_RELATIONS
from tests import factories
from tests.conftest import TEST_DB, TEST_URL, create_database, drop_database, free_port
from tests.reliability.conftest import (
    Service,
    create_seeded_database,
    drop_database_on,
    record_figures,
)
from tests.test_field_reports import ANSWERS, kobo_submission

INCIDENTS = 500
KM = 1 / 111.32


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def civop(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """The command line, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env={**os.environ, "DATABASE_URL": _plain(database_url)},
        capture_output=True,
        text=True,
        timeout=300,
    )


async def fingerprint(url: str) -> dict[str, Any]:
    """Row count and checksum of every table, and the position of every sequence."""
    connection = await asyncpg.connect(_plain(url))
    try:
        tables = {}
        for row in await connection.fetch(USER_RELATIONS):
            schema, _, table = row[0].partition(".")
            rows = f"""SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))
                FROM "{schema}"."{table}" t"""  # noqa: S608 - names from the catalog
            count, checksum = await connection.fetchrow(rows)
            tables[row[0]] = (count, checksum)
        sequences = {
            f"{r['schemaname']}.{r['sequencename']}": r["last_value"]
            for r in await connection.fetch("SELECT * FROM pg_sequences")
        }
        return {"tables": tables, "sequences": sequences}
    finally:
        await connection.close()


#: Job-queue tables with rows only while workers run (their heartbeats) or with periodic
#: tasks (civop has none): empty in a database at rest, and copied like the others.
EMPTY_WHEN_IDLE = {"public.procrastinate_workers", "public.procrastinate_periodic_defers"}


async def _fill_through_the_service(url: str) -> None:
    """What only the running service writes: alert rules, alerts, their notes, webhooks and
    outbox, an import job, an export's job, an assistance request, a field report through an
    intake form, a dismissed pair of duplicates; and an API key."""
    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine) as session:
            await auth.create_api_key(session, "admin", "backup test")
    finally:
        await engine.dispose()
    hook = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: deliveries wait in the outbox
    service = Service(
        url,
        "reliability-backup-server.log",
        settings={
            "CIVOP_ALERT_WEBHOOK_URLS": json.dumps([hook]),
            "CIVOP_ALERTS_SCHEDULE_S": "1",
            # Every export is written by a worker: a job with a result, in seconds.
            "CIVOP_JOBS_EXPORT_INLINE_ROWS": "0",
        },
    )
    await service.start()
    try:
        headers = await service.tokens()
        async with httpx.AsyncClient(base_url=service.url, timeout=60) as http:
            rule = await http.post(
                "/api/alert_rules",
                json={
                    "name": "Near a camp",
                    "kind": "incident_near_site",
                    "min_severity": 1,
                    "radius_km": 10,
                },
                headers=headers["officer"],
            )
            assert rule.status_code == 201, rule.text
            scheduled = await http.post(  # evaluated on a schedule; keeps a state per camp
                "/api/alert_rules",
                json={"name": "Any risk", "kind": "risk_threshold", "threshold": 0.0001},
                headers=headers["officer"],
            )
            assert scheduled.status_code == 201, scheduled.text
            site = await http.get("/api/idp_sites?limit=1&status=open", headers=headers["admin"])
            x, y = site.json()["features"][0]["geometry"]["coordinates"][:2]
            incident = factories.feature(
                "incidents",
                geometry=factories.point(round(x + 2 * KM, 5), y),
                occurred_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                severity=4,
            )
            created = await http.post(  # a write a client may retry safely
                "/api/incidents",
                json=incident,
                headers={**headers["officer"], "Idempotency-Key": "backup-incident-1"},
            )
            assert created.status_code == 201, created.text
            for _ in range(150):
                alerts = await http.get("/api/alerts", headers=headers["admin"])
                if alerts.status_code == 200 and alerts.json()["features"]:
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("no alert for an incident next to a camp")
            upload = json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        factories.feature("incidents", geometry=factories.point(25.0 + i / 10, 6.0))
                        for i in range(3)
                    ],
                }
            )
            imported = await http.post(
                "/api/imports",
                files={"file": ("incidents.geojson", upload.encode())},
                data={"collection": "incidents", "wait": "true"},
                headers=headers["officer"],
            )
            assert imported.status_code == 201, imported.text
            export = await http.get(  # a job, with its result
                "/api/sectors/export", params={"format": "csv"}, headers=headers["admin"]
            )
            assert export.status_code == 202, export.text
            for _ in range(600):
                job = await http.get(export.headers["location"], headers=headers["admin"])
                if job.json()["state"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.2)
            assert job.json()["state"] == "succeeded", job.text
            if "/api/assistance_requests" in (await http.get("/openapi.json")).json()["paths"]:
                await _assistance_request(http, headers["officer"])
            alert = alerts.json()["features"][0]["id"]
            await _what_officers_and_admins_add(http, headers, alert, created.json()["id"])
        await _wait_for_rows(url, "alert_rule_states")
        # A job still queued when the backup is taken: the worker deletes the job queue's rows
        # of the jobs it finished, so one is asked for once no worker runs.
        service.stop_workers()
        async with httpx.AsyncClient(base_url=service.url, timeout=60) as http:
            queued = await http.get(
                "/api/actors/export", params={"format": "geojson"}, headers=headers["admin"]
            )
            assert queued.status_code == 202, queued.text
    finally:
        service.stop()
    await _store_a_camp_too_big_to_draw(url)


async def _store_a_camp_too_big_to_draw(url: str) -> None:
    """A camp outline of over 50,000 vertices, stored by SQL (the API refuses it): the bounded
    outline tiles and analyses read is kept beside it (geometry_outlines)."""
    connection = await asyncpg.connect(_plain(url))
    try:
        await connection.execute(
            """UPDATE idp_sites SET geom = ST_Buffer(ST_PointOnSurface(geom), 0.005, 12600)
            WHERE id = (SELECT id FROM idp_sites ORDER BY id LIMIT 1)"""
        )
    finally:
        await connection.close()
    await _wait_for_rows(url, "geometry_outlines")


async def _wait_for_rows(url: str, table: str) -> None:
    connection = await asyncpg.connect(_plain(url))
    try:
        for _ in range(150):
            if await connection.fetchval(f"SELECT count(*) FROM {table}"):  # noqa: S608
                return
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    raise AssertionError(f"nothing was written to {table}")


async def _what_officers_and_admins_add(
    http: httpx.AsyncClient, headers: dict[str, dict[str, str]], alert: str, incident: str
) -> None:
    """A note on an alert, a webhook an admin adds, an intake form and a field report it
    took, and a pair of reports judged not to be duplicates."""
    note = await http.post(
        f"/api/alerts/{alert}/notes",
        json={"note": "Patrol sent to the camp"},
        headers=headers["officer"],
    )
    assert note.status_code == 201, note.text
    hook = f"http://127.0.0.1:{free_port()}/admin-hook"  # nobody listens either
    webhook = await http.post(
        "/api/alert_webhooks",
        json={"name": "Protection cluster", "url": hook},
        headers=headers["admin"],
    )
    assert webhook.status_code == 201, webhook.text
    form = await http.post(
        "/api/intake-forms",
        json={"form_id": xlsform.FORM_ID, "title": "Patrol incident reports"},
        headers=headers["admin"],
    )
    assert form.status_code == 201, form.text
    report = await http.post(
        f"/api/intake/{xlsform.FORM_ID}",
        json=kobo_submission(ANSWERS),
        headers={"X-Civop-Form-Token": form.json()["token"]},
    )
    assert report.status_code == 201, report.text
    dismissed = await http.post(
        f"/api/incidents/{incident}/duplicates/{report.json()['incident_id']}/dismiss",
        json={"reason": "Another market, another day"},
        headers=headers["officer"],
    )
    assert dismissed.status_code == 204, dismissed.text


async def _assistance_request(http: httpx.AsyncClient, officer: dict[str, str]) -> None:
    actor = (await http.get("/api/actors?limit=1", headers=officer)).json()["features"][0]["id"]
    request = {
        "type": "Feature",
        "geometry": factories.point(25.21, 7.31),
        "properties": {
            "title": "Airlift of cholera kits",
            "need": "4 t of cholera kits; the road is cut",
            "capability": "air_transport",
            "requested_at": "2026-11-10T08:00:00Z",
            "needed_from": "2026-11-12T00:00:00Z",
            "needed_until": "2026-12-05T00:00:00Z",
            "capability_unique": True,
            "no_civilian_alternative": True,
            "limited_in_time_and_space": True,
            "justification": "No civilian helicopter before the rains",
            "requesting_actor_id": actor,
        },
    }
    created = await http.post("/api/assistance_requests", json=request, headers=officer)
    assert created.status_code == 201, created.text


@pytest.fixture(scope="module")
async def source() -> AsyncIterator[str]:
    """A database with data in every table."""
    name = f"{TEST_DB}_backup"
    url = await create_seeded_database(TEST_URL, name, INCIDENTS)
    try:
        await _fill_through_the_service(url)
        yield url
    finally:
        await drop_database_on(TEST_URL, name)


@pytest.fixture
async def target_name() -> AsyncIterator[str]:
    name = f"{TEST_DB}_restored"
    yield name
    await drop_database(name)


async def test_backup_and_restore_round_trip_every_table(
    source: str, target_name: str, tmp_path: Path
) -> None:
    before = await fingerprint(source)
    empty = sorted(
        table
        for table, (rows, _) in before["tables"].items()
        if rows == 0 and table not in EMPTY_WHEN_IDLE
    )
    assert not empty, f"the source database should have data in every table: {empty} are empty"

    file = tmp_path / "civop.dump"
    made = civop("backup", str(file), database_url=source)
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(file.stat().st_mode) == 0o600  # holds password hashes and restricted data
    restored = civop("restore", str(file), "--into", target_name, database_url=source)
    assert restored.returncode == 0, restored.stderr

    after = await fingerprint(TEST_URL.set(database=target_name).render_as_string(False))
    assert after["tables"].keys() == before["tables"].keys()
    differing = [t for t in before["tables"] if before["tables"][t] != after["tables"][t]]
    assert not differing, f"tables that did not come back identical: {differing}"
    assert after["sequences"] == before["sequences"]
    assert await fingerprint(source) == before  # the backup changed nothing

    rows = sum(count for count, _ in before["tables"].values())
    record_figures(
        "backup",
        {"tables": len(before["tables"]), "rows": rows, "bytes": file.stat().st_size},
        [
            f"{len(before['tables'])} tables, {rows:,} rows, every table identical after restore",
            f"backup {file.stat().st_size / 1e6:.1f} MB: {made.stdout.strip()}",
            f"restore: {restored.stdout.strip()}",
        ],
    )


async def test_restore_refuses_a_database_with_data_unless_told_to_replace_it(
    source: str, target_name: str, tmp_path: Path
) -> None:
    file = tmp_path / "civop.dump"
    assert civop("backup", str(file), database_url=source).returncode == 0
    other = await create_database(target_name)
    engine = create_async_engine(other)
    try:
        await factories.build_world(engine)  # someone else's mission
    finally:
        await engine.dispose()
    theirs = await fingerprint(other)

    refused = civop("restore", str(file), "--into", target_name, database_url=source)
    assert refused.returncode == 1
    assert "not empty" in refused.stderr and "--replace" in refused.stderr
    assert await fingerprint(other) == theirs

    replaced = civop("restore", str(file), "--into", target_name, "--replace", database_url=source)
    assert replaced.returncode == 0, replaced.stderr
    assert (await fingerprint(other))["tables"] == (await fingerprint(source))["tables"]


async def test_a_failed_backup_leaves_no_file(tmp_path: Path) -> None:
    missing = TEST_URL.set(database=f"{TEST_DB}_no_such_database").render_as_string(False)
    file = tmp_path / "civop.dump"
    failed = civop("backup", str(file), database_url=missing)
    assert failed.returncode == 1
    assert "pg_dump failed" in failed.stderr and "does not exist" in failed.stderr
    assert os.listdir(tmp_path) == []

    broken = tmp_path / "not-a-backup.dump"
    broken.write_bytes(b"PGDMP but cut short")
    refused = civop("restore", str(broken), "--into", f"{TEST_DB}_never", database_url=missing)
    assert refused.returncode == 1 and "is not a civop backup" in refused.stderr
