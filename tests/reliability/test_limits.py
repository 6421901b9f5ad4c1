"""Every limit holds against the service as users run it, with small limits set: request
bodies (also chunked, without Content-Length), uploads, page size, features per tile, and
query time (a query stuck behind a lock is cancelled and answered 504 while the rest of the
service goes on answering)."""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import mapbox_vector_tile
import pytest

from tests import factories
from tests.conftest import TEST_DB, drop_database
from tests.reliability.conftest import Service, create_world_database, record_figures

MIB = 1024 * 1024
BODY_MB = 1
UPLOAD_MB = 2
PAGE_MAX = 50
TILE_MAX = 40
STATEMENT_MS = 2000
DENSE = (25.0, 6.0)  # where the test puts many incidents close together


@dataclass
class Limited:
    service: Service
    url: str
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
async def limited() -> AsyncIterator[Limited]:
    name = f"{TEST_DB}_limits"
    url = await create_world_database(
        name,
        "INSERT INTO incidents (category, occurred_at, severity, classification, geom) "
        "SELECT 'armed_clash', now() - i * interval '1 hour', 3, 'public', "
        "ST_SetSRID(ST_MakePoint($1 + (i % 20) * 0.0004, $2 + (i / 20) * 0.0004), 4326) "
        "FROM generate_series(1, 300) AS i",
        *DENSE,
    )
    service = Service(
        url,
        "reliability-limits-server.log",
        settings={
            "CIVOP_MAX_BODY_MB": str(BODY_MB),
            "CIVOP_IMPORT_MAX_UPLOAD_MB": str(UPLOAD_MB),
            "CIVOP_PAGE_MAX": str(PAGE_MAX),
            "CIVOP_TILE_MAX_FEATURES": str(TILE_MAX),
            "CIVOP_DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_MS),
            "CIVOP_TILE_CACHE_MB": "0",
        },
    )
    await service.start()
    try:
        yield Limited(service, url, await service.tokens())
    finally:
        service.stop()
        await drop_database(name)


def chunked_post(
    base: str, path: str, headers: dict[str, str], most: int
) -> tuple[int, dict[str, Any], int]:
    """POST a body in chunks without Content-Length until the server answers (or ``most``
    bytes went out): (status, JSON answer, bytes sent before the answer)."""
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sock = socket.create_connection((host, port), timeout=5)
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Transfer-Encoding: chunked"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    chunk = b"[" + b"0," * (32 * 1024 - 1) + b"0"
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    try:
        while sent < most:
            sock.settimeout(0)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break  # the answer is there
            except BlockingIOError:
                pass
            sock.settimeout(5)
            sock.sendall(framed)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass  # the server stopped reading: its answer is waiting
    sock.settimeout(10)
    response = http.client.HTTPResponse(sock)
    response.begin()
    answer = json.loads(response.read())
    sock.close()
    return response.status, answer, sent


async def incident_count(url: str) -> int:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(await connection.fetchval("SELECT count(*) FROM incidents"))
    finally:
        await connection.close()


async def test_request_bodies_over_the_limit_are_refused_with_413(limited: Limited) -> None:
    officer = limited.headers["officer"]
    before = await incident_count(limited.url)
    big = factories.feature("incidents", description="x" * (BODY_MB * MIB + 1))
    async with httpx.AsyncClient(base_url=limited.service.url, timeout=30) as http:
        started = time.monotonic()
        declared = await http.post("/api/incidents", json=big, headers=officer)
        declared_s = time.monotonic() - started
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/json"
        assert "larger than 1 MiB (CIVOP_MAX_BODY_MB)" in declared.json()["detail"]
        small = await http.post(
            "/api/incidents", json=factories.feature("incidents"), headers=officer
        )
        assert small.status_code == 201, small.text

    endless = {**officer, "Content-Type": "application/json"}
    loop = asyncio.get_running_loop()
    status, answer, sent = await loop.run_in_executor(
        None, chunked_post, limited.service.url, "/api/incidents", endless, 256 * MIB
    )
    assert status == 413, answer
    assert "CIVOP_MAX_BODY_MB" in answer["detail"]
    assert sent < 64 * MIB, "the server should stop reading soon after the limit"
    assert await incident_count(limited.url) == before + 1
    record_figures(
        "limits-body",
        {"declared_answer_s": declared_s, "chunked_sent_before_413_bytes": sent},
        [
            f"body over {BODY_MB} MiB with Content-Length: 413 in {declared_s * 1000:.0f} ms",
            f"chunked body without Content-Length: 413 arrived after {sent / MIB:.1f} MiB "
            "were sent",
        ],
    )


async def test_uploads_have_their_own_limit(limited: Limited) -> None:
    officer = limited.headers["officer"]
    features = [
        factories.feature("incidents", description="d" * 500, geometry=factories.point(25, 6))
        for _ in range(2000)
    ]
    upload = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    assert BODY_MB * MIB < len(upload) < UPLOAD_MB * MIB  # larger than any other body may be
    async with httpx.AsyncClient(base_url=limited.service.url, timeout=60) as http:
        preview = await http.post(
            "/api/imports",
            files={"file": ("incidents.geojson", upload)},
            data={"collection": "incidents", "dry_run": "true"},
            headers=officer,
        )
        assert preview.status_code == 200, preview.text
        assert preview.json()["counts"]["read"] == 2000
        too_big = await http.post(
            "/api/imports",
            files={"file": ("incidents.geojson", upload + b" " * (UPLOAD_MB * MIB))},
            data={"collection": "incidents"},
            headers=officer,
        )
    assert too_big.status_code == 413
    assert "CIVOP_IMPORT_MAX_UPLOAD_MB" in too_big.json()["detail"]


async def test_pages_are_bounded(limited: Limited) -> None:
    analyst = limited.headers["analyst"]
    async with httpx.AsyncClient(base_url=limited.service.url, timeout=30) as http:
        for path in ("/api/incidents", "/collections/incidents/items"):
            page = await http.get(path, params={"limit": 1_000_000}, headers=analyst)
            assert page.status_code == 200, page.text
            body = page.json()
            assert body["numberReturned"] == len(body["features"]) == PAGE_MAX
            assert any(link["rel"] == "next" for link in body["links"])
            for wrong in ("0", "-1", "ten"):
                refused = await http.get(path, params={"limit": wrong}, headers=analyst)
                # OGC API answers refused values with 400, as Features Part 1 requires.
                expected = 400 if path.startswith("/collections") else 422
                assert refused.status_code == expected, (path, wrong)


def _tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int, int]:
    n = 2**zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return zoom, x, y


async def test_a_tile_carries_at_most_the_feature_limit(limited: Limited) -> None:
    z, x, y = _tile_of(DENSE[0] + 0.004, DENSE[1] + 0.003, 12)
    async with httpx.AsyncClient(base_url=limited.service.url, timeout=30) as http:
        items = await http.get(
            "/collections/incidents/items",
            params={
                "bbox": f"{DENSE[0] - 0.01},{DENSE[1] - 0.01},{DENSE[0] + 0.02},{DENSE[1] + 0.02}"
            },
            headers=limited.headers["analyst"],
        )
        tile = await http.get(
            f"/collections/incidents/tiles/WebMercatorQuad/{z}/{x}/{y}",
            headers=limited.headers["analyst"],
        )
    assert items.json()["numberMatched"] == 300
    assert tile.status_code == 200
    features = mapbox_vector_tile.decode(tile.content)["incidents"]["features"]
    assert len(features) == TILE_MAX


async def test_an_export_past_the_statement_timeout_answers_504(limited: Limited) -> None:
    """An export cancelled for its time is answered 504 like any other query, with the
    security headers, never 500 (and never a file cut short: it is written whole first)."""
    analyst = limited.headers["analyst"]
    blocker = await asyncpg.connect(limited.url.replace("postgresql+asyncpg://", "postgresql://"))
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE")
    try:
        async with httpx.AsyncClient(base_url=limited.service.url, timeout=30) as http:
            answers = [
                await http.get("/api/incidents/export", params={"format": fmt}, headers=analyst)
                for fmt in ("csv", "geojson")
            ]
    finally:
        await transaction.rollback()
        await blocker.close()
    for answer in answers:
        assert answer.status_code == 504, answer.text
        assert "CIVOP_DB_STATEMENT_TIMEOUT_MS" in answer.json()["detail"]
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_slow_query_is_cancelled_and_the_service_keeps_answering(
    limited: Limited,
) -> None:
    analyst = limited.headers["analyst"]
    blocker = await asyncpg.connect(limited.url.replace("postgresql+asyncpg://", "postgresql://"))
    transaction = blocker.transaction()
    await transaction.start()
    # Every read of incidents waits behind this lock: a query that cannot finish in time.
    await blocker.execute("LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE")
    try:
        async with httpx.AsyncClient(base_url=limited.service.url, timeout=30) as http:

            async def slow() -> tuple[httpx.Response, float]:
                started = time.monotonic()
                response = await http.get("/api/incidents", headers=analyst)
                return response, time.monotonic() - started

            async def meanwhile() -> list[float]:
                seconds = []
                for _ in range(5):
                    started = time.monotonic()
                    health = await http.get("/health")
                    sectors = await http.get("/api/sectors", headers=analyst)
                    seconds.append(time.monotonic() - started)
                    assert health.status_code == 200 and sectors.status_code == 200
                    await asyncio.sleep(0.1)
                return seconds

            stuck = [asyncio.create_task(slow()) for _ in range(5)]
            others = await meanwhile()
            answered = await asyncio.gather(*stuck)
    finally:
        await transaction.rollback()
        await blocker.close()
    for response, seconds in answered:
        assert response.status_code == 504, response.text
        assert "CIVOP_DB_STATEMENT_TIMEOUT_MS" in response.json()["detail"]
        assert seconds < STATEMENT_MS / 1000 + 2
    assert max(others) < STATEMENT_MS / 2000  # long before the stuck ones are cancelled
    async with httpx.AsyncClient(base_url=limited.service.url, timeout=30) as http:
        assert (await http.get("/api/incidents", headers=analyst)).status_code == 200
    slowest = max(seconds for _, seconds in answered)
    record_figures(
        "limits-query-time",
        {"timeout_ms": STATEMENT_MS, "slowest_504_s": slowest, "others_max_s": max(others)},
        [
            f"5 queries stuck behind a lock: 504 after at most {slowest * 1000:.0f} ms "
            f"(statement timeout {STATEMENT_MS} ms)",
            f"meanwhile /health and /api/sectors answered in at most {max(others) * 1000:.0f} ms",
        ],
    )
