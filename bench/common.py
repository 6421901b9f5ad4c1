"""Shared benchmark plumbing: the 1,000,000-incident database, servers on loopback, wrk."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get(
    "CIVOP_BENCH_SERVER",
    f"postgresql://civop@127.0.0.1:{os.environ.get('CIVOP_PG_PORT', '55432')}",
)
BENCH_DB = os.environ.get("CIVOP_BENCH_DB", "civop_bench")
SECRET = "bench-signing-key-" + "b" * 32


def database_url(name: str = BENCH_DB) -> str:
    return f"{SERVER}/{name}"


async def _count(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM incidents WHERE origin = 'demo'"))
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


async def ensure_database(incidents: int, name: str = BENCH_DB) -> str:
    """A database with the demo mission at ``incidents`` incidents, built once and reused."""
    admin = await asyncpg.connect(database_url("postgres"))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(database_url(name))
    await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    await conn.close()
    env = {**os.environ, "DATABASE_URL": database_url(name)}
    upgrade(name)
    missing, extra = await schema_drift(name)
    if missing or extra:
        raise SystemExit(drift_message(name, missing, extra))
    have = await _count(database_url(name))
    if have != incidents:
        if have:
            raise SystemExit(f"{name} holds {have} demo incidents, not {incidents}: drop it first")
        print(f"building {name}: demo mission with {incidents:,} incidents (once) ...", flush=True)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "service.cli", "demo", "--incidents", str(incidents)],
            env=env,
            check=True,
            cwd=ROOT,
        )
        print(f"built in {time.monotonic() - started:.0f} s", flush=True)
    # The point groups low-zoom tiles are read from, as a worker keeps them after each change
    # (the servers measured here run without workers).
    subprocess.run(
        [sys.executable, "-m", "service.cli", "db", "groups"], env=env, check=True, cwd=ROOT
    )
    return database_url(name)


def upgrade(name: str = BENCH_DB) -> None:
    """Migrate database ``name`` to the service's schema (``ensure_database`` then checks
    that it is the schema the migrations build on an empty database: a revision inserted
    below the one a benchmark database was at is never run by an upgrade, and the benchmarks
    would measure an older schema without saying so)."""
    env = {**os.environ, "DATABASE_URL": database_url(name)}
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "db", "upgrade"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"{name} could not be migrated:\n{done.stderr[-3000:]}\n{REPAIR.format(name=name)}"
        )


REPAIR = (
    "Its migrations fell out of step with the chain (a revision was inserted below the one it "
    "was at). Either drop it (`dropdb {name}`: the next benchmark builds it again) or run the "
    "missed revisions: `alembic stamp --purge <revision before them>`, `alembic upgrade "
    "<last of them>`, `alembic stamp --purge <the revision it was at>`, `alembic upgrade head`."
)


def _schema(name: str) -> list[str]:
    """The names of ``name``'s schema objects, one line each, as pg_dump lists them."""
    dump = subprocess.run(
        ["pg_dump", "--schema-only", database_url(name)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(line for line in dump.splitlines() if line.startswith("-- Name:"))


async def schema_drift(name: str) -> tuple[list[str], list[str]]:
    """The schema objects a freshly migrated empty database has and ``name`` lacks, and those
    ``name`` has in excess."""
    fresh = f"{name}_schema_check"
    admin = await asyncpg.connect(database_url("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{fresh}"')
        try:
            conn = await asyncpg.connect(database_url(fresh))
            await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            await conn.close()
            subprocess.run(
                [sys.executable, "-m", "service.cli", "db", "upgrade"],
                env={**os.environ, "DATABASE_URL": database_url(fresh)},
                cwd=ROOT,
                capture_output=True,
                check=True,
            )
            expected, found = set(_schema(fresh)), set(_schema(name))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
    finally:
        await admin.close()
    return sorted(expected - found), sorted(found - expected)


def drift_message(name: str, missing: list[str], extra: list[str]) -> str:
    lines = [f"{name}'s schema is not the one the migrations build:"]
    lines += [f"  missing {line[9:]}" for line in missing[:40]]
    lines += [f"  extra   {line[9:]}" for line in extra[:40]]
    return "\n".join([*lines, REPAIR.format(name=name)])


async def api_key(url: str, username: str = "bench", role: str = "admin") -> str:
    """A user (an admin cleared for restricted records unless ``role`` says otherwise) and a
    fresh API key on the benchmark database."""
    from service.auth import service as auth
    from service.config import Settings
    from service.db import create_engine, sessionmaker_for
    from service.enums import Role
    from service.errors import Conflict

    settings = Settings(database_url=url)
    engine = create_engine(settings)
    async with sessionmaker_for(engine)() as session:
        with contextlib.suppress(Conflict):
            await auth.add_user(
                session,
                username=username,
                password="bench-password-long",
                role=Role(role),
                cleared_restricted=role == "admin",
            )
        _, key = await auth.create_api_key(session, username, "benchmark")
    await engine.dispose()
    return key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def server(command: list[str], env: dict[str, str], health: str) -> Iterator[None]:
    """Run a server process until the block ends; wait until ``health`` answers 200."""
    import httpx

    log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"server did not start: {' '.join(command)}\n{Path(log.name).read_text()[-3000:]}"
                )
            time.sleep(0.3)
        yield
    finally:
        process.terminate()
        process.wait(15)
        log.close()


@dataclass
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


WRK_SCRIPT = """
local urls = {}
local headers = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do urls[#urls + 1] = line end
  if args[2] ~= nil and args[2] ~= "" then headers["X-API-Key"] = args[2] end
  i = math.random(#urls)
end
function request()
  i = i % #urls + 1
  return wrk.format("GET", urls[i], headers)
end
function done(summary, latency, requests)
  io.write(string.format("CIVOP p50=%f p99=%f errors=%d\\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def wrk(base: str, paths: list[str], connections: int, seconds: int, key: str = "") -> Load:
    """Requests per second and latency percentiles for ``paths`` requested in rotation."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "rotate.lua"
        script.write_text(WRK_SCRIPT)
        url_file = Path(folder) / "urls.txt"
        url_file.write_text("\n".join(paths) + "\n")
        result = subprocess.run(
            [
                "wrk",
                f"-t{min(connections, 2)}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "30s",
                "-s",
                str(script),
                base,
                "--",
                str(url_file),
                key,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    stats = re.search(r"CIVOP p50=([\d.]+) p99=([\d.]+) errors=(\d+)", out)
    assert stats is not None, out
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(stats.group(3)) + (int(non_2xx.group(1)) if non_2xx else 0)
    return Load(rps, float(stats.group(1)), float(stats.group(2)), errors)


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


if __name__ == "__main__":
    # `make bench-db`, which every benchmark target on the 1M-incident database runs first.
    url = asyncio.run(ensure_database(1_000_000))
    print(f"{BENCH_DB}: migrated to the schema the migrations build")
