"""PostgreSQL restarted under load, on a cluster of the test's own: requests during the outage
get 503 quickly (no hang, no 500), the service recovers by itself within seconds of the
database coming back (no restart of the service), acknowledged writes survive a crash of the
database, and changes made by other processes are heard again (alert rules fire)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.reliability.conftest import (
    Outcome,
    Probe,
    Service,
    ThrowawayCluster,
    Traffic,
    count,
    create_seeded_database,
    drive,
    latency_figures,
    record_figures,
    watch_health,
)

CLIENTS = 10
OUTAGE_S = 5.0
#: What the service promises while the database is away, and once it is back.
MAX_OUTAGE_LATENCY_S = 3.0
MAX_RECOVERY_S = 5.0
KM = 1 / 111.32


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayCluster]:
    cluster = ThrowawayCluster()
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="module")
async def faulty(cluster: ThrowawayCluster) -> AsyncIterator[tuple[Service, str]]:
    url = await create_seeded_database(cluster.url(), "civop_faults", 1_000)
    # Rules are evaluated on the interval only once an hour here: an alert within seconds of
    # another process's write shows that the service hears PostgreSQL's notifications again.
    service = Service(
        url, "reliability-faults-server.log", settings={"CIVOP_ALERTS_INTERVAL_S": "3600"}
    )
    try:
        await service.start()
        yield service, url
    finally:
        service.stop()


@dataclass
class Restart:
    mode: str
    stopping: float  # pg_ctl stop called
    down: float  # pg_ctl stop returned: the database is gone
    starting: float  # pg_ctl start called
    up: float  # pg_ctl start returned: accepting connections


def _ended(outcome: Outcome) -> float:
    return outcome.started + outcome.seconds


def _assess(
    restart: Restart, outcomes: list[Outcome], probes: list[Probe], next_stop: float
) -> dict[str, float | int | str]:
    during = [o for o in outcomes if restart.stopping <= o.started < restart.up]
    # The answers the outage caused (a request that started as the database was stopping may
    # still have been served normally, in the time any request takes under this load).
    unavailable = [o for o in during if o.status == 503]
    refused = [o for o in outcomes if restart.down <= o.started and _ended(o) <= restart.starting]
    after = [o for o in outcomes if restart.up <= o.started and _ended(o) < next_stop]
    failed_after = [o for o in after if o.status != 200 and o.status != 201]
    healthy = [p for p in probes if p.at >= restart.up and p.status == 200]
    return {
        "mode": restart.mode,
        "outage_s": round(restart.up - restart.down, 2),
        "requests_during_outage": len(during),
        "answered_503_while_down": sum(o.status == 503 for o in refused),
        # A read the service answers from memory (a cached tile, for a known user) needs no
        # database; a write must never be acknowledged while the database is down.
        "reads_from_memory_while_down": sum(o.status == 200 and o.method == "GET" for o in refused),
        "writes_acknowledged_while_down": sum(
            o.status in (200, 201) and o.method != "GET" for o in refused
        ),
        "while_down": len(refused),
        "answered_503": len(unavailable),
        "503_p50_ms": latency_figures([o.seconds for o in unavailable])["p50_ms"],
        "503_max_ms": latency_figures([o.seconds for o in unavailable])["max_ms"],
        "health_back_after_s": round(healthy[0].at - restart.up, 2) if healthy else -1,
        "all_requests_ok_after_s": round(
            max([_ended(o) - restart.up for o in failed_after], default=0.0), 2
        ),
        "requests_after": len(after),
        "failed_after": len(failed_after),
    }


async def _restart(cluster: ThrowawayCluster, mode: str) -> Restart:
    stopping = time.monotonic()
    await asyncio.to_thread(cluster.stop, mode)
    down = time.monotonic()
    await asyncio.sleep(OUTAGE_S)
    starting = time.monotonic()
    await asyncio.to_thread(cluster.start)
    return Restart(mode, stopping, down, starting, time.monotonic())


async def test_database_restarts_under_load(
    cluster: ThrowawayCluster, faulty: tuple[Service, str]
) -> None:
    service, url = faulty
    headers = await service.tokens()
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
        rule = await http.post(
            "/api/alert_rules",
            json={
                "name": "Any incident by a camp",
                "kind": "incident_near_site",
                "min_severity": 1,
                "radius_km": 10,
            },
            headers=headers["officer"],
        )
        assert rule.status_code == 201, rule.text
    traffic = Traffic(headers, seed=2)
    done = asyncio.Event()
    load = asyncio.create_task(drive(service.url, traffic, CLIENTS, done, timeout_s=30))
    health = asyncio.create_task(watch_health(service.url, done))

    await asyncio.sleep(4)  # steady traffic first
    restarts = []
    # A clean restart, then a crash (immediate: no checkpoint, WAL replay at start-up).
    for mode in ("fast", "immediate"):
        restarts.append(await _restart(cluster, mode))
        await asyncio.sleep(MAX_RECOVERY_S + 3)
    done.set()
    outcomes, probes = await load, await health

    ends = [r.stopping for r in restarts[1:]] + [time.monotonic()]
    figures = [_assess(r, outcomes, probes, end) for r, end in zip(restarts, ends, strict=True)]
    statuses: dict[str, int] = {}
    for outcome in outcomes:
        statuses[str(outcome.status)] = statuses.get(str(outcome.status), 0) + 1
    lines = [
        f"{CLIENTS} clients of mixed traffic, {len(outcomes):,} requests, statuses {statuses}",
    ] + [
        f"{f['mode']:<9} stop, {f['outage_s']} s down: {f['requests_during_outage']} requests "
        f"meanwhile, {f['answered_503']} answered 503 in p50 {f['503_p50_ms']} ms, "
        f"max {f['503_max_ms']} ms; "
        f"{f['answered_503_while_down']}/{f['while_down']} answered 503 while down "
        f"({f['reads_from_memory_while_down']} reads answered from memory); "
        f"/health 200 again {f['health_back_after_s']} s after the database, "
        f"every request ok {f['all_requests_ok_after_s']} s after"
        for f in figures
    ]

    engine = create_async_engine(url)
    try:
        stored = await count(
            engine, "SELECT count(*) FROM incidents WHERE id = ANY(:ids)", ids=traffic.created
        )
    finally:
        await engine.dispose()
    lines.append(
        f"{stored} of {len(traffic.created)} acknowledged creations stored after the crash"
    )
    # Nothing but success or 503: no 500, no connection error, no timeout.
    unexpected = [o for o in outcomes if o.status not in (200, 201, 503)]
    unexpected += [
        Outcome("health", "GET", "/health", p.at, p.seconds, p.status)
        for p in probes
        if p.status not in (200, 503)
    ]
    health_while_down = [
        max((p.seconds for p in probes if r.down <= p.at < r.starting), default=float("inf"))
        for r in restarts
    ]
    summary: dict[str, Any] = {
        "clients": CLIENTS,
        "requests": len(outcomes),
        "statuses": statuses,
        "restarts": figures,
        "health_max_while_down_s": [round(seconds, 2) for seconds in health_while_down],
        "acknowledged_creations": len(traffic.created),
        "stored_after_crash": stored,
        "unexpected": [f"{o.method} {o.path}: {o.status} {o.error}" for o in unexpected[:10]],
    }
    record_figures("db_faults", summary, lines)

    assert not unexpected, summary["unexpected"]
    for f, health_s in zip(figures, health_while_down, strict=True):
        assert f["while_down"] and f["writes_acknowledged_while_down"] == 0, f
        assert f["answered_503_while_down"] + f["reads_from_memory_while_down"] == f["while_down"]
        assert f["503_max_ms"] < MAX_OUTAGE_LATENCY_S * 1000, f
        assert health_s < MAX_OUTAGE_LATENCY_S, health_while_down
        assert 0 <= f["health_back_after_s"] <= MAX_RECOVERY_S, f
        assert f["requests_after"] > 0 and f["all_requests_ok_after_s"] <= MAX_RECOVERY_S, f
    # Every acknowledged write is there, through the crash.
    assert stored == len(traffic.created)

    # Once more without traffic (the service's own writes also wake its rule engine): a write
    # by another process right after the database is back raises its alert within seconds,
    # so the service is listening to PostgreSQL's notifications again.
    await asyncio.sleep(2)  # the last passes of the rule engine are over
    quiet = await _restart(cluster, "fast")
    back_after_s = await _alert_for_a_write_by_another_process(
        service, headers["admin"], url, since=quiet.up
    )
    lines.append(
        f"a write by another process right after a restart without traffic raised its alert "
        f"{back_after_s:.1f} s after the database was back"
    )
    record_figures(
        "db_faults", {**summary, "alert_after_database_back_s": round(back_after_s, 2)}, lines
    )
    assert back_after_s <= MAX_RECOVERY_S


async def _alert_for_a_write_by_another_process(
    service: Service, admin: dict[str, str], url: str, since: float
) -> float:
    """Seconds from ``since`` to the alert the service raises for an incident inserted now by
    another process, which the service hears of only through PostgreSQL."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        x, y = await conn.fetchrow(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM idp_sites "
            "WHERE status <> 'closed' AND deleted_at IS NULL ORDER BY name LIMIT 1) s"
        )
        incident = await conn.fetchval(
            "INSERT INTO incidents (category, occurred_at, severity, classification, geom) "
            "VALUES ('armed_clash', now(), 5, 'public', ST_SetSRID(ST_MakePoint($1, $2), 4326)) "
            "RETURNING id::text",
            x + 2 * KM,
            y,
        )
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=service.url, timeout=30, headers=admin) as http:
        while time.monotonic() - since < 30:
            found = await http.get("/api/alerts")
            assert found.status_code in (200, 503), found.text
            if incident in found.text:
                return time.monotonic() - since
            await asyncio.sleep(0.2)
    raise AssertionError("no alert within 30 s of a write by another process")


# --- a connection cut while an export reads its rows ------------------------------------------


class CuttingProxy:
    """A TCP proxy between the service and PostgreSQL that, once armed, cuts a connection as
    soon as the database has sent it ``after_bytes`` more: the database going away in the
    middle of a result, at a point that does not depend on timing."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.after_bytes: int | None = None
        self.cuts = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        server_in, server_out = await asyncio.open_connection(*self.upstream)
        sent_since_armed = 0

        async def pump(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, down: bool
        ) -> None:
            nonlocal sent_since_armed
            try:
                while data := await source.read(4096):
                    if down and self.after_bytes is not None:
                        sent_since_armed += len(data)
                        if sent_since_armed > self.after_bytes:
                            self.cuts += 1
                            client_out.transport.abort()
                            server_out.transport.abort()
                            return
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(
            pump(client_in, server_out, down=False), pump(server_in, client_out, down=True)
        )

    def arm(self, after_bytes: int) -> None:
        self.after_bytes = after_bytes

    def disarm(self) -> None:
        self.after_bytes = None


async def test_an_export_cut_off_from_the_database_midway_answers_503() -> None:
    """The rows of an export come through a server-side cursor, whose failures the driver
    reports in its own terms (not as the database errors every other route sees): the
    connection lost in the middle of them is answered 503 with Retry-After, not 500."""
    from sqlalchemy.engine import make_url

    from tests.conftest import TEST_DB, TEST_URL, drop_database
    from tests.reliability.conftest import create_world_database

    name = f"{TEST_DB}_cut"
    url = await create_world_database(
        name,
        "INSERT INTO incidents (category, occurred_at, severity, classification, "
        "description, geom) SELECT 'armed_clash', now() - i * interval '1 hour', 3, "
        "'public', repeat('x', 200), "
        "ST_SetSRID(ST_MakePoint(25 + (i % 50) * 0.01, 5 + (i / 50) * 0.01), 4326) "
        "FROM generate_series(1, 3000) AS i",
    )
    database = make_url(url)
    proxy = CuttingProxy((database.host or "127.0.0.1", database.port or 5432))
    port = await proxy.start()
    through_proxy = TEST_URL.set(database=name, host="127.0.0.1", port=port)
    service = Service(
        through_proxy.render_as_string(hide_password=False), "reliability-cut-server.log"
    )
    try:
        await service.start()
        headers = await service.tokens()
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
            answers = {}
            for fmt in ("csv", "geojson"):
                whole = await http.get(
                    "/api/incidents/export", params={"format": fmt}, headers=headers["analyst"]
                )
                assert whole.status_code == 200, whole.text
                assert len(whole.content) > 300_000
                proxy.arm(after_bytes=100_000)
                try:
                    answers[fmt] = await http.get(
                        "/api/incidents/export", params={"format": fmt}, headers=headers["analyst"]
                    )
                finally:
                    proxy.disarm()
            assert proxy.cuts >= 2
            for fmt, answer in answers.items():
                assert answer.status_code == 503, (fmt, answer.status_code, answer.text[:300])
                assert answer.headers["Retry-After"]
                assert answer.headers["X-Content-Type-Options"] == "nosniff"
                assert "unavailable" in answer.json()["detail"]
            again = await http.get("/api/incidents/export", headers=headers["analyst"])
            assert again.status_code == 200, again.text
    finally:
        # the proxy runs in this event loop: it must keep forwarding while the service
        # closes its connections, or the shutdown waits for them to time out
        await asyncio.to_thread(service.stop)
        await proxy.stop()
        await drop_database(name)
