"""Jobs on the 1,000,000-incident demo database: the export of every incident (as an admin) in
each format, and the CIV-OES PDF of one sector, each run by the job worker that ``civop serve``
starts beside the API, while ``/health`` is asked every 100 ms.

For each: the job's run time in the worker (started to finished), the records written per
second, the size of the file, and ``/health`` p50 / p99 / max meanwhile (the API process does
none of the work, so these stay those of an idle service).

    make bench-jobs                       # or: python -m bench.bench_jobs [--incidents N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import datetime
from typing import Any

import httpx
import numpy as np

from bench.common import BENCH_DB, SECRET, api_key, ensure_database, free_port, server

FORMATS = ["csv", "geojson", "gpkg", "shapefile", "kml"]


async def _follow(base: str, key: str, path: str, params: dict[str, str]) -> dict[str, Any]:
    """Ask for ``path``, follow its job while probing /health; the job and the figures."""
    headers = {"X-API-Key": key}
    probes: list[float] = []
    failures = 0
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http,
        httpx.AsyncClient(base_url=base, timeout=5) as probe,
    ):
        asked = await http.get(path, params=params)
        if asked.status_code != 202:
            raise SystemExit(f"{path} {params}: {asked.status_code} {asked.text[:300]}")
        location = asked.headers["location"]
        job: dict[str, Any] = asked.json()
        step = 0
        while job["state"] in ("queued", "running"):
            clock = time.monotonic()
            try:
                if (await probe.get("/health")).status_code != 200:
                    failures += 1
            except httpx.HTTPError:
                failures += 1
            probes.append(time.monotonic() - clock)
            await asyncio.sleep(0.1)
            step += 1
            if step % 5 == 0:
                job = (await http.get(location)).json()
        size = 0
        if job["state"] == "succeeded":
            async with http.stream("GET", job["result"]) as result:
                async for chunk in result.aiter_bytes():
                    size += len(chunk)
    values = np.asarray(probes or [float("nan")]) * 1000
    seconds = None
    if job.get("started_at") and job.get("finished_at"):
        seconds = (
            datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
        ).total_seconds()
    return {
        "state": job["state"],
        "error": job.get("error"),
        "seconds": seconds,
        "records": job["progress"]["total"] if job["progress"]["unit"] == "rows" else None,
        "bytes": size,
        "health_p50_ms": float(np.percentile(values, 50)),
        "health_p99_ms": float(np.percentile(values, 99)),
        "health_max_ms": float(values.max()),
        "health_failures": failures,
    }


async def _sector(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SELECT id FROM sectors WHERE name = 'Sector North-West'"))
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--formats", default=",".join(FORMATS), help="or none")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    name = BENCH_DB if args.incidents == 1_000_000 else f"{BENCH_DB}_{args.incidents}"
    url = asyncio.run(ensure_database(args.incidents, name))
    key = asyncio.run(api_key(url))
    sector = asyncio.run(_sector(url))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": url,
        "CIVOP_SECRET_KEY": SECRET,
        "CIVOP_JOBS_WORKERS": "1",
        "CIVOP_JOBS_CONCURRENCY": "1",
        "CIVOP_JOBS_TIME_LIMIT_S": "14400",
        "CIVOP_JOBS_DIR": os.environ.get("CIVOP_JOBS_DIR", ""),
    }
    env = {k: v for k, v in env.items() if v}
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    rows: list[tuple[str, dict[str, Any]]] = []
    with server(command, env, f"{base}/health"):
        for fmt in [f for f in args.formats.split(",") if f and f != "none"]:
            figures = asyncio.run(_follow(base, key, "/api/incidents/export", {"format": fmt}))
            rows.append((f"export {fmt}", figures))
            _print(rows[-1])
        if not args.no_report:
            # The demo mission's period ends on 1 November 2026: its last 30 days.
            params = {"sector": sector, "format": "pdf", "end": "2026-11-01"}
            figures = asyncio.run(_follow(base, key, "/api/reports/civ-oes", params))
            rows.append(("CIV-OES PDF, Sector North-West", figures))
            _print(rows[-1])
    print(f"\njobs on {args.incidents:,} incidents (one worker, one job at a time):")
    print(f"{'job':34} {'s':>8} {'records/s':>10} {'MiB':>8} {'health p50/p99/max ms':>24}")
    for label, f in rows:
        rate = f["records"] / f["seconds"] if f["seconds"] and f["records"] else None
        print(
            f"{label:34} {f['seconds'] or float('nan'):8.1f} "
            f"{(f'{rate:,.0f}' if rate else '-'):>10} {f['bytes'] / 2**20:8.1f} "
            f"{f['health_p50_ms']:7.1f} /{f['health_p99_ms']:7.1f} /{f['health_max_ms']:7.1f}"
            + (f"  {f['state']}: {f['error']}" if f["state"] != "succeeded" else "")
        )
    p99 = [f["health_p99_ms"] for _, f in rows]
    print(f"/health p99 over all jobs: median {statistics.median(p99):.1f} ms, max {max(p99):.1f}")


def _print(row: tuple[str, dict[str, Any]]) -> None:
    label, f = row
    print(f"  {label}: {f}", flush=True)


if __name__ == "__main__":
    main()
