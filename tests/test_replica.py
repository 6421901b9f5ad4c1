"""Read replicas: a real streaming replica of the project-local cluster (pg_basebackup), the
service running against both. Map and tile reads are served by the replica, writes land on
the primary, a writer reads their own write at once, and reads survive the replica stopping."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from service.auth import service as auth
from tests import factories
from tests.conftest import (
    TEST_DB,
    TEST_URL,
    create_database,
    drop_database,
    free_port,
    start_service,
    stop_service,
)

ROOT = Path(__file__).resolve().parents[1]
PG = str(ROOT / "scripts" / "pg.sh")

pytestmark = pytest.mark.skipif(
    os.environ.get("CIVOP_LOCAL_CLUSTER") != "1",
    reason="needs the project-local cluster (make test)",
)


@dataclass
class Pair:
    url: str  # the service
    name: str  # database name
    replica_port: int
    engine: AsyncEngine

    def replica_dsn(self) -> str:
        return TEST_URL.set(
            drivername="postgresql", port=self.replica_port, database=self.name
        ).render_as_string(hide_password=False)

    def primary_dsn(self) -> str:
        return TEST_URL.set(drivername="postgresql", database=self.name).render_as_string(
            hide_password=False
        )

    async def key(self, username: str) -> str:
        async with AsyncSession(self.engine) as session:
            _, key = await auth.create_api_key(session, username, "replica-test")
        return key


async def transactions_on(dsn: str) -> int:
    """Transactions the server has run in this database (a replica counts its own)."""
    conn = await asyncpg.connect(dsn)
    try:
        value = await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(value)
    finally:
        await conn.close()


async def readers_on(dsn: str) -> int:
    """The service's read connections open on this server."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'civop-read' "
                "AND datname = current_database()"
            )
        )
    finally:
        await conn.close()


async def until(check: object, within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.2)


def pg(*args: str) -> None:
    """Run ``scripts/pg.sh``; a failure shows what it printed."""
    done = subprocess.run([PG, *args], capture_output=True, text=True)
    assert done.returncode == 0, f"pg.sh {' '.join(args)} failed:\n{done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
async def pair() -> AsyncIterator[Pair]:
    name = f"{TEST_DB}_replica"
    url = await create_database(name)
    engine = create_async_engine(url)
    await factories.build_world(engine)
    port = free_port()
    pg("replica-start", str(port))
    service_port = free_port()
    pair = Pair(f"http://127.0.0.1:{service_port}", name, port, engine)

    async def replica_ready() -> bool:
        try:
            conn = await asyncpg.connect(pair.replica_dsn())
        except (OSError, asyncpg.PostgresError):
            return False
        try:
            return bool(await conn.fetchval("SELECT pg_is_in_recovery()"))
        finally:
            await conn.close()

    await until(replica_ready, 60)
    env = {
        "DATABASE_URL": pair.primary_dsn(),
        "READ_DATABASE_URL": pair.replica_dsn(),
        "CIVOP_REPLICA_RETRY_S": "1",
        "CIVOP_READ_YOUR_WRITES_S": "5",
        "CIVOP_TILE_CACHE_MB": "0",
    }
    process = None
    try:
        process = await start_service(env, "replica-server.log", service_port)
        yield pair
    finally:
        if process is not None:
            stop_service(process)
        subprocess.run([PG, "replica-drop", str(port)], check=False, capture_output=True)
        await engine.dispose()
        await drop_database(name)


async def tile_reads(http: httpx.AsyncClient, count: int) -> None:
    for _ in range(count):
        assert (
            await http.get("/collections/sectors/tiles/WebMercatorQuad/6/36/30")
        ).status_code == 200


async def test_map_reads_are_served_by_the_replica(pair: Pair) -> None:
    key = await pair.key("analyst")
    async with httpx.AsyncClient(base_url=pair.url, headers={"X-API-Key": key}) as http:
        assert (await http.get("/collections/sectors/items")).status_code == 200
        before = await transactions_on(pair.replica_dsn())
        await tile_reads(http, 20)

        async def counted() -> bool:  # statistics reach pg_stat_database within a second or so
            return await transactions_on(pair.replica_dsn()) - before >= 20

        await until(counted)
    assert await readers_on(pair.replica_dsn()) >= 1
    assert await readers_on(pair.primary_dsn()) == 0


async def test_writes_land_on_the_primary_and_reach_readers_through_the_replica(pair: Pair) -> None:
    officer, analyst = await pair.key("officer"), await pair.key("analyst")
    async with httpx.AsyncClient(base_url=pair.url) as http:
        created = await http.post(
            "/api/incidents", json=factories.feature("incidents"), headers={"X-API-Key": officer}
        )
        assert created.status_code == 201
        record_id = created.json()["id"]
        # The writer reads their own write at once (from the primary).
        mine = await http.get(
            f"/collections/incidents/items/{record_id}", headers={"X-API-Key": officer}
        )
        assert mine.status_code == 200

        primary = await asyncpg.connect(pair.primary_dsn())
        assert (
            await primary.fetchval(
                "SELECT count(*) FROM incidents WHERE id = $1", __import__("uuid").UUID(record_id)
            )
            == 1
        )
        await primary.close()

        async def replicated() -> bool:
            response = await http.get(
                f"/collections/incidents/items/{record_id}", headers={"X-API-Key": analyst}
            )
            return response.status_code == 200

        await until(replicated)


async def test_reads_survive_the_replica_going_down_and_return_to_it(pair: Pair) -> None:
    key = await pair.key("analyst")
    async with httpx.AsyncClient(base_url=pair.url, headers={"X-API-Key": key}) as http:
        pg("replica-stop", str(pair.replica_port))
        for _ in range(5):
            assert (await http.get("/collections/sectors/items")).status_code == 200
            assert (
                await http.get("/collections/sectors/tiles/WebMercatorQuad/6/36/30")
            ).status_code == 200
        pg("replica-start", str(pair.replica_port))

        async def back_on_replica() -> bool:
            before = await transactions_on(pair.replica_dsn())
            await tile_reads(http, 10)
            await asyncio.sleep(1.2)
            return await transactions_on(pair.replica_dsn()) - before >= 10

        await until(back_on_replica, 30)
