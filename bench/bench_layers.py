"""Map layers side by side with tipg, on the 1,000,000-incident demo database.

Both servers run with one uvicorn worker and a pool of 10 connections against the same
database on loopback; wrk requests the same paths in rotation:

- items with a bbox of ~1% of the mission extent, limit 100 and 1000;
- vector tiles at z6, z10 and z14 rotating over up to 200 distinct tiles that hold incidents;

at 1 and 8 concurrent connections, and prints requests/s and p50/p99 latency for both and the
ratio ours/tipg. Our tile cache is measured off (every tile built) and on.

    make bench-layers            # or: python -m bench.bench_layers [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
from pathlib import Path

import asyncpg
import morecantile

from bench.common import ROOT, SECRET, Load, api_key, ensure_database, free_port, server, wrk

TIPG_VENV = ROOT / ".civop" / "bench-venv"
TMS = morecantile.tms.get("WebMercatorQuad")
POOL = 10
TILE_LIMIT = 10_000  # tipg's default features per tile; ours is set to the same


def tipg_python() -> Path:
    """tipg in its own virtual environment, so its pins do not touch ours."""
    python = TIPG_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "tipg", "uvicorn"], check=True)
    return python


async def workloads(url: str, seed: int = 1) -> dict[str, tuple[list[str], list[str]]]:
    """Paths for each workload: (ours, tipg)."""
    rng = random.Random(seed)
    conn = await asyncpg.connect(url)
    x0, y0, x1, y1 = await conn.fetchrow(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM incidents) s"
    )
    sample = await conn.fetch(
        "SELECT ST_X(geom) x, ST_Y(geom) y FROM incidents TABLESAMPLE SYSTEM (1) LIMIT 2000"
    )
    await conn.close()
    width, height = (x1 - x0) * 0.1, (y1 - y0) * 0.1  # 1% of the extent's area
    boxes = []
    for _ in range(200):
        bx, by = rng.uniform(x0, x1 - width), rng.uniform(y0, y1 - height)
        boxes.append(f"{bx:.5f},{by:.5f},{bx + width:.5f},{by + height:.5f}")
    found: dict[str, tuple[list[str], list[str]]] = {}
    for limit in (100, 1000):
        found[f"items bbox 1% limit {limit}"] = (
            [f"/collections/incidents/items?bbox={b}&limit={limit}" for b in boxes],
            [f"/collections/public.incidents/items?bbox={b}&limit={limit}" for b in boxes],
        )
    for zoom in (6, 10, 14):
        tiles = sorted({(t.x, t.y) for t in (TMS.tile(r["x"], r["y"], zoom) for r in sample)})
        rng.shuffle(tiles)
        tiles = tiles[:200]
        found[f"tiles z{zoom} ({len(tiles)} tiles)"] = (
            [f"/collections/incidents/tiles/WebMercatorQuad/{zoom}/{x}/{y}" for x, y in tiles],
            [
                f"/collections/public.incidents/tiles/WebMercatorQuad/{zoom}/{x}/{y}"
                for x, y in tiles
            ],
        )
    return found


def row(name: str, connections: int, ours: Load, theirs: Load) -> str:
    ratio = ours.requests_per_s / theirs.requests_per_s if theirs.requests_per_s else float("inf")
    errors = f"  errors {ours.errors}/{theirs.errors}" if ours.errors or theirs.errors else ""
    return (
        f"| {name:<32} | {connections:>2} | {ours.requests_per_s:>8.1f} | {theirs.requests_per_s:>8.1f} | "
        f"{ratio:>5.2f}x | {ours.p50_ms:>7.1f} / {ours.p99_ms:>7.1f} | {theirs.p50_ms:>7.1f} / {theirs.p99_ms:>7.1f} |{errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="duration of each measurement")
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument(
        "--only", default="", help="run only the workloads whose name contains this, e.g. z14"
    )
    args = parser.parse_args()

    url = asyncio.run(ensure_database(args.incidents))
    key = asyncio.run(api_key(url))
    paths = {name: urls for name, urls in asyncio.run(workloads(url)).items() if args.only in name}
    ours_port, tipg_port = free_port(), free_port()
    ours_base, tipg_base = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{tipg_port}"
    uvicorn = ["-m", "uvicorn", "--workers", "1", "--log-level", "warning", "--host", "127.0.0.1"]
    common = {
        "DATABASE_URL": url,
        "CIVOP_SECRET_KEY": SECRET,
        "CIVOP_DB_POOL_SIZE": str(POOL),
        "CIVOP_DB_MAX_OVERFLOW": "0",
        "CIVOP_TILE_MAX_FEATURES": str(TILE_LIMIT),
    }
    tipg_env = {
        "DATABASE_URL": url,
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.incidents"]',
        "TIPG_MAX_FEATURES_PER_TILE": str(TILE_LIMIT),
        "DB_MIN_CONN_SIZE": str(POOL),
        "DB_MAX_CONN_SIZE": str(POOL),
        # tipg reads its catalog again every 5 minutes by default, with every connection at
        # once; on 1M incidents that is 5-13 s of full scans, which lands on whichever server
        # is being measured at that moment. The tables do not change during the benchmark.
        "TIPG_CATALOG_TTL": "0",
    }
    print(
        f"\nmap layers on {args.incidents:,} incidents, {args.seconds} s per cell, one worker each, pool {POOL}\n"
    )
    header = (
        "| workload                         | c  | ours r/s | tipg r/s | ratio  | ours p50 / p99 ms | tipg p50 / p99 ms |\n"
        "|----------------------------------|----|----------|----------|--------|-------------------|-------------------|"
    )
    results: dict[tuple[str, int, str], Load] = {}
    tipg_cmd = [str(tipg_python()), *uvicorn, "--port", str(tipg_port), "tipg.main:app"]
    ours_cmd = [sys.executable, *uvicorn, "--factory", "service.main:app_factory"]
    cached_port = free_port()
    cached_base = f"http://127.0.0.1:{cached_port}"
    # All three servers run at once and are measured in turn, cell by cell, so that whatever
    # else the machine does affects them alike.
    with (
        server(tipg_cmd, tipg_env, f"{tipg_base}/healthz"),
        server(
            [*ours_cmd, "--port", str(ours_port)],
            {**common, "CIVOP_TILE_CACHE_MB": "0"},
            f"{ours_base}/health",
        ),
        server(
            [*ours_cmd, "--port", str(cached_port)],
            {**common, "CIVOP_TILE_CACHE_MB": "256"},
            f"{cached_base}/health",
        ),
    ):
        for name, (ours, theirs) in paths.items():
            for connections in (1, 8):
                contenders = [
                    ("tipg", tipg_base, theirs, ""),
                    ("ours cache 0", ours_base, ours, key),
                ]
                if name.startswith("tiles"):
                    contenders.append(("ours cache 256", cached_base, ours, key))
                for _, base, urls, credential in contenders:
                    wrk(base, urls[:20], 1, 2, credential)  # warm up
                for label, base, urls, credential in contenders:
                    results[(name, connections, label)] = wrk(
                        base, urls, connections, args.seconds, credential
                    )
    print("tile cache off (every tile built in PostGIS):\n" + header)
    for name in paths:
        for connections in (1, 8):
            print(
                row(
                    name,
                    connections,
                    results[(name, connections, "ours cache 0")],
                    results[(name, connections, "tipg")],
                )
            )
    print("\ntile cache on (256 MB; tipg has none):\n" + header)
    for name in paths:
        if name.startswith("tiles"):
            for connections in (1, 8):
                print(
                    row(
                        name,
                        connections,
                        results[(name, connections, "ours cache 256")],
                        results[(name, connections, "tipg")],
                    )
                )
    print()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    main()
