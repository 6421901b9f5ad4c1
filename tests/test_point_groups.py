"""Low-zoom tiles read from the point groups kept per zoom (``service.layers.groups``): the
same groups as counted from the table, for every kind of user; read only while no write has
happened since they were counted; counted again by a worker after a change."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import morecantile
import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.access.policy import Principal
from service.collections.registry import COLLECTIONS
from service.core.params import ListQuery
from service.enums import Role
from service.layers import groups, lowzoom
from tests import factories

INCIDENTS = COLLECTIONS["incidents"]
TMS = morecantile.tms.get("WebMercatorQuad")
Headers = Callable[[str], dict[str, str]]
#: Two clusters in the North and one in the South, so that tiles hold many groups and parts.
CENTRES = ((24.3, 7.4), (27.6, 8.1), (25.0, 4.2))


async def _actor(session: AsyncSession) -> uuid.UUID:
    found = await session.scalar(
        text(
            "INSERT INTO actors (name, category, geom, classification) "
            "VALUES ('Groups NGO', 'ngo', ST_SetSRID(ST_MakePoint(24.5, 7.5), 4326), 'public') "
            "RETURNING id"
        )
    )
    assert isinstance(found, uuid.UUID)
    return found


async def plant(session: AsyncSession, world: factories.World, actor: uuid.UUID) -> int:
    """600 incidents of every classification, sector, verification state and owner."""
    rng = random.Random(7)
    sectors = [world.sectors["North"], world.sectors["South"], world.sectors["North-West"], None]
    now = datetime(2026, 11, 1, tzinfo=UTC)
    rows = []
    for i in range(600):
        lon, lat = CENTRES[i % len(CENTRES)]
        rows.append(
            {
                "category": rng.choice(["armed_clash", "looting", "abduction", "displacement"]),
                "severity": rng.randint(1, 5),
                "occurred_at": now - timedelta(hours=rng.randint(0, 2000)),
                "lon": lon + rng.gauss(0, 0.4),
                "lat": lat + rng.gauss(0, 0.3),
                "sector": rng.choice(sectors),
                "classification": rng.choice(["public", "mission", "restricted"]),
                "state": rng.choice(["verified", "verified", "reported", "discredited"]),
                "owner": actor if rng.random() < 0.2 else None,
            }
        )
    await session.execute(
        text(
            "INSERT INTO incidents (category, severity, occurred_at, geom, sector_id, "
            "classification, verification_state, reporting_actor_id) VALUES (:category, "
            ":severity, :occurred_at, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :sector, "
            ":classification, :state, :owner)"
        ),
        rows,
    )
    return len(rows)


@pytest.fixture
async def planted(session: AsyncSession, world: factories.World) -> uuid.UUID:
    """The planted incidents, in the test's transaction; the partner organisation's id."""
    actor = await _actor(session)
    await plant(session, world, actor)
    return actor


def principals(world: factories.World, actor: uuid.UUID) -> dict[str, Principal]:
    north = frozenset({world.sectors["North"], world.sectors["North-West"]})
    return {
        "admin": Principal("admin", Role.admin, cleared_restricted=True),
        "analyst": Principal("analyst", Role.analyst),
        "analyst-cleared": Principal("analyst-cleared", Role.analyst, cleared_restricted=True),
        "officer-north": Principal("officer-north", Role.officer, sector_scope=north),
        "nowhere": Principal("nowhere", Role.officer, sector_scope=frozenset()),
        "partner": Principal("partner", Role.partner),
        "partner-of-the-ngo": Principal("partner-ngo", Role.partner, actor_id=actor),
    }


def tiles_of_centres() -> list[morecantile.Tile]:
    found = {TMS.tile(lon, lat, z) for lon, lat in CENTRES for z in range(groups.BASE_ZOOM + 1)}
    return sorted(found, key=lambda t: (t.z, t.x, t.y))


async def _rows(session: AsyncSession, statement: Any) -> list[tuple[str, ...]]:
    return sorted(tuple(str(v) for v in row) for row in (await session.execute(statement)).all())


async def test_groups_read_from_the_counts_are_those_counted_from_the_table(
    session: AsyncSession, world: factories.World, planted: uuid.UUID
) -> None:
    connection = await session.connection()
    made = await groups.count(connection, INCIDENTS)
    assert made is not None and made.groups > 0
    assert await groups.current(session, INCIDENTS)
    compared = 0
    for name, principal in principals(world, planted).items():
        assert groups.readable(INCIDENTS, principal, ListQuery()), name
        for tile in tiles_of_centres():
            z, x, y = tile.z, tile.x, tile.y
            kept = await _rows(session, groups.tile_groups(INCIDENTS, principal, z, x, y, 20_000))
            counted = await _rows(
                session, lowzoom.counted_groups(INCIDENTS, principal, z, x, y, ListQuery())
            )
            assert kept == counted, f"{name} z{z}/{x}/{y}"
            compared += len(kept)
    assert compared > 1000
    # What each kind of user is shown differs: the parts are applied, not ignored.
    z, x, y = 5, *TMS.tile(*CENTRES[0], 5)[:2]
    totals = {}
    for name, principal in principals(world, planted).items():
        found = groups.tile_groups(INCIDENTS, principal, z, x, y, 20_000).subquery()
        totals[name] = await session.scalar(select(func.sum(found.c.count)))
    assert totals["admin"] > totals["analyst"] > totals["partner"] > 0
    assert totals["partner-of-the-ngo"] > totals["partner"]
    assert totals["officer-north"] < totals["analyst"]
    assert totals["nowhere"] is None


async def test_counting_again_changes_nothing_until_a_write(
    session: AsyncSession, planted: uuid.UUID
) -> None:
    connection = await session.connection()
    assert await groups.count(connection, INCIDENTS) is not None
    assert await groups.count(connection, INCIDENTS) is None, "counted twice at one version"
    await session.execute(
        text("UPDATE incidents SET severity = 5 WHERE id = (SELECT id FROM incidents LIMIT 1)")
    )
    assert not await groups.current(session, INCIDENTS)
    assert await groups.count(connection, INCIDENTS) is not None


def _decoded(content: bytes) -> list[tuple[Any, ...]]:
    if not content:
        return []
    layer = mapbox_vector_tile.decode(content).get("incidents", {"features": []})
    return sorted(
        (tuple(f["geometry"]["coordinates"]), tuple(sorted(f["properties"].items())))
        for f in layer["features"]
    )


async def _tile(
    client: AsyncClient,
    auth: dict[str, str],
    tile: morecantile.Tile,
    params: dict[str, str] | None = None,
) -> bytes:
    url = f"/collections/incidents/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}"
    response = await client.get(url, headers=auth, params=params)
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize("user", ["analyst", "partner", "officer-north", "admin"])
async def test_served_tiles_are_the_same_from_the_counts_and_a_write_is_seen_at_once(
    client: AsyncClient,
    app: Any,
    session: AsyncSession,
    world: factories.World,
    headers: Headers,
    user: str,
    planted: uuid.UUID,
) -> None:
    auth = headers(user)
    tiles = [t for t in tiles_of_centres() if t.z in (0, 4, 6, 7)]
    looting = {"category": "looting"}
    counted = {t: _decoded(await _tile(client, auth, t)) for t in tiles}
    filtered = {t: _decoded(await _tile(client, auth, t, looting)) for t in tiles}
    assert sum(len(features) for features in counted.values()) > 100
    await groups.count(await session.connection(), INCIDENTS)
    app.state.tile_cache.tiles.clear()
    for t in tiles:
        assert _decoded(await _tile(client, auth, t)) == counted[t], f"{user} {t}"
        # A filter the counts do not keep: counted from the table, only looting.
        assert _decoded(await _tile(client, auth, t, looting)) == filtered[t], f"{user} {t}"
    assert all(
        dict(properties)["category"] == "looting"
        for features in filtered.values()
        for _, properties in features
    )
    assert sum(len(features) for features in filtered.values()) < sum(
        len(features) for features in counted.values()
    )
    # A record made restricted leaves the tiles of who may not see it at once, before any
    # count: the counts are no longer current, so the tile is counted from the table.
    public = await session.scalar(
        text(
            "SELECT id FROM incidents WHERE classification = 'public' "
            "AND verification_state = 'verified' AND sector_id = :north ORDER BY id LIMIT 1"
        ),
        {"north": world.sectors["North"]},
    )
    lon, lat = (
        await session.execute(
            text("SELECT ST_X(geom), ST_Y(geom) FROM incidents WHERE id = :id"), {"id": public}
        )
    ).one()
    where = TMS.tile(lon, lat, 6)

    def total(features: list[tuple[Any, ...]]) -> int:
        return sum(dict(properties)["count"] for _, properties in features)

    before = total(_decoded(await _tile(client, auth, where)))
    await session.execute(
        text("UPDATE incidents SET classification = 'restricted' WHERE id = :id"), {"id": public}
    )
    app.state.changes._tell("incidents")  # as its commit would tell every process
    assert not await groups.current(session, INCIDENTS)
    after = total(_decoded(await _tile(client, auth, where)))
    assert after == (before if user == "admin" else before - 1)


async def _until_current(engine: AsyncEngine, within_s: float) -> bool:
    async with AsyncSession(engine) as session:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if await groups.current(session, INCIDENTS):
                return True
            await session.rollback()
            await asyncio.sleep(0.1)
    return False


async def test_a_worker_counts_the_groups_at_start_and_again_after_a_change(
    engine: AsyncEngine, app: Any, worker: Any
) -> None:
    """The service queues a count when it starts and after each committed change (here with
    no wait between counts); a worker runs it."""
    assert await _until_current(engine, 60), "not counted after the service started"
    keeper = groups.GroupKeeper(app.state.sessionmaker, app.state.changes, interval_s=0)
    keeper.start()
    async with AsyncSession(engine) as session:
        made = await session.scalar(
            text(
                "INSERT INTO incidents (category, severity, occurred_at, geom, classification) "
                "VALUES ('looting', 3, now(), ST_SetSRID(ST_MakePoint(24.9, 7.9), 4326), "
                "'public') RETURNING id"
            )
        )
        await session.commit()
    try:
        assert await _until_current(engine, 60), "no count 60 s after a change"
        async with AsyncSession(engine) as session:
            counted = await session.scalar(
                text("SELECT sum(count) FROM point_groups WHERE collection = 'incidents' AND z = 0")
            )
            live = await session.scalar(
                text("SELECT count(*) FROM incidents WHERE deleted_at IS NULL")
            )
            assert counted == live > 0
    finally:
        await keeper.stop()
        async with AsyncSession(engine) as session:
            await session.execute(text("DELETE FROM incidents WHERE id = :id"), {"id": made})
            await session.commit()


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux ``/proc``)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _running(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (not ended, nor ended and waiting to be reaped)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


async def test_civop_worker_runs_queued_work_and_leaves_no_process_when_stopped(
    engine: AsyncEngine, database: str
) -> None:
    """``civop worker``, the command operators run: a count queued before it starts is run
    by a child its fork server forks, and when it is stopped nothing of it stays behind."""
    async with AsyncSession(engine) as session:
        made = await session.scalar(
            text(
                "INSERT INTO incidents (category, severity, occurred_at, geom, classification) "
                "VALUES ('looting', 3, now(), ST_SetSRID(ST_MakePoint(24.8, 7.8), 4326), "
                "'public') RETURNING id"
            )
        )
        await session.commit()
        assert not await groups.current(session, INCIDENTS)
    await groups.defer_count(async_sessionmaker(engine))
    url = database.replace("postgresql+asyncpg://", "postgresql://", 1)
    worker = subprocess.Popen(  # noqa: ASYNC220 - returns at once
        [str(Path(sys.executable).with_name("civop")), "worker"],
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert await _until_current(engine, 60), "civop worker did not run the queued count"
        forked = _children(worker.pid)
        assert forked, "no fork server beside the worker"
    finally:
        worker.terminate()
        worker.wait(30)
        async with AsyncSession(engine) as session:
            await session.execute(text("DELETE FROM incidents WHERE id = :id"), {"id": made})
            await session.commit()
    deadline = time.monotonic() + 10
    while _running(forked):
        assert time.monotonic() < deadline, f"left running after the worker: {forked}"
        await asyncio.sleep(0.1)


def test_the_command_line_counts_the_groups_once_per_change(database: str) -> None:
    def civop(*args: str, language: str = "C.UTF-8") -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL")}
        return subprocess.run(
            [sys.executable, "-m", "service.cli", *args],
            env={**env, "DATABASE_URL": database, "LANG": language},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    first = civop("db", "groups")
    assert first.returncode == 0, first.stderr
    again = civop("db", "groups")
    assert again.returncode == 0 and again.stdout.strip() == "the point groups are current"
    french = civop("db", "groups", language="fr_FR.UTF-8")
    assert french.stdout.strip() == "les groupes de points sont à jour", french.stdout
