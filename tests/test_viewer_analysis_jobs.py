"""The map's hot-spot layer when the service hands the analysis to the job worker: the page
follows the job and draws its result, as it draws an answer given at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests import factories
from tests.conftest import TEST_DB, LiveServer, create_database, drop_database, serving
from tests.test_viewer import browser, open_map  # noqa: F401 - the module's browser fixture

# 60 incidents close together in the mission's middle: a hot spot.
WHERE = (23.15, 3.35)


@pytest.fixture(scope="module")
async def job_server() -> AsyncIterator[LiveServer]:
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"{TEST_DB}_analysis_jobs"
    url = await create_database(name)
    engine = create_async_engine(url)
    world = await factories.build_world(engine)
    env = {
        "DATABASE_URL": url.replace("postgresql+asyncpg://", "postgresql://", 1),
        "CIVOP_TILE_CACHE_MB": "0",
        # A small mission (some 100 cells at resolution 6), all of whose hot spots are a job.
        "CIVOP_MISSION_BBOX": "[22.9, 3.1, 23.5, 3.7]",
        "CIVOP_JOBS_ANALYSIS_INLINE_CELLS": "10",
    }
    try:
        async with serving(env, "analysis-jobs-server.log") as base:
            yield LiveServer(base, url, world, engine)
    finally:
        await engine.dispose()
        await drop_database(name)


async def test_hot_spots_computed_by_the_worker_are_drawn_on_the_map(
    browser: Any,  # noqa: F811 - the fixture imported above
    job_server: LiveServer,
) -> None:
    key = await job_server.api_key("admin")
    lon, lat = WHERE
    async with httpx.AsyncClient(
        base_url=job_server.url, headers={"X-API-Key": key}, timeout=30
    ) as http:
        for i in range(60):
            incident = factories.feature(
                "incidents",
                geometry=factories.point(lon + (i % 6) * 0.015, lat + (i // 6) * 0.01),
                classification="public",
                occurred_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
            )
            assert (await http.post("/api/incidents", json=incident)).status_code == 201
    analyst = await job_server.api_key("analyst")
    opened = await open_map(browser, job_server, "analyst")
    page = opened.page
    try:
        box = page.locator(".leaflet-control-layers-overlays label", has_text="Hot spots")
        await box.locator("input").check()
        await page.wait_for_function("civop.ready.hotspots !== undefined", timeout=60_000)
        assert opened.errors == [], opened.errors
        answers = [r for r in opened.responses if "/api/analysis/hotspots" in r.url]
        assert [r.status for r in answers] == [202]
        async with httpx.AsyncClient(
            base_url=job_server.url, headers={"X-API-Key": analyst}, timeout=30
        ) as http:
            jobs = (await http.get("/api/jobs")).json()
            done = [job for job in jobs if job["kind"] == "hotspots"]
            assert [job["state"] for job in done] == ["succeeded"], jobs
            found = (await http.get(done[0]["result"])).json()
        hot = [f["id"] for f in found["features"] if f["properties"]["hotspot"] == "hot"]
        assert hot, found["summary"]
        assert sorted(await opened.ids("hotspots")) == sorted(hot)
    finally:
        await page.context.close()  # its live streams end before the service stops
