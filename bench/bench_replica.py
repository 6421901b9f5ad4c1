"""Tile throughput with one server against the primary alone, and against primary + replica.

Starts a streaming replica of the project-local cluster (``scripts/pg.sh replica-start``,
pg_basebackup), then runs two civop servers on the 1,000,000-incident demo database, one
uvicorn worker and a pool of 10 each, tile cache off so that every tile is built in PostGIS:

- ``primary``: ``DATABASE_URL`` only, every read on the primary;
- ``primary + replica``: ``READ_DATABASE_URL`` names the replica, so tiles and items are read
  there while writes stay on the primary.

wrk requests the same tiles (z10, z14) and items in rotation at 1 and 8 connections, alone and
while a writer keeps the primary busy with incident updates; prints requests/s, p50/p99 and the
ratio, and how many transactions each database served. The replica is stopped and removed at
the end.

    make bench-replica            # or: python -m bench.bench_replica [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import asyncpg

from bench.bench_layers import TILE_LIMIT, workloads
from bench.common import (
    BENCH_DB,
    ROOT,
    SECRET,
    SERVER,
    Load,
    api_key,
    ensure_database,
    free_port,
    server,
    wrk,
)

POOL = 10
PG = ROOT / "scripts" / "pg.sh"


@contextlib.contextmanager
def replica(port: int) -> Iterator[str]:
    """A streaming replica of the project-local cluster on ``port``, removed afterwards."""
    started = time.monotonic()
    subprocess.run(["bash", str(PG), "replica-start", str(port)], check=True, cwd=ROOT)
    print(f"replica started in {time.monotonic() - started:.0f} s (pg_basebackup)", flush=True)
    host = SERVER.rsplit("@", 1)[-1].split(":")[0]
    user = SERVER.split("//", 1)[1].split("@")[0]
    try:
        yield f"postgresql://{user}@{host}:{port}/{BENCH_DB}"
    finally:
        subprocess.run(["bash", str(PG), "replica-drop", str(port)], check=False, cwd=ROOT)


async def caught_up(primary: str, standby: str, timeout_s: float = 120) -> float:
    """Seconds until the replica has replayed everything the primary had written."""
    started = time.monotonic()
    conn = await asyncpg.connect(primary)
    target = await conn.fetchval("SELECT pg_current_wal_lsn()::text")
    await conn.close()
    while True:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            conn = await asyncpg.connect(standby)
            try:
                replayed = await conn.fetchval(
                    "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target
                )
            finally:
                await conn.close()
            if replayed:
                return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise SystemExit("the replica did not catch up")
        await asyncio.sleep(0.5)


async def transactions(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
                BENCH_DB,
            )
        )
    finally:
        await conn.close()


@contextlib.contextmanager
def writer(url: str) -> Iterator[list[int]]:
    """Keeps the primary busy: batches of incident updates until the block ends."""
    done = threading.Event()
    count = [0]

    async def write() -> None:
        conn = await asyncpg.connect(url)
        try:
            while not done.is_set():
                await conn.execute(
                    "UPDATE incidents SET description = coalesce(description, '') || '.' "
                    "WHERE id IN (SELECT id FROM incidents TABLESAMPLE SYSTEM (0.01) LIMIT 50)"
                )
                count[0] += 1
        finally:
            await conn.close()

    thread = threading.Thread(target=lambda: asyncio.run(write()), daemon=True)
    thread.start()
    try:
        yield count
    finally:
        done.set()
        thread.join(30)


def row(name: str, connections: int, alone: Load, replicated: Load) -> str:
    ratio = replicated.requests_per_s / alone.requests_per_s if alone.requests_per_s else 0.0
    errors = alone.errors + replicated.errors
    return (
        f"| {name:<38} | {connections:>2} | {alone.requests_per_s:>9.1f} | "
        f"{replicated.requests_per_s:>9.1f} | {ratio:>5.2f}x | {alone.p50_ms:>6.1f} / {alone.p99_ms:>6.1f} | "
        f"{replicated.p50_ms:>6.1f} / {replicated.p99_ms:>6.1f} |"
        + (f" errors {errors}" if errors else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="duration of each measurement")
    parser.add_argument("--incidents", type=int, default=1_000_000)
    args = parser.parse_args()

    primary = asyncio.run(ensure_database(args.incidents))
    key = asyncio.run(api_key(primary))
    paths = asyncio.run(workloads(primary))
    chosen = {
        name: ours
        for name, (ours, _) in paths.items()
        if name.startswith(("tiles z10", "tiles z14")) or name == "items bbox 1% limit 100"
    }
    uvicorn = [sys.executable, "-m", "uvicorn", "--workers", "1", "--log-level", "warning"]
    uvicorn += ["--host", "127.0.0.1", "--factory", "service.main:app_factory"]
    common = {
        "DATABASE_URL": primary,
        "CIVOP_SECRET_KEY": SECRET,
        "CIVOP_DB_POOL_SIZE": str(POOL),
        "CIVOP_DB_MAX_OVERFLOW": "0",
        "CIVOP_TILE_MAX_FEATURES": str(TILE_LIMIT),
        "CIVOP_TILE_CACHE_MB": "0",
    }
    results: dict[tuple[str, int, str, bool], Load] = {}
    with replica(free_port()) as standby:
        lag = asyncio.run(caught_up(primary, standby))
        print(f"replica caught up in {lag:.1f} s", flush=True)
        alone_port, replicated_port = free_port(), free_port()
        bases = {
            "primary": f"http://127.0.0.1:{alone_port}",
            "primary + replica": f"http://127.0.0.1:{replicated_port}",
        }
        before = {
            "primary": asyncio.run(transactions(primary)),
            "replica": asyncio.run(transactions(standby)),
        }
        with (
            server([*uvicorn, "--port", str(alone_port)], common, f"{bases['primary']}/health"),
            server(
                [*uvicorn, "--port", str(replicated_port)],
                {**common, "CIVOP_READ_DATABASE_URL": standby},
                f"{bases['primary + replica']}/health",
            ),
        ):
            for busy in (False, True):
                with writer(primary) if busy else contextlib.nullcontext([0]) as writes:
                    for name, urls in chosen.items():
                        for connections in (1, 8):
                            for label, base in bases.items():
                                wrk(base, urls[:20], 1, 2, key)  # warm up
                                results[(name, connections, label, busy)] = wrk(
                                    base, urls, connections, args.seconds, key
                                )
                if busy:
                    print(f"writer: {writes[0]:,} update statements during the busy runs")
        after = {
            "primary": asyncio.run(transactions(primary)),
            "replica": asyncio.run(transactions(standby)),
        }

    print(
        f"\ntile and item throughput on {args.incidents:,} incidents, {args.seconds} s per cell, "
        f"one worker each, pool {POOL}, tile cache off\n"
    )
    header = (
        "| workload                               | c  | primary   | + replica | ratio  | primary p50/p99 | + replica p50/p99 |\n"
        "|----------------------------------------|----|-----------|-----------|--------|-----------------|-------------------|"
    )
    for busy in (False, True):
        print("while a writer updates incidents on the primary:" if busy else "reads alone:")
        print(header)
        for name in chosen:
            for connections in (1, 8):
                print(
                    row(
                        name,
                        connections,
                        results[(name, connections, "primary", busy)],
                        results[(name, connections, "primary + replica", busy)],
                    )
                )
        print()
    print(
        "transactions served during the runs: primary {:,}, replica {:,}".format(
            after["primary"] - before["primary"], after["replica"] - before["replica"]
        )
    )
    print(f"({os.cpu_count()} cores: primary and replica share this machine's CPU and disk)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    main()
