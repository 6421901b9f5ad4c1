"""Incident tiles at low zooms: bytes and build time with points grouped on the tile grid
(what the service serves below zoom 8) and, as before, one feature per incident.

Reads the database of DATABASE_URL (the demo; nothing is written), as an admin sees it,
over the tiles that cover the mission's centre:

    python -m bench.bench_lowzoom_tiles [--zooms 0,2,4,6,7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import morecantile
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from service.access.policy import Principal
from service.collections.registry import COLLECTIONS
from service.config import get_settings
from service.core.params import ListQuery
from service.enums import Role
from service.layers.lowzoom import build_grouped_tile
from service.layers.service import build_tile


async def main(zooms: list[int]) -> None:
    url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = create_async_engine(url)
    incidents = COLLECTIONS["incidents"]
    admin = Principal(username="bench", role=Role.admin, cleared_restricted=True)
    west, south, east, north = get_settings().mission_bbox
    centre = ((west + east) / 2, (south + north) / 2)
    tms = morecantile.tms.get("WebMercatorQuad")
    print(
        f"{'zoom':>4} {'single KB':>10} {'grouped KB':>11} {'ratio':>6} {'single ms':>10} {'grouped ms':>11}"
    )
    async with AsyncSession(engine) as session:
        for z in zooms:
            tile = tms.tile(*centre, z)
            figures = []
            for build in (build_tile, build_grouped_tile):
                started = time.perf_counter()
                content = await build(session, incidents, admin, z, tile.x, tile.y, ListQuery())
                figures.append((len(content), (time.perf_counter() - started) * 1000))
            (single, single_ms), (grouped, grouped_ms) = figures
            ratio = single / grouped if grouped else float("inf")
            print(
                f"{z:>4} {single / 1024:>10.1f} {grouped / 1024:>11.1f} {ratio:>5.1f}x "
                f"{single_ms:>10.0f} {grouped_ms:>11.0f}"
            )
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zooms", default="0,2,4,6,7")
    arguments = parser.parse_args()
    asyncio.run(main([int(z) for z in arguments.zooms.split(",")]))
