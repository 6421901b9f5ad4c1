"""An import whose process is killed half-way leaves no records and no job that claims to run."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

Headers = Callable[[str], dict[str, str]]
ROWS = 200_000


def _big_csv(path: Path) -> None:
    with path.open("w", newline="") as stream:
        out = csv.writer(stream)
        out.writerow(["external_id", "category", "occurred_at", "severity", "lat", "lon"])
        for i in range(ROWS):
            out.writerow(
                [
                    f"k-{i}",
                    "other",
                    "2026-09-01T00:00:00Z",
                    1,
                    3.5 + (i % 500) / 100,
                    24.0 + (i % 400) / 100,
                ]
            )


async def test_an_import_killed_midway_leaves_no_rows_and_no_half_job(
    database: str, engine: AsyncEngine, client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    _big_csv(path)
    env = dict(
        os.environ,
        DATABASE_URL=database.replace("postgresql+asyncpg://", "postgresql://"),
        CIVOP_IMPORT_BATCH_ROWS="2000",
    )
    civop = Path(sys.executable).with_name("civop")
    process = subprocess.Popen(  # noqa: ASYNC220 - runs beside the test until it kills it
        [str(civop), "import", str(path), "--into", "incidents", "--origin", "killed-test"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    job_id = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with engine.connect() as connection:
                row = (
                    await connection.execute(
                        text("SELECT id, rows_read FROM import_jobs WHERE origin = 'killed-test'")
                    )
                ).first()
            if row is not None and row.rows_read > 0:
                job_id = row.id
                break
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            await asyncio.sleep(0.05)
        assert job_id is not None, "the import never reported progress"
        assert row is not None and row.rows_read < ROWS, "the import finished before the kill"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    async with engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM incidents WHERE origin = 'killed-test'")
        )
    assert count == 0
    job: dict[str, object] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = (await client.get(f"/api/imports/{job_id}", headers=headers("admin"))).json()
        if job["status"] != "running":
            break
        await asyncio.sleep(0.5)
    assert job["status"] == "failed"
    assert "interrupted" in str(job["message"]) and "nothing was imported" in str(job["message"])
    assert job["created"] == 0
