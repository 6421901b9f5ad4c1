"""/health, and what users get while the database is away and after it comes back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.engine import make_url

from service.config import get_settings
from service.main import create_app
from tests import factories

Headers = Callable[[str], dict[str, str]]


async def test_health_reports_database_ok(client: AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["postgis"].startswith("3.")
    assert body["schema"]


class Outage:
    """A TCP relay in front of PostgreSQL that can cut the database off and bring it back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _relay(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self.target)
        self.writers.update({client_writer, server_writer})
        await asyncio.gather(
            self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer)
        )

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()


@pytest.fixture
async def outage(database: str) -> AsyncIterator[tuple[Outage, Any]]:
    url = make_url(database)
    relay = Outage(url.host or "127.0.0.1", url.port or 5432)
    await relay.up()
    settings = get_settings().model_copy(
        update={
            "database_url": url.set(host="127.0.0.1", port=relay.port).render_as_string(
                hide_password=False
            ),
            # The default: on a loaded machine a connection through the relay took over a
            # second, and the service answered 503 before the outage.
            "db_connect_timeout_s": 3.0,
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield relay, app
    if relay.server is not None and relay.server.is_serving():
        await relay.down()


async def test_database_outage_gives_503_and_the_service_recovers_by_itself(
    outage: tuple[Outage, Any], headers: Headers, world: factories.World
) -> None:
    relay, app = outage
    async with AsyncClient(
        transport=ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/api/sectors", headers=headers("analyst"))).status_code == 200

        await relay.down()
        for path in ("/health", "/api/sectors", "/api/incidents"):
            started = time.monotonic()
            response = await client.get(path, headers=headers("analyst"))
            assert response.status_code == 503, (path, response.text)
            assert time.monotonic() - started < 5, f"{path} hung while the database was away"
        assert response.headers["retry-after"]

        await relay.up()
        deadline = time.monotonic() + 10
        while (await client.get("/health")).status_code != 200:
            assert time.monotonic() < deadline, "no recovery within 10 s"
            await asyncio.sleep(0.2)
        response = await client.get("/api/sectors", headers=headers("analyst"))
        assert response.status_code == 200
        assert len(response.json()["features"]) >= len(factories.SECTORS)
