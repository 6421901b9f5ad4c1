"""The service killed with SIGKILL (no shutdown of any kind) during a stream of writes, and its
job worker killed during an import uploaded through the API (imports run in worker
processes): after a restart every acknowledged write is there exactly once, and no half-import
is; the import's job says it was interrupted.

(An import by the command line killed half-way is covered by tests/test_imports_interrupted.py.)"""

from __future__ import annotations

import asyncio
import csv
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests import factories
from tests.conftest import TEST_DB, TEST_URL
from tests.reliability.conftest import (
    Service,
    create_seeded_database,
    drop_database_on,
    record_figures,
)

WRITERS = 10
WRITE_FOR_S = 3.0
IMPORT_ROWS = 200_000


@dataclass
class Killable:
    service: Service
    engine: AsyncEngine


@pytest.fixture(scope="module")
async def killable() -> AsyncIterator[Killable]:
    name = f"{TEST_DB}_kill"
    url = await create_seeded_database(TEST_URL, name, 500)
    # Small import batches: the job reports progress early, so it is killed half-way.
    service = Service(
        url,
        "reliability-kill-server.log",
        settings={"CIVOP_IMPORT_BATCH_ROWS": "2000", "CIVOP_JOBS_STALE_S": "3"},
    )
    engine = create_async_engine(url)
    try:
        await service.start()
        yield Killable(service, engine)
    finally:
        service.stop()
        await engine.dispose()
        await drop_database_on(TEST_URL, name)


@dataclass
class Ledger:
    """What the writers sent, and what the service acknowledged."""

    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    sent: list[str] = field(default_factory=list)  # the `source` of every creation sent
    created: dict[str, str] = field(default_factory=dict)  # source -> id, acknowledged
    revision: dict[str, int] = field(default_factory=dict)  # id -> last acknowledged revision
    patches_sent: int = 0


async def _writer(http: httpx.AsyncClient, number: int, ledger: Ledger) -> None:
    """Creates incidents and changes each one twice, until the service stops answering."""
    for serial in range(1_000_000):
        source = f"kill-{ledger.run}-{number}-{serial}"
        ledger.sent.append(source)
        feature = factories.feature(
            "incidents",
            geometry=factories.point(24.0 + number * 0.3, 4.0 + serial % 40 * 0.1),
            source=source,
            description="revision 0",
        )
        try:
            response = await http.post("/api/incidents", json=feature)
            assert response.status_code == 201, response.text
            record_id = response.json()["id"]
            ledger.created[source] = record_id
            ledger.revision[record_id] = 0
            for revision in (1, 2):
                ledger.patches_sent += 1
                patch = {"properties": {"description": f"revision {revision}"}}
                changed = await http.patch(f"/api/incidents/{record_id}", json=patch)
                assert changed.status_code == 200, changed.text
                ledger.revision[record_id] = revision
        except httpx.TransportError:
            return  # killed


async def test_every_acknowledged_write_survives_sigkill(killable: Killable) -> None:
    service = killable.service
    officer = (await service.tokens())["officer"]
    ledger = Ledger()
    async with httpx.AsyncClient(base_url=service.url, headers=officer, timeout=30) as http:
        writers = [asyncio.create_task(_writer(http, n, ledger)) for n in range(WRITERS)]
        await asyncio.sleep(WRITE_FOR_S)
        in_flight = len(ledger.sent) - len(ledger.created)
        service.kill()
        killed = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*writers), 30)
    assert len(ledger.created) > WRITERS, "too few writes before the kill to tell anything"
    await service.start()
    restarted = time.monotonic() - killed

    async with killable.engine.connect() as connection:
        stored = dict(
            (
                await connection.execute(
                    text(
                        "SELECT source, count(*) FROM incidents WHERE source LIKE :run "
                        "GROUP BY source"
                    ),
                    {"run": f"kill-{ledger.run}-%"},
                )
            ).all()
        )
    async with httpx.AsyncClient(base_url=service.url, headers=officer, timeout=30) as http:
        missing, stale = [], []
        for source, record_id in ledger.created.items():
            response = await http.get(f"/api/incidents/{record_id}")
            if response.status_code != 200:
                missing.append(source)
                continue
            description = response.json()["properties"]["description"]
            if int(description.split()[-1]) < ledger.revision[record_id]:
                stale.append(record_id)
    unacknowledged_stored = sum(1 for source in stored if source not in ledger.created)
    record_figures(
        "kill_writes",
        {
            "writers": WRITERS,
            "creations_sent": len(ledger.sent),
            "creations_acknowledged": len(ledger.created),
            "changes_sent": ledger.patches_sent,
            "changes_acknowledged": sum(ledger.revision.values()),
            "in_flight_at_kill": in_flight,
            "unacknowledged_but_stored": unacknowledged_stored,
            "restart_s": round(restarted, 2),
        },
        [
            f"{WRITERS} writers, SIGKILL after {WRITE_FOR_S:.0f} s: {len(ledger.created)} of "
            f"{len(ledger.sent)} creations and {sum(ledger.revision.values())} of "
            f"{ledger.patches_sent} changes acknowledged",
            f"after the restart ({restarted:.1f} s): {len(ledger.created) - len(missing)} "
            f"acknowledged creations found, {len(stale)} with an older revision than "
            f"acknowledged, {max(stored.values(), default=0)} copies at most; "
            f"{unacknowledged_stored} of {in_flight} in flight were committed",
        ],
    )
    assert not missing and not stale
    assert all(copies == 1 for copies in stored.values()), Counter(stored.values())
    assert set(ledger.created) <= set(stored) <= set(ledger.sent)


def _big_csv(path: Path) -> None:
    with path.open("w", newline="") as stream:
        out = csv.writer(stream)
        out.writerow(["external_id", "category", "occurred_at", "severity", "lat", "lon"])
        for i in range(IMPORT_ROWS):
            out.writerow(
                [
                    f"k-{i}",
                    "other",
                    "2026-09-01T00:00:00Z",
                    1,
                    3.5 + i % 500 / 100,
                    24 + i % 400 / 100,
                ]
            )


async def test_an_api_import_whose_worker_is_killed_midway_leaves_nothing_and_says_so(
    killable: Killable, tmp_path: Path
) -> None:
    service = killable.service
    admin = (await service.tokens())["admin"]
    path = tmp_path / "big.csv"
    _big_csv(path)
    origin = f"kill-import-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=service.url, headers=admin, timeout=120) as http:
        with path.open("rb") as upload:
            accepted = await http.post(
                "/api/imports",
                files={"file": ("big.csv", upload, "text/csv")},
                data={"collection": "incidents", "origin": origin},
            )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["id"]
        job: dict[str, Any] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = (await http.get(f"/api/imports/{job_id}")).json()
            if job["progress"]["rows_read"] > 0 or job["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "running", job
        assert 0 < job["progress"]["rows_read"] < IMPORT_ROWS, job
        read_at_kill = job["progress"]["rows_read"]
        service.kill_workers()  # the import runs in the worker
        killed = time.monotonic()

    service.start_workers()
    restarted = time.monotonic()
    async with httpx.AsyncClient(base_url=service.url, headers=admin, timeout=30) as http:
        while time.monotonic() - killed < 120:
            job = (await http.get(f"/api/imports/{job_id}")).json()
            if job["status"] != "running":
                break
            await asyncio.sleep(0.5)
        reported_after = time.monotonic() - killed
        after_restart = time.monotonic() - restarted
    async with killable.engine.connect() as connection:
        imported = await connection.scalar(
            text("SELECT count(*) FROM incidents WHERE origin = :origin"), {"origin": origin}
        )
        audited = await connection.scalar(
            text("SELECT count(*) FROM audit_log WHERE context = :context"),
            {"context": f"import:{job_id}"},
        )
    record_figures(
        "kill_import",
        {
            "rows": IMPORT_ROWS,
            "rows_read_at_kill": read_at_kill,
            "records_after_restart": imported,
            "job_status": job["status"],
            "job_failed_after_kill_s": round(reported_after, 1),
            "job_failed_after_restart_s": round(after_restart, 1),
        },
        [
            f"API import of {IMPORT_ROWS:,} rows, its worker killed after {read_at_kill:,} rows read: "
            f"{imported} records after the restart; the job says {job['status']!r} "
            f"{reported_after:.0f} s after the kill ({after_restart:.0f} s after the restart): "
            f"{job['message']}",
        ],
    )
    assert imported == 0 and audited == 0
    assert job["status"] == "failed" and "interrupted" in job["message"], job
    assert job["created"] == 0 and job["updated"] == 0
