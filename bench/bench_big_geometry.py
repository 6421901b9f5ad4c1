"""A z10 vector tile and an exposure analysis over a camp outline of 1,000,003 vertices stored by
SQL (past the API's limits), with incidents 5 km outside it: read from its bounded outline
(``geometry_outlines``) and, as it was before outlines, from the geometry itself.

The outline is the geometry as tiles and analyses read it today; removing its row gives the
reading of before. The camp is a ring of spikes (every other vertex 1 km further in), which no
simplification for a tile reduces: the worst case. The service runs in this process with the
statement timeout given (default 5 s): a query that ignores it answers 503 when the client gives
up, 5 s later, while PostgreSQL goes on working through it.

    python -m bench.bench_big_geometry [--incidents 2000] [--timeout-ms 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import asyncpg
import morecantile
from httpx import ASGITransport, AsyncClient

from bench.common import SECRET, SERVER, api_key
from service.config import Settings
from service.main import create_app

NAME = "civop_bench_big_geometry"
CENTRE = (25.0, 7.0)
VERTICES = 1_000_002  # and the closing one

BIG_CAMP = """
WITH ring AS (
    SELECT ST_MakeLine(ST_SetSRID(ST_MakePoint(
        $1 + (0.3 - 0.01 * (i % 2)) * cos(2 * pi() * i / $3),
        $2 + (0.3 - 0.01 * (i % 2)) * sin(2 * pi() * i / $3)), 4326) ORDER BY i) AS line
    FROM generate_series(0, $3 - 1) AS i
)
INSERT INTO idp_sites (name, site_type, status, classification, population_individuals, geom)
SELECT 'Traced camp', 'planned_camp', 'open', 'public', 40000,
       ST_MakePolygon(ST_AddPoint(line, ST_StartPoint(line)))
FROM ring
RETURNING id
"""

INCIDENTS = """
INSERT INTO incidents (category, occurred_at, severity, geom, classification)
SELECT 'armed_clash', now() - interval '1 hour' * i, 3,
       ST_SetSRID(ST_MakePoint($1 + 0.35 * cos(i), $2 + 0.35 * sin(i)), 4326), 'public'
FROM generate_series(1, $3) AS i
"""


async def prepare(url: str, incidents: int) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import create_async_engine

    from service.cli import ROOT

    admin = await asyncpg.connect(f"{SERVER}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{NAME}"')
    await admin.close()
    connection = await asyncpg.connect(url)
    await connection.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    await connection.close()
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    async with engine.begin() as sa_connection:

        def run(sync_connection: Any) -> None:
            config = Config(str(ROOT / "alembic.ini"))
            config.attributes["connection"] = sync_connection
            command.upgrade(config, "head")

        await sa_connection.run_sync(run)
    await engine.dispose()
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT set_config('civop.actor', 'bench', false)")
        started = time.monotonic()
        await connection.execute(BIG_CAMP, *CENTRE, VERTICES)
        print(f"camp of {VERTICES + 1:,} vertices stored in {time.monotonic() - started:.1f} s")
        await connection.execute(INCIDENTS, *CENTRE, incidents)
    finally:
        await connection.close()


async def timed(http: AsyncClient, path: str, **params: Any) -> tuple[int, float]:
    started = time.monotonic()
    response = await http.get(path, params=params)
    return response.status_code, time.monotonic() - started


async def measure(url: str, key: str, timeout_ms: int, label: str) -> None:
    settings = Settings(
        database_url=url, secret_key=SECRET, db_statement_timeout_ms=timeout_ms, tile_cache_mb=0
    )
    app = create_app(settings)
    tile = morecantile.tms.get("WebMercatorQuad").tile(CENTRE[0] + 0.3, CENTRE[1], 10)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(
            transport=ASGITransport(app=app), base_url="http://bench", headers={"X-API-Key": key}
        ) as http,
    ):
        status, seconds = await timed(
            http, f"/collections/idp_sites/tiles/WebMercatorQuad/10/{tile.x}/{tile.y}"
        )
        print(f"{label:<28} z10 tile  {status}  {seconds:6.1f} s")
        status, seconds = await timed(http, "/api/analysis/exposure", bbox="24,6,26,8")
        print(f"{label:<28} exposure  {status}  {seconds:6.1f} s")


async def busy_backends(url: str) -> None:
    """Wait until no query of the bench database runs any more (one that ignored the
    statement timeout goes on after its client gave up)."""
    connection = await asyncpg.connect(url)
    started = time.monotonic()
    try:
        while await connection.fetchval(  # noqa: ASYNC110 - polling another process
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'active' "
            "AND pid <> pg_backend_pid()",
            NAME,
        ):
            await asyncio.sleep(0.5)
    finally:
        await connection.close()
    print(f"{'':<28} queries still running after the answers: {time.monotonic() - started:.1f} s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--timeout-ms", type=int, default=5000)
    args = parser.parse_args()
    url = f"{SERVER}/{NAME}"
    await prepare(url, args.incidents)
    try:
        key = await api_key(url)
        await measure(url, key, args.timeout_ms, "from the outline (now)")
        await busy_backends(url)
        connection = await asyncpg.connect(url)
        outline = await connection.fetchrow(
            "DELETE FROM geometry_outlines RETURNING vertices, ST_NPoints(geom) AS kept"
        )
        await connection.close()
        await measure(url, key, args.timeout_ms, "from the geometry (before)")
        await busy_backends(url)
        print(
            f"the camp's outline keeps {outline['kept']:,} of its {outline['vertices']:,} vertices"
        )
    finally:
        admin = await asyncpg.connect(f"{SERVER}/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
