"""Jobs as users meet them, against the service and its job worker in processes of their own:
a large export answers ``202`` with a job its owner follows and fetches; nobody else sees the
job or its result; jobs can be cancelled (queued and running), retried, are limited per user
(``429`` with ``Retry-After``) and in time (the process is killed), and results expire."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.auth.security import issue_token
from service.config import get_settings
from tests import factories, geofiles
from tests.conftest import TEST_DB, create_database, drop_database, serving
from tests.test_alerts_live import subscribe

#: Exports of more records than this are jobs on the test server.
INLINE_ROWS = 5
#: Results are kept this many seconds on the test server.
RESULT_S = 20


@dataclass
class JobServer:
    url: str
    engine: AsyncEngine
    world: factories.World

    def auth(self, user: str) -> dict[str, str]:
        token, _ = issue_token(
            self.world.users[user], get_settings().signing_key(), timedelta(minutes=30)
        )
        return {"Authorization": f"Bearer {token}"}

    def client(self, user: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=self.auth(user), timeout=60)


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[JobServer]:
    name = f"{TEST_DB}_jobs"
    url = await create_database(name)
    engine = create_async_engine(url)
    world = await factories.build_world(engine)
    env = {
        "DATABASE_URL": url.replace("postgresql+asyncpg://", "postgresql://", 1),
        "CIVOP_JOBS_EXPORT_INLINE_ROWS": str(INLINE_ROWS),
        # Every import, preview and rollback is a job; reports have less time than they take.
        "CIVOP_JOBS_IMPORT_INLINE_MB": "0",
        "CIVOP_JOBS_ROLLBACK_INLINE_ROWS": "0",
        "CIVOP_JOBS_TIME_LIMITS": json.dumps({"report": 1}),
        "CIVOP_JOBS_CONCURRENCY": "1",
        "CIVOP_JOBS_PER_USER": "2",
        "CIVOP_JOBS_RESULT_HOURS": str(RESULT_S / 3600),
        "CIVOP_JOBS_STALE_S": "5",
        "CIVOP_JOBS_EXPOSURE_INLINE_SITES": "1",
        "CIVOP_JOBS_EMERGING_INLINE_CELLS": "100",
        "CIVOP_JOBS_ANALYSIS_INLINE_CELLS": "1000",
    }
    try:
        async with serving(env, "jobs-server.log") as base:
            yield JobServer(base, engine, world)
    finally:
        await engine.dispose()
        await drop_database(name)


async def _incidents(server: JobServer, count: int, mark: str) -> None:
    async with server.client("admin") as http:
        for i in range(count):
            feature = factories.feature(
                "incidents",
                geometry=factories.point(24.0 + i * 0.01, 7.0),
                description=f"{mark} {i}",
                classification="public",
            )
            assert (await http.post("/api/incidents", json=feature)).status_code == 201


async def finished(http: httpx.AsyncClient, location: str, within_s: float = 180) -> dict[str, Any]:
    """Follow a job until it has finished."""
    deadline = time.monotonic() + within_s
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = (await http.get(location)).json()
        if job["state"] not in ("queued", "running"):
            return job
        await asyncio.sleep(0.2)
    raise AssertionError(f"the job did not finish: {job}")


async def until_state(
    http: httpx.AsyncClient, location: str, state: str, within_s: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = (await http.get(location)).json()
        if job["state"] == state:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"the job never was {state}: {job}")


async def test_a_large_export_is_a_job_only_its_owner_follows_and_fetches(
    server: JobServer, tmp_path: Path
) -> None:
    await _incidents(server, INLINE_ROWS + 3, "owned-export")
    async with server.client("officer") as http:
        small = await http.get(
            "/api/incidents/export", params={"format": "csv", "q": "owned-export 1"}
        )
        assert small.status_code == 200  # under the threshold: the file itself
        asked = await http.get(
            "/api/incidents/export", params={"format": "geojson", "q": "owned-export"}
        )
        assert asked.status_code == 202, asked.text
        location = asked.headers["location"]
        assert location.endswith(f"/api/jobs/{asked.json()['id']}")
        assert asked.json()["kind"] == "export" and asked.json()["owner"] == "officer"
        job = await finished(http, location)
        assert job["state"] == "succeeded", job
        assert job["progress"] == {
            "done": INLINE_ROWS + 3,
            "total": INLINE_ROWS + 3,
            "unit": "rows",
            "percent": 100.0,
        }
        assert job["started_at"] and job["finished_at"] and job["expires_at"]
        result = await http.get(job["result"])
        assert result.status_code == 200
        assert result.headers["content-type"] == "application/geo+json"
        path = tmp_path / "incidents.geojson"
        path.write_bytes(result.content)
        assert len(geofiles.features_of(path, "geojson")) == INLINE_ROWS + 3
        mine = (await http.get("/api/jobs")).json()
        assert job["id"] in [j["id"] for j in mine]

    async with server.client("analyst") as other:
        assert (await other.get(location)).status_code == 404
        assert (await other.get(f"{location}/result")).status_code == 404
        assert (await other.delete(location)).status_code == 404
        assert job["id"] not in [j["id"] for j in (await other.get("/api/jobs")).json()]
    async with server.client("admin") as admin:
        # An admin sees every job, but what it made is its owner's alone.
        seen = await admin.get(location)
        assert seen.status_code == 200 and seen.json()["result"] is None
        assert (await admin.get(f"{location}/result")).status_code == 404


async def test_jobs_are_cancelled_queued_and_running_and_can_be_retried(server: JobServer) -> None:
    await _incidents(server, INLINE_ROWS + 1, "cancel-export")
    params = {"format": "gpkg", "q": "cancel-export"}
    async with server.client("analyst") as http:
        first = (await http.get("/api/incidents/export", params=params)).json()
        second = (await http.get("/api/incidents/export", params=params)).json()
        # One job at a time on this worker: the second waits while the first runs.
        await until_state(http, first["links"]["self"], "running")
        waiting = (await http.get(second["links"]["self"])).json()
        assert waiting["state"] == "queued", waiting
        assert waiting["actions"] == ["cancel"]
        cancelled = await http.delete(second["links"]["self"])
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        running = await http.delete(first["links"]["self"])
        assert running.status_code == 200, running.text
        assert running.json()["error"] == "cancelled by analyst"
        assert (await http.delete(first["links"]["self"])).status_code == 409
        # Neither goes on, and neither leaves a result.
        await asyncio.sleep(3)
        for job in (first, second):
            now = (await http.get(job["links"]["self"])).json()
            assert now["state"] == "cancelled" and now["result"] is None, now
            assert now["actions"] == ["retry"]  # its owner may run it again
        assert (await http.get(f"{second['links']['self']}/result")).status_code == 409
        async with server.client("admin") as admin:
            seen = (await admin.get(second["links"]["self"])).json()
            assert seen["actions"] == []  # an admin cancels others' jobs, but never reruns them

        again = await http.post(f"{second['links']['self']}/retry")
        assert again.status_code == 202, again.text
        done = await finished(http, again.headers["location"])
        assert done["state"] == "succeeded" and done["attempts"] == 1, done
        assert done["actions"] == []
        assert (await http.get(done["result"])).status_code == 200


async def test_a_user_with_too_many_jobs_is_told_when_to_come_back(server: JobServer) -> None:
    await _incidents(server, INLINE_ROWS + 1, "limit-export")
    params = {"format": "shapefile", "q": "limit-export"}
    async with server.client("analyst-cleared") as http:
        accepted = [await http.get("/api/incidents/export", params=params) for _ in range(2)]
        assert [r.status_code for r in accepted] == [202, 202]
        refused = await http.get("/api/incidents/export", params=params)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) > 0
        assert "2 jobs queued or running" in refused.json()["detail"]
        # Another user is not held up by this one's jobs.
        async with server.client("officer-north") as other:
            assert (await other.get("/api/incidents/export", params=params)).status_code == 202
        for response in accepted:
            await finished(http, response.headers["location"])
        assert (await http.get("/api/incidents/export", params=params)).status_code == 202


async def test_the_time_limit_kills_the_job_and_it_can_be_retried(server: JobServer) -> None:
    sector = str(server.world.sectors["North"])
    async with server.client("officer") as http:
        asked = await http.get("/api/reports/civ-oes", params={"sector": sector})
        assert asked.status_code == 202, asked.text
        job = await finished(http, asked.headers["location"])
        assert job["state"] == "failed", job
        assert "time limit" in job["error"] and "retry" in job["error"], job
        assert job["result"] is None
        assert (await http.get(f"{asked.headers['location']}/result")).status_code == 409
        again = await http.post(f"{asked.headers['location']}/retry")
        assert again.status_code == 202 and again.json()["state"] == "queued"
        assert (await finished(http, asked.headers["location"]))["attempts"] == 2
        # Refused areas are answered at once, not as failed jobs.
        unknown = await http.get(
            "/api/reports/civ-oes", params={"sector": "00000000-0000-0000-0000-000000000000"}
        )
        assert unknown.status_code == 404


async def test_imports_previews_and_rollbacks_run_as_jobs(
    server: JobServer, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.csv"
    rows = [dict(r, external_id=f"job-{r['external_id']}") for r in geofiles.INCIDENTS]
    path.write_text(geofiles.incidents_csv(rows))

    async def post(**data: str) -> httpx.Response:
        with path.open("rb") as upload:
            return await http.post(
                "/api/imports",
                files={"file": ("jobs.csv", upload, "text/csv")},
                data={"collection": "incidents", "origin": "jobs-test", **data},
            )

    async with server.client("officer") as http:
        preview = await post(dry_run="true")
        assert preview.status_code == 202, preview.text
        job = await finished(http, preview.headers["location"])
        assert job["state"] == "succeeded", job
        report = (await http.get(job["result"])).json()
        assert report["ok"] and report["would"]["create"] == len(rows), report

        imported = await post(wait="true")  # a file past the threshold: a job all the same
        assert imported.status_code == 202, imported.text
        assert 'rel="job"' in imported.headers["link"]
        record = imported.json()
        assert record["status"] == "queued"
        for _ in range(600):
            record = (await http.get(imported.headers["location"])).json()
            if record["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.2)
        assert record["status"] == "succeeded" and record["created"] == len(rows), record

        rollback = await http.post(f"/api/imports/{record['id']}/rollback")
        assert rollback.status_code == 202, rollback.text
        assert rollback.json()["kind"] == "import_rollback"
        undone = await finished(http, rollback.headers["location"])
        assert undone["state"] == "succeeded", undone
        after = (await http.get(f"/api/imports/{record['id']}")).json()
        assert after["status"] == "rolled_back", after

        # A large file is opened by the worker: one it cannot read fails its job, saying why.
        with (tmp_path / "notes.xyz").open("wb") as stream:
            stream.write(b"\x00\x01 not geodata " * 100)
        with (tmp_path / "notes.xyz").open("rb") as upload:
            refused = await http.post(
                "/api/imports",
                files={"file": ("notes.xyz", upload, "application/octet-stream")},
                data={"collection": "incidents"},
            )
        assert refused.status_code == 202, refused.text
        for _ in range(600):
            record = (await http.get(refused.headers["location"])).json()
            if record["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.2)
        assert record["status"] == "failed" and "nothing was imported" in record["message"]
        link = refused.headers["link"].split(">")[0].lstrip("<")
        job = await finished(http, link)
        assert job["state"] == "failed" and job["error"], job


async def test_a_job_runs_as_its_user_is_when_it_starts(server: JobServer) -> None:
    """A user disabled while their job waits gets nothing from it."""
    async with server.client("admin") as http:
        for i in range(INLINE_ROWS + 1):
            feature = factories.feature(
                "incidents",
                geometry=factories.point(24.0 + i * 0.01, 4.5),
                description=f"south-export {i}",
                classification="public",
            )
            assert (await http.post("/api/incidents", json=feature)).status_code == 201
    params = {"format": "csv", "q": "south-export"}
    async with (
        server.client("officer") as first_user,
        server.client("analyst-south") as http,
    ):
        ahead = await first_user.get("/api/incidents/export", params=params)
        asked = await http.get("/api/incidents/export", params=params)
        assert asked.status_code == 202, asked.text
        async with server.engine.begin() as connection:
            await connection.execute(
                text("UPDATE users SET disabled = true WHERE username = 'analyst-south'")
            )
        try:
            async with server.client("admin") as admin:
                job = await finished(admin, asked.headers["location"])
                await finished(admin, ahead.headers["location"])
        finally:
            async with server.engine.begin() as connection:
                await connection.execute(
                    text("UPDATE users SET disabled = false WHERE username = 'analyst-south'")
                )
    assert job["state"] == "failed" and "disabled" in job["error"], job
    assert job["result"] is None


async def test_results_are_removed_after_their_time(server: JobServer) -> None:
    await _incidents(server, INLINE_ROWS + 1, "expiring-export")
    async with server.client("partner") as http:
        asked = await http.get(
            "/api/incidents/export", params={"format": "csv", "q": "expiring-export"}
        )
        job = await finished(http, asked.headers["location"])
        assert (await http.get(job["result"])).status_code == 200
        await asyncio.sleep(RESULT_S + 1)
        gone = await http.get(job["result"])
        assert gone.status_code == 410 and "ask for it again" in gone.json()["detail"]
        later = (await http.get(asked.headers["location"])).json()
        assert later["result"] is None


async def test_job_progress_reaches_its_owner_only_on_the_live_stream(server: JobServer) -> None:
    await _incidents(server, INLINE_ROWS + 1, "streamed-export")
    async with (
        httpx.AsyncClient(timeout=60) as http,
        server.client("officer") as owner,
    ):
        key_owner = await _api_key(server, "officer")
        key_other = await _api_key(server, "admin")
        async with (
            subscribe(http, server.url, key_owner) as mine,
            subscribe(http, server.url, key_other) as theirs,
        ):
            asked = await owner.get(
                "/api/incidents/export", params={"format": "kml", "q": "streamed-export"}
            )
            job_id = asked.json()["id"]
            done = await mine.wait_for(
                lambda e: e.name == "job" and job_id in e.data and '"succeeded"' in e.data,
                within_s=120,
            )
            assert json.loads(done.data)["progress"]["percent"] == 100.0
            await asyncio.sleep(1)
            assert not [e for e in theirs.events if e.name == "job"]


async def _api_key(server: JobServer, user: str) -> str:
    from sqlalchemy.ext.asyncio import AsyncSession

    from service.auth import service as auth

    async with AsyncSession(server.engine) as session:
        _, key = await auth.create_api_key(session, user, "tests")
    return key


async def test_an_exposure_analysis_over_many_sites_is_a_job(server: JobServer) -> None:
    async with server.client("admin") as http:
        for x in (24.2, 24.4):
            site = factories.feature("idp_sites", geometry=factories.point(x, 7.0))
            assert (await http.post("/api/idp_sites", json=site)).status_code == 201
    params = {"bbox": "24,6.5,25,7.5", "datetime": "2020-01-01T00:00:00Z/.."}
    async with server.client("analyst") as http:
        asked = await http.get("/api/analysis/exposure", params=params)
        assert asked.status_code == 202, asked.text
        assert asked.json()["kind"] == "exposure"
        job = await finished(http, asked.headers["location"])
        assert job["state"] == "succeeded", job
        result = await http.get(job["result"])
        assert result.headers["content-type"] == "application/geo+json"
        assert len(result.json()["features"]) >= 2


async def test_an_emerging_hot_spot_analysis_over_a_large_area_is_a_job(
    server: JobServer,
) -> None:
    params = {"bbox": "24,6.5,25,7.5", "resolution": 6, "windows": 10}
    async with server.client("analyst") as http:
        asked = await http.get("/api/analysis/emerging-hotspots", params=params)
        assert asked.status_code == 202, asked.text
        assert asked.json()["kind"] == "emerging_hotspots"
        job = await finished(http, asked.headers["location"])
        assert job["state"] == "succeeded", job
        result = await http.get(job["result"])
        assert result.headers["content-type"] == "application/geo+json"
        body = result.json()
        assert len(body["summary"]["windows"]) == 10
        assert "tested" in body["summary"]
        # A small area answers at once.
        small = await http.get(
            "/api/analysis/emerging-hotspots",
            params={"bbox": "24,6.5,24.2,6.7", "resolution": 6, "windows": 2},
        )
        assert small.status_code == 200, small.text


async def test_a_job_over_its_memory_limit_fails_saying_so() -> None:
    """The process running a job may use ``CIVOP_JOBS_MEMORY_MB`` (its address space): a job
    that needs more fails with that reason, and the service goes on."""
    name = f"{TEST_DB}_jobs_memory"
    url = await create_database(name)
    engine = create_async_engine(url)
    world = await factories.build_world(engine)
    env = {
        "DATABASE_URL": url.replace("postgresql+asyncpg://", "postgresql://", 1),
        # Less than the interpreter and the service's modules take before any work starts.
        "CIVOP_JOBS_MEMORY_MB": "64",
    }
    try:
        async with serving(env, "jobs-memory-server.log") as base:
            server = JobServer(base, engine, world)
            async with server.client("officer") as http:
                asked = await http.get(
                    "/api/reports/civ-oes", params={"sector": str(world.sectors["North"])}
                )
                assert asked.status_code == 202, asked.text
                job = await finished(http, asked.headers["location"])
                assert job["state"] == "failed", job
                assert "64 MiB" in job["error"] and "CIVOP_JOBS_MEMORY_MB" in job["error"], job
                assert job["result"] is None
                assert (await http.get("/health")).status_code == 200
    finally:
        await engine.dispose()
        await drop_database(name)


async def test_risk_and_hot_spots_over_a_large_area_are_jobs_small_ones_answer_at_once(
    server: JobServer,
) -> None:
    large: dict[str, str | int] = {
        "bbox": "24,6.5,25,7.5",
        "resolution": 7,
        "datetime": "2020-01-01T00:00:00Z/..",
    }
    small = {**large, "bbox": "24.4,6.9,24.6,7.1"}
    async with server.client("analyst") as http:
        for route, kind in (("risk", "risk"), ("hotspots", "hotspots")):
            at_once = await http.get(f"/api/analysis/{route}", params=small)
            assert at_once.status_code == 200, at_once.text
            asked = await http.get(f"/api/analysis/{route}", params=large)
            assert asked.status_code == 202, asked.text
            assert asked.json()["kind"] == kind
            assert asked.json()["progress"]["unit"] == "cells"
            job = await finished(http, asked.headers["location"])
            assert job["state"] == "succeeded", job
            result = await http.get(job["result"])
            assert result.headers["content-type"] == "application/geo+json"
            body = result.json()
            assert body["type"] == "FeatureCollection"
            assert body["parameters"]["resolution"] == 7
        # The job's hot-spot answer covers every cell of the large area, as the route would.
        assert body["summary"]["cells"] > 1000
