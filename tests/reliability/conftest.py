"""The reliability suite's tools: the service as users run it (uvicorn in its own process),
a throwaway PostgreSQL cluster the tests may stop and start, a seeded database, a mixed
read/write traffic of real HTTP requests, and the figures each test reports.

Every test writes its figures to ``artifacts/reliability/<name>.json``, prints them, and the
run ends with a summary of all of them."""

from __future__ import annotations

import asyncio
import json
import math
import os
import pwd
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from service.auth import service as auth
from service.demo import DEFAULT_REFERENCE_DATE
from service.demo.load import load_demo
from service.enums import Role
from tests import factories
from tests.conftest import ARTIFACTS, free_port, migrate

FIGURES_DIR = ARTIFACTS / "reliability"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
#: Accounts of the seeded databases (the demo mission has none of its own in tests).
ACCOUNTS = {"analyst": Role.analyst, "officer": Role.officer, "admin": Role.admin}
#: The demo mission's period ends on 1 November 2026: analyses look at its last three months.
WINDOW = "2026-08-01T00:00:00Z/2026-11-01T00:00:00Z"
MISSION = (23.0, 3.0, 29.0, 9.0)

# --- figures ----------------------------------------------------------------------------------


def record_figures(name: str, figures: dict[str, Any], lines: Iterable[str]) -> None:
    """Print a test's figures, write them as JSON, and their lines for the end-of-run summary
    (``tests/conftest.py``: the run may be spread over worker processes)."""
    shown = list(lines)
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    (FIGURES_DIR / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
    (FIGURES_DIR / f"{name}.txt").write_text("".join(line + "\n" for line in shown))
    print(f"\n[{name}]")
    for line in shown:
        print("  " + line)


def latency_figures(seconds: list[float]) -> dict[str, float]:
    """Count, p50, p99 and max of latencies, in milliseconds."""
    if not seconds:
        return {"count": 0, "p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan}
    values = np.asarray(seconds) * 1000
    return {
        "count": len(seconds),
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p99_ms": round(float(np.percentile(values, 99)), 1),
        "max_ms": round(float(values.max()), 1),
    }


# --- the service in its own process -----------------------------------------------------------


@dataclass
class Service:
    """uvicorn serving ``service.main:app_factory`` on loopback, as ``civop serve`` does."""

    database_url: str
    log_name: str
    settings: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    #: Job workers (``civop worker``) beside the API, as ``civop serve`` starts them.
    workers: int = 1
    worker_processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return ARTIFACTS / self.log_name

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url.replace("postgresql+asyncpg://", "postgresql://"),
            # Logs reach the file as they are written, as in the container (Dockerfile).
            "PYTHONUNBUFFERED": "1",
            **self.settings,
        }

    def start_workers(self) -> None:
        """Start the job workers that are not running."""
        self.worker_processes = [p for p in self.worker_processes if p.poll() is None]
        log_path = self.log_path.with_name(self.log_path.stem + "-worker.log")
        while len(self.worker_processes) < self.workers:
            with log_path.open("ab") as log:
                self.worker_processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "service.jobs"],
                        env=self._env(),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )

    def kill_workers(self) -> None:
        """SIGKILL every job worker (their job processes die with them)."""
        for process in self.worker_processes:
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        self.worker_processes = []

    def stop_workers(self) -> None:
        for process in self.worker_processes:
            if process.poll() is None:
                process.terminate()
        for process in self.worker_processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.worker_processes = []

    def _spawn(self) -> None:
        env = self._env()
        self.starts += 1
        with self.log_path.open("ab" if self.starts > 1 else "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "service.main:app_factory",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def start(self, within_s: float = 60.0) -> None:
        self._spawn()
        self.start_workers()
        deadline = time.monotonic() + within_s
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    break
                try:
                    if (await http.get(f"{self.url}/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the service did not start; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as when the machine or the OOM killer stops it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        self.stop_workers()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    async def tokens(self) -> dict[str, dict[str, str]]:
        """Bearer headers per account, from a real login."""
        out = {}
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            for username in ACCOUNTS:
                response = await http.post(
                    "/auth/token", data={"username": username, "password": factories.PASSWORD}
                )
                assert response.status_code == 200, response.text
                out[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return out


# --- a PostgreSQL cluster of the test's own ---------------------------------------------------


def _cluster_owner() -> str | None:
    """Who runs the throwaway cluster: initdb refuses root (as in scripts/pg.sh)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "civop"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    pytest.skip("running as root without a postgres or civop account to own a cluster")


class ThrowawayCluster:
    """A PostgreSQL + PostGIS cluster in a temporary folder on a free port, which the test
    may stop and start as it likes (never the project cluster, which others use)."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN}")
        self.owner = _cluster_owner()
        self.root = Path(tempfile.mkdtemp(prefix="civop-reliability-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "run"
        # The server writes its log beside its data: the cluster account may not be able to
        # enter the checkout (a clone in a private folder); it is copied to artifacts/ at the end.
        self.log = self.root / "postgres.log"
        self.port = free_port()

    def _run(self, *command: str) -> None:
        argv = [str(PG_BIN / command[0]), *command[1:]]
        if self.owner is not None:
            argv = ["runuser", "-u", self.owner, "--", *argv]
        subprocess.run(argv, check=True, capture_output=True)

    def create(self) -> None:
        self.sockets.mkdir()
        self.log.touch()
        if self.owner is not None:
            shutil.chown(self.root, self.owner)
            shutil.chown(self.sockets, self.owner)
            shutil.chown(self.log, self.owner)
        self._run("initdb", "-D", str(self.data), "-U", "civop", "--auth=trust", "-E", "UTF8")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# civop reliability tests: loopback only\n"
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                "max_connections = 100\nshared_buffers = 128MB\njit = off\n"
            )
        self.start()

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # not running
        if self.log.exists():
            shutil.copyfile(self.log, ARTIFACTS / "reliability-postgres.log")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> URL:
        return make_url(f"postgresql+asyncpg://civop@127.0.0.1:{self.port}/{database}")


# --- seeded databases -------------------------------------------------------------------------


async def create_world_database(name: str, incidents_sql: str, *args: Any) -> str:
    """A throwaway database (on the test server) with the test world of sectors and users and
    the incidents ``incidents_sql`` inserts (with ``args`` bound); returns its asyncpg URL."""
    from tests.conftest import create_database

    url = await create_database(name)
    engine = create_async_engine(url)
    try:
        await factories.build_world(engine)
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(incidents_sql, *args)
    finally:
        await connection.close()
    return url


async def create_seeded_database(server: URL, name: str, incidents: int) -> str:
    """A database on ``server`` with PostGIS, the migrations, the demo mission with
    ``incidents`` incidents and the accounts of :data:`ACCOUNTS`; returns its asyncpg URL.

    On the suite's own server it is a copy of the migrated template (``create_database``);
    on another (a throwaway cluster) the migrations run."""
    from tests.conftest import TEST_URL, create_database

    if (server.host, server.port) == (TEST_URL.host, TEST_URL.port):
        rendered = await create_database(name)
    else:
        rendered = await _create_migrated_database(server, name)
    engine = create_async_engine(rendered)
    try:
        # The demo of the fixed reference date (WINDOW and the figures are about its dates),
        # without its alert rules (the tests count the alerts of their own).
        await load_demo(
            engine,
            incidents=incidents,
            reference_date=DEFAULT_REFERENCE_DATE,
            alert_rules=False,
        )
        async with AsyncSession(engine, expire_on_commit=False) as session:
            for username, role in ACCOUNTS.items():
                await auth.add_user(
                    session,
                    username=username,
                    password=factories.PASSWORD,
                    role=role,
                    cleared_restricted=role is Role.admin,
                    actor="test-setup",
                )
    finally:
        await engine.dispose()
    return rendered


async def _create_migrated_database(server: URL, name: str) -> str:
    """An empty database on ``server`` with PostGIS and every migration run."""
    admin_dsn = server.set(drivername="postgresql", database="postgres")
    admin = await asyncpg.connect(admin_dsn.render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = server.set(drivername="postgresql+asyncpg", database=name)
    conn = await asyncpg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    finally:
        await conn.close()
    rendered = url.render_as_string(hide_password=False)
    await migrate(rendered)
    return rendered


async def drop_database_on(server: URL, name: str) -> None:
    admin_dsn = server.set(drivername="postgresql", database="postgres")
    admin = await asyncpg.connect(admin_dsn.render_as_string(hide_password=False))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def count(engine: AsyncEngine, sql: str, **params: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text(sql), params) or 0)


# --- health and mixed traffic -----------------------------------------------------------------


def _tile(rng: random.Random, zoom: int) -> tuple[int, int, int]:
    """A WebMercatorQuad tile over the mission area."""
    lon = rng.uniform(MISSION[0], MISSION[2])
    lat = rng.uniform(MISSION[1], MISSION[3])
    n = 2**zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return zoom, x, y


def _bbox(rng: random.Random, size: float) -> str:
    x0 = rng.uniform(MISSION[0], MISSION[2] - size)
    y0 = rng.uniform(MISSION[1], MISSION[3] - size)
    return f"{x0:.3f},{y0:.3f},{x0 + size:.3f},{y0 + size:.3f}"


@dataclass
class Outcome:
    kind: str
    method: str
    path: str
    started: float  # time.monotonic()
    seconds: float
    status: int | None  # None: no answer (connection error or timeout)
    error: str | None = None
    body: Any = None


#: Share of each kind of request in the mixed traffic.
MIX = {"tile": 30, "items": 20, "list": 20, "analysis": 10, "write": 20}


class Traffic:
    """Requests as the map, GIS clients, analysts and officers send them."""

    def __init__(self, headers: dict[str, dict[str, str]], seed: int = 1) -> None:
        self.headers = headers
        self.rng = random.Random(seed)
        self.created: list[str] = []
        self.run = uuid.uuid4().hex[:8]
        self.serial = 0

    def request(self) -> tuple[str, str, str, dict[str, Any]]:
        """(kind, method, path, httpx keyword arguments) of the next request."""
        rng = self.rng
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        analyst = {"headers": self.headers["analyst"]}
        if kind == "tile":
            z, x, y = _tile(rng, rng.randint(6, 11))
            layer = rng.choice(["incidents", "incidents", "patrols", "idp_sites"])
            path = rng.choice(
                [
                    f"/collections/{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}",
                    f"/layers/heat/incidents/{z}/{x}/{y}",
                ]
            )
            return kind, "GET", path, analyst
        if kind == "items":
            layer = rng.choice(["incidents", "incidents", "idp_sites", "actors", "bases"])
            path = f"/collections/{layer}/items?limit=100&bbox={_bbox(rng, 1.5)}"
            return kind, "GET", path, analyst
        if kind == "list":
            path = rng.choice(
                [
                    "/api/incidents?limit=50&category=armed_clash,abduction",
                    f"/api/incidents?limit=100&datetime={WINDOW}&severity=4,5",
                    "/api/idp_sites?limit=100",
                    "/api/actors?limit=100&q=relief",
                    "/api/patrols?limit=50&state=conducted",
                    "/api/projects?limit=50",
                ]
            )
            return kind, "GET", path, analyst
        if kind == "analysis":
            bbox = _bbox(rng, 2.0)
            path = rng.choice(
                [
                    f"/api/analysis/proximity?bbox={bbox}&datetime={WINDOW}",
                    f"/api/analysis/exposure?bbox={bbox}&datetime={WINDOW}&limit=20",
                    f"/api/analysis/hotspots?bbox={bbox}&datetime={WINDOW}",
                    f"/api/analysis/coverage-gaps?bbox={bbox}&datetime={WINDOW}",
                    "/api/analysis/risk/tiles/{}/{}/{}?datetime={}".format(*_tile(rng, 8), WINDOW),
                ]
            )
            return kind, "GET", path, analyst
        officer = {"headers": self.headers["officer"]}
        if self.created and rng.random() < 0.4:
            record = rng.choice(self.created)
            body = {"properties": {"severity": rng.randint(1, 5), "description": self.note()}}
            return kind, "PATCH", f"/api/incidents/{record}", {**officer, "json": body}
        return kind, "POST", "/api/incidents", {**officer, "json": self.new_incident()}

    def note(self) -> str:
        self.serial += 1
        return f"reliability {self.run} #{self.serial}"

    def new_incident(self) -> dict[str, Any]:
        rng = self.rng
        return factories.feature(
            "incidents",
            geometry=factories.point(
                round(rng.uniform(23.2, 28.8), 5), round(rng.uniform(3.2, 8.8), 5)
            ),
            category=rng.choice(["armed_clash", "abduction", "looting", "other"]),
            occurred_at="2026-10-20T08:00:00Z",
            severity=rng.randint(1, 5),
            description=self.note(),
        )

    async def send(self, http: httpx.AsyncClient) -> Outcome:
        kind, method, path, options = self.request()
        started = time.monotonic()
        try:
            response = await http.request(method, path, **options)
        except httpx.HTTPError as error:
            return Outcome(
                kind, method, path, started, time.monotonic() - started, None, repr(error)
            )
        seconds = time.monotonic() - started
        body = None
        if method == "POST" and response.status_code == 201:
            body = response.json()
            self.created.append(body["id"])
        return Outcome(kind, method, path, started, seconds, response.status_code, body=body)


async def drive(
    base_url: str,
    traffic: Traffic,
    clients: int,
    until: asyncio.Event,
    timeout_s: float,
) -> list[Outcome]:
    """``clients`` concurrent clients, each sending one request after the other until ``until``
    is set; every outcome, in order of completion."""
    outcomes: list[Outcome] = []
    # Idle connections are dropped by the client before uvicorn's 5 s keep-alive timeout, as
    # browsers do: otherwise a request sent just as the server closes one fails on the way.
    limits = httpx.Limits(
        max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0
    )

    async with httpx.AsyncClient(base_url=base_url, timeout=timeout_s, limits=limits) as http:

        async def client() -> None:
            while not until.is_set():
                outcomes.append(await traffic.send(http))

        await asyncio.gather(*(client() for _ in range(clients)))
    return outcomes


@dataclass
class Probe:
    at: float
    seconds: float
    status: int | None


async def watch_health(base_url: str, until: asyncio.Event) -> list[Probe]:
    """``/health`` every 100 ms, as a load balancer would ask."""
    probes = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        while not until.is_set():
            started = time.monotonic()
            try:
                status: int | None = (await http.get("/health")).status_code
            except httpx.HTTPError:
                status = None
            probes.append(Probe(started, time.monotonic() - started, status))
            await asyncio.sleep(0.1)
    return probes
