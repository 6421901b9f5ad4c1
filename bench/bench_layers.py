"""Map layers side by side with tipg, on the 1,000,000-incident demo database.

Both servers run with one uvicorn worker and a pool of 10 connections against the same
database on loopback; wrk requests the same paths in rotation, where the data is dense and
where it is sparse:

- items in boxes of 1 % of the mission extent (a tenth of its width and height), limit 100
  and 1000: ``dense`` boxes are centred on 200 incidents sampled at random (so busy areas
  come up as often as they hold incidents: a box there matches up to ~200,000 incidents),
  ``sparse`` boxes are placed uniformly at random over the extent;
- vector tiles at z6, z10 and z14: ``dense`` are the tiles of 200 sampled incidents, ``sparse``
  the tiles of 200 points placed uniformly at random;

at 1 and 8 concurrent connections, as an admin (sees every record) and as an analyst (the
access view analysts get: no restricted records, references to hidden records masked). tipg
serves the whole table to anyone, so both keys are compared with the same tipg figures.
Printed: requests/s, p50/p99 latency and the ratio civop/tipg of requests/s per workload.
Our tile cache is off (every tile built); ``--cache`` adds a server with a 256 MB cache.

    make bench-layers            # or: python -m bench.bench_layers [--seconds 8] [--only z14]

tipg is installed once, with pip, into a virtual environment of its own (``CIVOP_TIPG_VENV``,
by default ``.civop/bench-venv``, which git ignores), so its pins do not touch ours.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import morecantile

from bench.common import ROOT, SECRET, Load, api_key, ensure_database, free_port, server, wrk

TIPG_VENV = Path(os.environ.get("CIVOP_TIPG_VENV", ROOT / ".civop" / "bench-venv"))
TMS = morecantile.tms.get("WebMercatorQuad")
POOL = 10
TILE_LIMIT = 10_000  # tipg's default features per tile; ours is set to the same
SAMPLES = 200
ZOOMS = (6, 10, 14)


def tipg_python() -> Path:
    """tipg in its own virtual environment, so its pins do not touch ours."""
    python = TIPG_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "tipg", "uvicorn"], check=True)
    return python


@dataclass(frozen=True)
class Workload:
    name: str
    ours: list[str]
    tipg: list[str]
    detail: str

    @property
    def tiles(self) -> bool:
        return self.name.startswith("tiles")


async def workloads(url: str, seed: int = 1) -> list[Workload]:
    """The paths of each workload, for us and for tipg."""
    rng = random.Random(seed)
    conn = await asyncpg.connect(url)
    try:
        x0, y0, x1, y1 = await conn.fetchrow(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)"
            " FROM (SELECT ST_Extent(geom) e FROM incidents) s"
        )
        await conn.execute("SELECT setseed($1)", rng.random() * 2 - 1)
        # Rows, not pages, sampled: each incident as likely as any other.
        sampled = await conn.fetch(
            "SELECT ST_X(geom) x, ST_Y(geom) y FROM incidents TABLESAMPLE BERNOULLI (0.1)"
            " REPEATABLE ($1) ORDER BY random() LIMIT $2",
            seed,
            SAMPLES,
        )
    finally:
        await conn.close()
    dense = [(float(r["x"]), float(r["y"])) for r in sampled]
    sparse = [(rng.uniform(x0, x1), rng.uniform(y0, y1)) for _ in range(SAMPLES)]
    width, height = (x1 - x0) * 0.1, (y1 - y0) * 0.1  # 1 % of the extent's area

    def box(x: float, y: float) -> str:
        left = min(max(x - width / 2, x0), x1 - width)
        bottom = min(max(y - height / 2, y0), y1 - height)
        return f"{left:.5f},{bottom:.5f},{left + width:.5f},{bottom + height:.5f}"

    found: list[Workload] = []
    for limit in (100, 1000):
        for where, points in (("dense", dense), ("sparse", sparse)):
            boxes = [box(x, y) for x, y in points]
            found.append(
                Workload(
                    f"items {where} 1% limit {limit}",
                    [f"/collections/incidents/items?bbox={b}&limit={limit}" for b in boxes],
                    [f"/collections/public.incidents/items?bbox={b}&limit={limit}" for b in boxes],
                    f"{len(boxes)} boxes",
                )
            )
    for zoom in ZOOMS:
        for where, points in (("dense", dense), ("sparse", sparse)):
            tiles = [TMS.tile(x, y, zoom) for x, y in points]
            found.append(
                Workload(
                    f"tiles z{zoom} {where}",
                    [
                        f"/collections/incidents/tiles/WebMercatorQuad/{zoom}/{t.x}/{t.y}"
                        for t in tiles
                    ],
                    [
                        f"/collections/public.incidents/tiles/WebMercatorQuad/{zoom}/{t.x}/{t.y}"
                        for t in tiles
                    ],
                    f"{len(tiles)} tiles, {len({(t.x, t.y) for t in tiles})} distinct",
                )
            )
    return found


def ratio(ours: Load, theirs: Load) -> float:
    return ours.requests_per_s / theirs.requests_per_s if theirs.requests_per_s else float("inf")


HEADER = (
    "| workload                    | c | tipg r/s | admin r/s | ratio | analyst r/s | ratio "
    "| tipg p50/p99 ms | admin p50/p99 ms | analyst p50/p99 ms |\n"
    "|-----------------------------|---|----------|-----------|-------|-------------|-------"
    "|-----------------|------------------|--------------------|"
)


def row(name: str, connections: int, tipg: Load, admin: Load, analyst: Load) -> str:
    errors = [
        f"{label} {load.errors}"
        for label, load in (("tipg", tipg), ("admin", admin), ("analyst", analyst))
        if load.errors
    ]
    return (
        f"| {name:<27} | {connections} | {tipg.requests_per_s:>8.1f} | {admin.requests_per_s:>9.1f} "
        f"| {ratio(admin, tipg):>4.2f}x | {analyst.requests_per_s:>11.1f} | {ratio(analyst, tipg):>4.2f}x "
        f"| {tipg.p50_ms:>6.1f} / {tipg.p99_ms:>6.1f} | {admin.p50_ms:>6.1f} / {admin.p99_ms:>7.1f} "
        f"| {analyst.p50_ms:>7.1f} / {analyst.p99_ms:>8.1f} |"
        + (f"  errors: {', '.join(errors)}" if errors else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=8, help="duration of each measurement")
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument(
        "--only",
        default="",
        help="run only the workloads whose name matches this regular expression, e.g. z14",
    )
    parser.add_argument(
        "--connections", default="1,8", help="concurrent connections to measure, e.g. 1,8"
    )
    parser.add_argument(
        "--cache", action="store_true", help="also measure tiles with our 256 MB tile cache"
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.connections.split(",")]

    url = asyncio.run(ensure_database(args.incidents))
    keys = {
        "admin": asyncio.run(api_key(url)),
        "analyst": asyncio.run(api_key(url, "bench-analyst", role="analyst")),
    }
    chosen = [w for w in asyncio.run(workloads(url)) if re.search(args.only, w.name)]
    ours_port, tipg_port, cached_port = free_port(), free_port(), free_port()
    ours_base, tipg_base = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{tipg_port}"
    cached_base = f"http://127.0.0.1:{cached_port}"
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
        f"\nmap layers on {args.incidents:,} incidents, {args.seconds} s per cell, one worker "
        f"each, pool {POOL}; ratio = civop / tipg requests per second\n"
    )
    for workload in chosen:
        print(f"  {workload.name}: {workload.detail}")
    results: dict[tuple[str, int, str], Load] = {}
    tipg_cmd = [str(tipg_python()), *uvicorn, "--port", str(tipg_port), "tipg.main:app"]
    ours_cmd = [sys.executable, *uvicorn, "--factory", "service.main:app_factory"]
    # The servers run at once and are measured in turn, cell by cell, so that whatever else
    # the machine does affects them alike.
    with contextlib.ExitStack() as running:
        running.enter_context(server(tipg_cmd, tipg_env, f"{tipg_base}/healthz"))
        running.enter_context(
            server(
                [*ours_cmd, "--port", str(ours_port)],
                {**common, "CIVOP_TILE_CACHE_MB": "0"},
                f"{ours_base}/health",
            )
        )
        if args.cache:
            running.enter_context(
                server(
                    [*ours_cmd, "--port", str(cached_port)],
                    {**common, "CIVOP_TILE_CACHE_MB": "256"},
                    f"{cached_base}/health",
                )
            )
        for workload in chosen:
            for connections in levels:
                contenders = [
                    ("tipg", tipg_base, workload.tipg, ""),
                    ("admin", ours_base, workload.ours, keys["admin"]),
                    ("analyst", ours_base, workload.ours, keys["analyst"]),
                ]
                if workload.tiles and args.cache:
                    contenders.append(("admin cached", cached_base, workload.ours, keys["admin"]))
                for _, base, urls, credential in contenders:
                    wrk(base, urls[:20], 1, 1, credential)  # warm up
                for label, base, urls, credential in contenders:
                    results[(workload.name, connections, label)] = wrk(
                        base, urls, connections, args.seconds, credential
                    )
    print("\ntile cache off (every tile built in PostGIS):\n" + HEADER)
    for workload in chosen:
        for connections in levels:
            print(
                row(
                    workload.name,
                    connections,
                    *(
                        results[(workload.name, connections, label)]
                        for label in ("tipg", "admin", "analyst")
                    ),
                )
            )
    if args.cache:
        print("\nadmin with the tile cache on (256 MB; tipg has none):")
        for workload in chosen:
            for connections in levels:
                if workload.tiles:
                    mine = results[(workload.name, connections, "admin cached")]
                    theirs = results[(workload.name, connections, "tipg")]
                    print(
                        f"| {workload.name:<27} | {connections} | {mine.requests_per_s:>8.1f} r/s "
                        f"| {ratio(mine, theirs):>5.2f}x | p50 {mine.p50_ms:.1f} ms |"
                    )
    print()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    main()
