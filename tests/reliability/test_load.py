"""Mixed read/write load on loopback: 50 clients for CIVOP_LOAD_SECONDS (15 s in `make test`,
60 s in `make reliability`) against the service as users run it, on the demo mission."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import TEST_DB, TEST_URL
from tests.reliability.conftest import (
    MIX,
    Outcome,
    Service,
    Traffic,
    count,
    create_seeded_database,
    drive,
    drop_database_on,
    latency_figures,
    record_figures,
    watch_health,
)

CLIENTS = 50
SECONDS = float(os.environ.get("CIVOP_LOAD_SECONDS", "15"))
INCIDENTS = 5_000
#: A request that has not been answered after this long counts as a timeout.
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
async def seeded_service() -> AsyncIterator[tuple[Service, str]]:
    name = f"{TEST_DB}_load"
    url = await create_seeded_database(TEST_URL, name, INCIDENTS)
    service = Service(url, "reliability-load-server.log")
    try:
        await service.start()
        yield service, url
    finally:
        service.stop()
        await drop_database_on(TEST_URL, name)


def _figures(outcomes: list[Outcome], seconds: float) -> dict[str, dict[str, float]]:
    figures = {}
    for kind in [*MIX, "all"]:
        mine = [o for o in outcomes if kind in (o.kind, "all")]
        figures[kind] = {
            **latency_figures([o.seconds for o in mine]),
            "per_s": round(len(mine) / seconds, 1),
        }
    return figures


async def test_fifty_clients_mixed_load_without_errors(
    seeded_service: tuple[Service, str],
) -> None:
    service, url = seeded_service
    traffic = Traffic(await service.tokens())
    done = asyncio.Event()
    asyncio.get_running_loop().call_later(SECONDS, done.set)
    health = asyncio.create_task(watch_health(service.url, done))
    outcomes = await drive(service.url, traffic, CLIENTS, done, TIMEOUT_S)
    probes = await health
    health_figures = latency_figures([p.seconds for p in probes])
    unhealthy = [p for p in probes if p.status != 200]

    failed = [o for o in outcomes if o.status is None or not 200 <= o.status < 300]
    statuses = Counter(str(o.status) for o in outcomes)
    figures = _figures(outcomes, SECONDS)
    writes = Counter(o.method for o in outcomes if o.kind == "write")
    lines = [
        f"{CLIENTS} clients for {SECONDS:.0f} s, demo mission with {INCIDENTS:,} incidents",
        f"{len(outcomes):,} requests, {figures['all']['per_s']} req/s, "
        f"{len(failed)} errors; statuses {dict(statuses)}",
    ] + [
        f"{kind:<9} {f['count']:>6,} req  {f['per_s']:>6} req/s  p50 {f['p50_ms']:>7} ms  "
        f"p99 {f['p99_ms']:>7} ms  max {f['max_ms']:>7} ms"
        for kind, f in figures.items()
    ]
    lines.append(f"writes: {writes['POST']} created, {writes['PATCH']} changed")
    lines.append(
        f"/health meanwhile: {len(probes)} probes, {len(unhealthy)} not 200, "
        f"p50 {health_figures['p50_ms']} ms, max {health_figures['max_ms']} ms"
    )
    record_figures(
        "load",
        {
            "clients": CLIENTS,
            "seconds": SECONDS,
            "incidents": INCIDENTS,
            "requests": len(outcomes),
            "errors": len(failed),
            "statuses": dict(statuses),
            "kinds": figures,
            "writes": dict(writes),
            "health": {**health_figures, "not_200": len(unhealthy)},
            "first_errors": [f"{o.method} {o.path}: {o.status} {o.error}" for o in failed[:10]],
        },
        lines,
    )

    assert not failed, f"{len(failed)} requests failed, e.g. " + "; ".join(
        f"{o.method} {o.path}: {o.status or o.error}" for o in failed[:5]
    )
    assert all(figures[kind]["count"] > 0 for kind in MIX)

    # Every acknowledged creation is in the database, once.
    engine = create_async_engine(url)
    try:
        stored = await count(
            engine, "SELECT count(*) FROM incidents WHERE id = ANY(:ids)", ids=traffic.created
        )
        made = await count(engine, "SELECT count(*) FROM incidents WHERE created_by = 'officer'")
    finally:
        await engine.dispose()
    assert stored == made == len(traffic.created) == writes["POST"]
