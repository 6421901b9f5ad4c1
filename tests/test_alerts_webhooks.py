"""Webhook delivery through the outbox: a receiver that is down at first gets the alert once it
is back, also when the service was restarted in between (the outbox is in the database); each
receiver reads the alert in its webhook's language, and in every language the mission
publishes in."""

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
        self.heads: list[str] = []
        self.server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head.decode().lower())
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


async def serve(
    database_url: str, port: int, hook: str, more: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **(more or {}),
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


async def test_each_webhook_reads_the_alert_in_its_language_and_every_published_one(
    own_database: tuple[str, AsyncEngine],
) -> None:
    """The deployment's webhook (no language: English, as before) and one an admin added for a
    French-speaking situation room receive the same alert, each with its title and description
    in its own language; both carry them in every language the mission publishes in."""
    url, engine = own_database
    async with AsyncSession(engine) as session:
        _, key = await auth.create_api_key(session, "admin", "tests")
    english_port, french_port, port = free_port(), free_port(), free_port()
    english, french = Receiver(english_port), Receiver(french_port)
    await english.start()
    await french.start()
    base = f"http://127.0.0.1:{port}"
    published = {"CIVOP_ALERT_LANGUAGES": json.dumps(["en", "fr"])}
    process = await serve(url, port, f"http://127.0.0.1:{english_port}/hook", published)
    try:
        async with httpx.AsyncClient(headers={"X-API-Key": key}) as http:
            hook = {"name": "Salle de situation", "url": f"http://127.0.0.1:{french_port}/hook"}
            unknown = await http.post(
                f"{base}/api/alert_webhooks", json={**hook, "language": "tlh"}
            )
            assert unknown.status_code == 422
            assert unknown.json()["detail"][0]["loc"] == ["language"]  # as url and name
            added = await http.post(f"{base}/api/alert_webhooks", json={**hook, "language": "fr"})
            assert added.status_code == 201 and added.json()["language"] == "fr"
            listed = (await http.get(f"{base}/api/alert_webhooks")).json()
            assert [w["language"] for w in listed] == ["fr"]
            rule = {"name": "hook", "kind": "incident_near_site", "radius_km": 5, "min_severity": 1}
            assert (await http.post(f"{base}/api/alert_rules", json=rule)).status_code == 201
            site = factories.feature(
                "idp_sites", geometry=factories.point(26.5, 4.5), classification="public"
            )
            assert (await http.post(f"{base}/api/idp_sites", json=site)).status_code == 201
            incident = factories.feature(
                "incidents", geometry=factories.point(26.5 + KM, 4.5), classification="public"
            )
            assert (await http.post(f"{base}/api/incidents", json=incident)).status_code == 201
        for _ in range(200):
            if english.bodies and french.bodies:
                break
            await asyncio.sleep(0.1)
        assert len(english.bodies) == 1 and len(french.bodies) == 1
        in_english = json.loads(english.bodies[0])["properties"]
        in_french = json.loads(french.bodies[0])["properties"]
        # The same alert, each in its receiver's language.
        assert in_english["rule_id"] == in_french["rule_id"]
        assert in_english["records"] == in_french["records"]
        assert in_english["title"].startswith("Severity 3 ")
        assert in_english["description"].startswith("An incident (")
        assert in_french["title"].startswith("Gravité 3 : ")
        assert in_french["description"].startswith("Un incident (")
        assert (in_english["language"], in_french["language"]) == ("en", "fr")
        assert "content-language: en" in english.heads[0]
        assert "content-language: fr" in french.heads[0]
        # Both carry the alert in the published languages (not in Arabic, which civop speaks
        # but this mission does not publish in).
        assert in_english["texts"] == in_french["texts"]
        assert list(in_english["texts"]) == ["en", "fr"]
        texts = in_english["texts"]
        assert texts["en"] == {k: in_english[k] for k in ("title", "description")}
        assert texts["fr"] == {k: in_french[k] for k in ("title", "description")}
    finally:
        stop_service(process)
        await english.stop()
        await french.stop()
