"""Protection-of-civilians analysis on the 1,000,000-incident demo database.

The database is the demo mission with a million incidents (built once, then reused) plus
2,000 generated IDP sites (``origin = 'bench'``, added once) for about 2,060 sites in all.
As an analyst (public and mission records), over the 90 days up to the newest incident:

- proximity for all sites (incidents within 10 km by category and severity, nearest armed
  group and base, last patrol within 10 km);
- the risk overlay of one sector at H3 resolution 7 (about 5 km² cells, town scale);
- hot spots (Gi*, conditional permutation, FDR) over the force area at resolution 6, and
  emerging hot spots (ten windows, ESRI patterns);
- exposure and coverage gaps of all sites;
- every analysis for one sector (the sector with the most incidents), each against the
  target of 1 s: proximity, exposure, coverage gaps, risk, hot spots, emerging hot spots,
  risks and opportunities, de-confliction of a 60 km route, and what is near a point;

each the median of ``--runs`` runs after a warm-up, through the package's service functions
(SQL through the access views, maths in ``geo.analysis``, the GeoJSON answer serialised).
Then the same proximity question answered the straightforward GeoPandas way (read the
layers, project to UTM, buffer, ``sjoin``, ``sjoin_nearest``, group by), in the same run,
and the ratio.

    make bench-analysis          # or: python -m bench.bench_analysis [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np

from bench.common import database_url, ensure_database

BENCH_DB = os.environ.get("CIVOP_BENCH_ANALYSIS_DB", "civop_bench_analysis")
INCIDENTS = 1_000_000
EXTRA_SITES = 2_000
RADIUS_KM = 10.0
UTM = "EPSG:32635"  # UTM zone 35N: the mission area, lon 23-29


async def ensure_sites(url: str, n: int = EXTRA_SITES, seed: int = 11) -> int:
    """Add ``n`` generated IDP sites near where incidents happen (once); total open sites."""
    conn = await asyncpg.connect(url)
    try:
        have = await conn.fetchval("SELECT count(*) FROM idp_sites WHERE origin = 'bench'")
        if have < n:
            rng = np.random.default_rng(seed)
            anchors = await conn.fetch(
                "SELECT ST_X(geom) x, ST_Y(geom) y FROM incidents ORDER BY md5(id::text) LIMIT $1",
                n,
            )
            lon = np.array([a["x"] for a in anchors]) + rng.normal(0, 0.03, n)
            lat = np.array([a["y"] for a in anchors]) + rng.normal(0, 0.03, n)
            population = np.clip(rng.lognormal(np.log(3000), 1.0, n), 100, 60000).astype(int)
            classification = rng.choice(["public", "mission", "restricted"], n, p=[0.5, 0.4, 0.1])
            async with conn.transaction():
                await conn.execute("SELECT set_config('civop.actor', 'bench', true)")
                await conn.execute("DELETE FROM idp_sites WHERE origin = 'bench'")
                await conn.executemany(
                    "INSERT INTO idp_sites (origin, external_id, name, site_type, status, "
                    "population_individuals, classification, geom) VALUES ('bench', $1, $2, "
                    "'spontaneous_settlement', 'open', $3, $4, ST_SetSRID(ST_MakePoint($5, $6), 4326))",
                    [
                        (
                            f"bench-{k}",
                            f"Bench site {k}",
                            int(population[k]),
                            str(classification[k]),
                            float(lon[k]),
                            float(lat[k]),
                        )
                        for k in range(n)
                    ],
                )
            await conn.execute("ANALYZE idp_sites")
        return int(await conn.fetchval("SELECT count(*) FROM idp_sites WHERE status = 'open'"))
    finally:
        await conn.close()


async def timed(runs: int, work: Callable[[], Awaitable[str]]) -> tuple[float, dict[str, Any]]:
    """Median seconds of ``runs`` runs after one warm-up, and the last answer."""
    answer = await work()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = await work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), json.loads(answer)


async def ours(url: str, runs: int) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from geo.analysis.exposure import ExposureParameters
    from geo.analysis.risk import RiskParameters
    from service.access.policy import Principal
    from service.analysis import service
    from service.config import to_asyncpg_url
    from service.enums import Role

    engine = create_async_engine(to_asyncpg_url(url))
    analyst = Principal("bench-analyst", Role.analyst)
    results: dict[str, Any] = {}
    async with AsyncSession(engine) as session:
        end = await session.scalar(_sql("SELECT max(occurred_at) FROM incidents"))
        assert isinstance(end, datetime)
        window = (end - timedelta(days=90), end)
        sector = await session.scalar(
            _sql("SELECT id FROM sectors WHERE level = 'sector' ORDER BY name LIMIT 1")
        )
        force = await session.scalar(_sql("SELECT id FROM sectors WHERE level = 'force' LIMIT 1"))

        async def scope(area: uuid.UUID | None) -> service.Scope:
            return await service.resolve_scope(
                session, analyst, sector=area, bbox=None, interval=window, categories=None
            )

        everywhere, one_sector, mission = await scope(None), await scope(sector), await scope(force)
        results["window"] = f"{window[0]:%Y-%m-%d} .. {window[1]:%Y-%m-%d}"
        results["proximity"] = await timed(
            runs,
            lambda: service.proximity_layer(
                session, analyst, everywhere, service.ProximityOptions(RADIUS_KM)
            ),
        )
        results["risk"] = await timed(
            runs,
            lambda: service.risk_layer(session, analyst, one_sector, RiskParameters(resolution=7)),
        )
        results["hotspots"] = await timed(
            runs,
            lambda: service.hotspot_layer(
                session, analyst, mission, service.HotspotOptions(resolution=6)
            ),
        )
        results["emerging"] = await timed(
            runs,
            lambda: service.emerging_layer(
                session, analyst, mission, service.EmergingOptions(resolution=6)
            ),
        )
        results["exposure"] = await timed(
            runs,
            lambda: service.exposure_layer(session, analyst, everywhere, ExposureParameters()),
        )
        results["coverage"] = await timed(
            runs,
            lambda: service.coverage_gap_layer(
                session, analyst, everywhere, service.CoverageOptions()
            ),
        )
        results["sector"] = await per_sector(session, analyst, window, runs)
    await engine.dispose()
    return results


#: Every analysis for one sector should answer within this many seconds.
SECTOR_TARGET_S = 1.0
#: Exposure for all sites should answer within this many seconds.
EXPOSURE_TARGET_S = 1.0


async def per_sector(
    session: Any, analyst: Any, window: tuple[datetime, datetime], runs: int
) -> dict[str, Any]:
    """Every analysis over the sector with the most incidents in the window."""
    from shapely.geometry import LineString, Point

    from geo.analysis.exposure import ExposureParameters
    from geo.analysis.risk import RiskParameters
    from service.analysis import service

    row = (
        await session.execute(
            _sql(
                "SELECT s.id, s.name, ST_X(ST_PointOnSurface(s.geom)) x, "
                "ST_Y(ST_PointOnSurface(s.geom)) y FROM sectors s WHERE s.level = 'sector' "
                "ORDER BY (SELECT count(*) FROM incidents i WHERE ST_Intersects(i.geom, s.geom) "
                "AND i.occurred_at BETWEEN :a AND :b) DESC LIMIT 1"
            ),
            {"a": window[0], "b": window[1]},
        )
    ).one()
    scope = await service.resolve_scope(
        session, analyst, sector=row.id, bbox=None, interval=window, categories=None
    )
    month = await service.resolve_scope(
        session,
        analyst,
        sector=row.id,
        bbox=None,
        interval=(window[1] - timedelta(days=30), window[1]),
        categories=None,
    )
    x, y = float(row.x), float(row.y)
    route = LineString([(x - 0.27, y), (x + 0.27, y)])  # about 60 km
    work: dict[str, Callable[[], Awaitable[str]]] = {
        "proximity": lambda: service.proximity_layer(
            session, analyst, scope, service.ProximityOptions(RADIUS_KM)
        ),
        "exposure": lambda: service.exposure_layer(session, analyst, scope, ExposureParameters()),
        "coverage gaps": lambda: service.coverage_gap_layer(
            session, analyst, scope, service.CoverageOptions()
        ),
        "risk (H3 res 7)": lambda: service.risk_layer(
            session, analyst, scope, RiskParameters(resolution=7)
        ),
        "hot spots (H3 res 6)": lambda: service.hotspot_layer(
            session, analyst, scope, service.HotspotOptions(resolution=6)
        ),
        "hot spots (H3 res 7)": lambda: service.hotspot_layer(
            session, analyst, scope, service.HotspotOptions(resolution=7)
        ),
        "emerging hot spots (10 x 30 days)": lambda: service.emerging_layer(
            session, analyst, month, service.EmergingOptions(resolution=6)
        ),
        "risks and opportunities": lambda: service.opportunities_layer(
            session, analyst, scope, RiskParameters(), service.OpportunityOptions()
        ),
        "de-confliction (60 km route)": lambda: service.deconfliction_layer(
            session, analyst, route, 2.0
        ),
        "near a point (10 km)": lambda: service.near_layer(
            session, analyst, Point(x, y), 10.0, scope, 100
        ),
    }
    timings = {name: await timed(runs, job) for name, job in work.items()}
    return {"name": row.name, "timings": timings}


def _sql(text: str) -> Any:
    from sqlalchemy import text as sql_text

    return sql_text(text)


async def straightforward(url: str, start: datetime, end: datetime) -> tuple[float, Any]:
    """The same proximity question the way a GeoPandas notebook would answer it."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    started = time.perf_counter()
    conn = await asyncpg.connect(url)

    async def layer(sql: str, *args: Any) -> gpd.GeoDataFrame:
        rows = await conn.fetch(sql, *args)
        frame = pd.DataFrame([dict(r) for r in rows])
        geometry = shapely.from_wkb([bytes(w) for w in frame.pop("wkb")])
        return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326").to_crs(UTM)

    sites = await layer(
        "SELECT id, ST_AsBinary(geom) wkb FROM idp_sites WHERE deleted_at IS NULL "
        "AND classification IN ('public', 'mission') AND status = 'open'"
    )
    incidents = await layer(
        "SELECT category, severity, ST_AsBinary(geom) wkb FROM incidents WHERE deleted_at IS NULL "
        "AND classification IN ('public', 'mission') AND occurred_at >= $1 AND occurred_at <= $2",
        start,
        end,
    )
    armed = await layer(
        "SELECT id armed_id, ST_AsBinary(geom) wkb FROM actors WHERE deleted_at IS NULL "
        "AND classification IN ('public', 'mission') AND category = 'armed_group'"
    )
    bases = await layer(
        "SELECT id base_id, ST_AsBinary(geom) wkb FROM bases WHERE deleted_at IS NULL "
        "AND classification IN ('public', 'mission')"
    )
    patrols = await layer(
        "SELECT id patrol_id, start_at, ST_AsBinary(geom) wkb FROM patrols WHERE deleted_at IS NULL "
        "AND classification IN ('public', 'mission') AND state = 'conducted' "
        "AND start_at >= $1 AND start_at <= $2",
        start,
        end,
    )
    await conn.close()

    buffers = sites[["id"]].copy()
    buffers["geometry"] = sites.geometry.buffer(RADIUS_KM * 1000)
    buffers = gpd.GeoDataFrame(buffers, geometry="geometry", crs=UTM)
    near = gpd.sjoin(incidents, buffers, predicate="within")
    by_category = near.groupby(["id", "category"]).size().unstack(fill_value=0)
    by_severity = near.groupby(["id", "severity"]).size().unstack(fill_value=0)
    nearest_armed = gpd.sjoin_nearest(sites, armed, distance_col="armed_m")
    nearest_base = gpd.sjoin_nearest(sites, bases, distance_col="base_m")
    passed = gpd.sjoin(patrols, buffers, predicate="intersects")
    last_patrol = passed.sort_values("start_at").groupby("id").tail(1).set_index("id")
    answer = (
        sites[["id"]]
        .set_index("id")
        .join(by_category.sum(axis=1).rename("incidents"))
        .join(by_severity.add_prefix("severity_"))
        .join(nearest_armed.drop_duplicates("id").set_index("id")["armed_m"])
        .join(nearest_base.drop_duplicates("id").set_index("id")["base_m"])
        .join(last_patrol["start_at"])
    )
    return time.perf_counter() - started, answer


def geodesic_check(
    proximity: dict[str, Any], theirs: Any, window: tuple[datetime, datetime], n: int = 20
) -> tuple[int, int, int]:
    """Count incidents within 10 km of ``n`` point sites by brute force with pyproj."""
    from geo.analysis.geodesy import geodesic_km

    async def incidents() -> Any:
        conn = await asyncpg.connect(database_url(BENCH_DB))
        rows = await conn.fetch(
            "SELECT ST_X(geom) x, ST_Y(geom) y FROM incidents WHERE deleted_at IS NULL "
            "AND classification IN ('public', 'mission') AND occurred_at >= $1 "
            "AND occurred_at <= $2",
            *window,
        )
        await conn.close()
        return np.array([(r["x"], r["y"]) for r in rows])

    points = asyncio.run(incidents())
    sites = [f for f in proximity["features"] if f["geometry"]["type"] == "Point"]
    rng = np.random.default_rng(5)
    ours_ok = theirs_ok = 0
    for k in rng.choice(len(sites), size=min(n, len(sites)), replace=False).tolist():
        lon, lat = sites[k]["geometry"]["coordinates"]
        close = np.abs(points[:, 1] - lat) < 0.2
        km = geodesic_km(lon, lat, points[close, 0], points[close, 1])
        truth = int((km <= RADIUS_KM).sum())
        ours_ok += sites[k]["properties"]["incidents"] == truth
        theirs_ok += int(theirs.get(uuid.UUID(sites[k]["id"]), 0)) == truth
    return ours_ok, theirs_ok, min(n, len(sites))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    asyncio.run(ensure_database(INCIDENTS, name=BENCH_DB))
    url = database_url(BENCH_DB)
    n_sites = asyncio.run(ensure_sites(url))
    results = asyncio.run(ours(url, args.runs))
    proximity_s, proximity = results["proximity"]
    start, end = proximity["parameters"]["datetime"].split("/")
    window = (datetime.fromisoformat(start), datetime.fromisoformat(end))
    runs = [asyncio.run(straightforward(url, *window)) for _ in range(args.runs)]
    geopandas_s, answer = statistics.median(r[0] for r in runs), runs[-1][1]

    ours_counts = {f["id"]: f["properties"]["incidents"] for f in proximity["features"]}
    theirs = answer["incidents"].fillna(0).astype(int)
    same = sum(1 for site, count in theirs.items() if ours_counts.get(str(site)) == count)
    worst = max(abs(ours_counts.get(str(site), 0) - count) for site, count in theirs.items())

    print(f"database: {BENCH_DB}, {INCIDENTS:,} incidents, {n_sites:,} open IDP sites")
    print(f"window: {results['window']} (90 days), as an analyst, median of {args.runs} runs")
    print(
        f"proximity, all {len(proximity['features']):,} sites visible, r = 10 km: "
        f"{proximity_s:.3f} s ({proximity['summary']['incidents_in_window']:,} incidents in window)"
    )
    risk_s, risk = results["risk"]
    print(
        f"risk overlay, one sector, H3 res 7 ({risk['summary']['cells']:,} cells): {risk_s:.3f} s"
    )
    hot_s, hot = results["hotspots"]
    print(
        f"hot spots, force area, H3 res 6 ({hot['summary']['cells']:,} cells, "
        f"{hot['summary']['hot_spots']} hot): {hot_s:.3f} s"
    )
    emerging_s, _ = results["emerging"]
    print(f"emerging hot spots, force area, 10 windows of 90 days: {emerging_s:.3f} s")
    exposure_s, exposure_answer = results["exposure"]
    print(
        f"exposure, all {exposure_answer['summary']['sites']:,} sites visible, r = 20 km: "
        f"{exposure_s:.3f} s (target {EXPOSURE_TARGET_S:g} s: "
        f"{exposure_s / EXPOSURE_TARGET_S:.2f} of it)"
    )
    coverage_s, coverage = results["coverage"]
    print(f"coverage gaps, all sites: {coverage_s:.3f} s ({coverage['summary']['gaps']} gaps)")
    sector = results["sector"]
    print(f"every analysis for one sector ({sector['name']}, the most incidents), target 1 s:")
    for name, (seconds, answer) in sector["timings"].items():
        features = len(answer.get("features", []))
        print(
            f"  {name:<36} {seconds:7.3f} s  {seconds / SECTOR_TARGET_S:5.2f} of the target"
            f"  ({features:,} features)"
        )
    slowest = max(seconds for seconds, _ in sector["timings"].values())
    print(f"  slowest: {slowest:.3f} s ({'within' if slowest < SECTOR_TARGET_S else 'over'} 1 s)")
    print(
        f"proximity, straightforward GeoPandas (read, to UTM, buffer, sjoin, sjoin_nearest), "
        f"median of {args.runs}: {geopandas_s:.3f} s"
    )
    print(f"ratio GeoPandas / ours: {geopandas_s / proximity_s:.1f}x")
    print(
        f"same answer: {same:,} of {len(theirs):,} sites have identical incident counts "
        f"(largest difference {worst}; UTM vs geodesic at the 10 km edge)"
    )
    ours_ok, theirs_ok, checked = geodesic_check(proximity, theirs, window)
    print(
        f"geodesic check (pyproj, {checked} random sites, brute force): ours exact on "
        f"{ours_ok}/{checked}, GeoPandas/UTM exact on {theirs_ok}/{checked}"
    )
    print(f"finished {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    main()
