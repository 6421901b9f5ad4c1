"""Webhook delivery through the outbox: a receiver that is down at first gets the alert once it
is back, also when the service was restarted in between (the outbox is in the database)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from service.auth import service as auth
from tests import factories
from tests.conftest import (
    TEST_DB,
    create_database,
    drop_database,
    free_port,
    start_service,
    stop_service,
)

KM = 1 / 111.32


class Receiver:
    """A minimal HTTP server on 127.0.0.1 that records the bodies POSTed to it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bodies: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode().split("\r\n"):
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        self.bodies.append(await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def serve(database_url: str, port: int, hook: str) -> subprocess.Popen[bytes]:
    env = {
        "DATABASE_URL": database_url.replace("postgresql+asyncpg://", "postgresql://", 1),
        "CIVOP_ALERT_WEBHOOK_URLS": json.dumps([hook]),
        "CIVOP_ALERT_WEBHOOK_BACKOFF_S": "0.2",
        "CIVOP_ALERT_WEBHOOK_BACKOFF_MAX_S": "0.4",
        "CIVOP_ALERT_WEBHOOK_POLL_S": "0.1",
        "CIVOP_ALERT_WEBHOOK_TIMEOUT_S": "1",
    }
    return await start_service(env, "webhook-server.log", port)


@pytest.fixture
async def own_database() -> AsyncIterator[tuple[str, AsyncEngine]]:
    name = f"{TEST_DB}_hooks"
    url = await create_database(name)
    engine = create_async_engine(url)
    await factories.build_world(engine)
    try:
        yield url, engine
    finally:
        await engine.dispose()
        await drop_database(name)


async def outbox(engine: AsyncEngine) -> list[tuple[int, bool]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT attempts, delivered_at IS NOT NULL FROM webhook_outbox")
        )
        return [(int(r[0]), bool(r[1])) for r in rows]


async def test_a_receiver_down_at_first_gets_the_alert_after_a_restart(
    own_database: tuple[str, AsyncEngine],
) -> None:
    url, engine = own_database
    async with AsyncSession(engine) as session:
        _, key = await auth.create_api_key(session, "admin", "tests")
    hook_port, port = free_port(), free_port()
    hook = f"http://127.0.0.1:{hook_port}/hook"
    base = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": key}
    receiver = Receiver(hook_port)
    process = await serve(url, port, hook)
    try:
        async with httpx.AsyncClient(headers=headers) as http:
            rule = {"name": "hook", "kind": "incident_near_site", "radius_km": 5, "min_severity": 1}
            assert (await http.post(f"{base}/api/alert_rules", json=rule)).status_code == 201
            site = factories.feature(
                "idp_sites", geometry=factories.point(26.5, 4.5), classification="public"
            )
            assert (await http.post(f"{base}/api/idp_sites", json=site)).status_code == 201
            incident = factories.feature(
                "incidents", geometry=factories.point(26.5 + KM, 4.5), classification="public"
            )
            posted = await http.post(f"{base}/api/incidents", json=incident)
            assert posted.status_code == 201
            incident_id = posted.json()["id"]
        # The receiver is down: deliveries fail and are retried with backoff.
        for _ in range(100):
            state = await outbox(engine)
            if state and state[0][0] >= 2:
                break
            await asyncio.sleep(0.1)
        assert len(state) == 1 and state[0][0] >= 2 and not state[0][1], state
        stop_service(process)
        await receiver.start()
        await asyncio.sleep(0.5)
        assert receiver.bodies == []  # nothing is delivered while the service is stopped
        process = await serve(url, port, hook)
        for _ in range(200):
            if receiver.bodies:
                break
            await asyncio.sleep(0.1)
        assert len(receiver.bodies) == 1
        alert = json.loads(receiver.bodies[0])
        assert alert["type"] == "Feature" and incident_id in json.dumps(alert)
        await asyncio.sleep(0.5)
        assert len(receiver.bodies) == 1  # delivered once
        assert (await outbox(engine))[0][1] is True
    finally:
        stop_service(process)
        await receiver.stop()
