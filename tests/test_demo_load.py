"""The demo mission `make run` serves: loaded once, every collection filled, accounts scoped."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from service.access.policy import SYSTEM
from service.alerts import scheduled
from service.alerts.rules import run_once
from service.auth import service as auth
from service.auth.models import User
from service.collections.registry import COLLECTIONS
from service.core.params import ListQuery
from service.core.records import list_features
from service.demo import DEFAULT_END, generate_scenario
from service.demo.load import DEMO_RULES, load_demo
from service.errors import Conflict
from tests.conftest import TEST_DB, create_database, drop_database

#: What loading the demo answered, by database: the module's tests read the demo it loaded.
LOADED: dict[str, dict[str, int]] = {}


@pytest.fixture(scope="module")
async def demo_engine() -> AsyncIterator[tuple[AsyncEngine, str]]:
    """A database with the demo loaded (2,000 incidents), whichever of the module's tests runs
    first or alone."""
    name = f"{TEST_DB}_demo"
    url = await create_database(name)
    engine = create_async_engine(url)
    LOADED[url] = await load_demo(engine, incidents=2_000)
    yield engine, url
    await engine.dispose()
    await drop_database(name)


async def test_demo_fills_every_collection_once(demo_engine: tuple[AsyncEngine, str]) -> None:
    engine, url = demo_engine
    counts = LOADED[url]
    assert counts["incidents"] == 2_000 and counts["sectors"] == 13
    async with AsyncSession(engine) as session:
        for collection in COLLECTIONS.values():
            page = await list_features(session, collection, SYSTEM, ListQuery(limit=5))
            assert page.features, f"{collection.name} is empty"
        audited = await session.scalar(
            text("SELECT count(*) FROM audit_log WHERE actor = 'demo-loader'")
        )
        assert audited is not None and audited >= 2_000
    assert await load_demo(engine, incidents=2_000, if_empty=True) == {}
    with pytest.raises(Conflict):
        await load_demo(engine, incidents=2_000)


async def test_demo_accounts_are_scoped(demo_engine: tuple[AsyncEngine, str]) -> None:
    engine, url = demo_engine
    env = {
        **os.environ,
        "DATABASE_URL": url.replace("postgresql+asyncpg://", "postgresql://"),
        "CIVOP_DEMO": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "user", "demo-accounts"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "officer-nw-demo-2026" in result.stdout
    assert "srsg-demo-2026" in result.stdout
    async with AsyncSession(engine) as session:
        user = await session.scalar(select(User).where(User.username == "officer-nw"))
        assert user is not None
        principal = await auth.principal_of(session, user)
        assert (
            principal.sector_scope is not None and len(principal.sector_scope) == 3
        )  # sector + 2 battalions
    refused = subprocess.run(
        [sys.executable, "-m", "service.cli", "user", "demo-accounts"],
        env={**env, "CIVOP_DEMO": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0


async def test_the_demo_ends_today_and_brings_alert_rules_that_fire(
    demo_engine: tuple[AsyncEngine, str],
) -> None:
    """Loaded today (by the fixture), the demo's last incidents are of the last days (none in
    the future), and its alert rules are there and raise alerts on it."""
    engine, _ = demo_engine
    async with AsyncSession(engine) as session:
        recent = (
            await session.execute(
                text(
                    "SELECT count(*) FILTER (WHERE occurred_at > now() - interval '7 days'), "
                    "count(*) FILTER (WHERE occurred_at > now() - interval '30 days'), "
                    "max(occurred_at) <= now() FROM incidents"
                )
            )
        ).one()
        assert recent[0] > 0 and recent[1] > recent[0] and recent[2], recent
        rules = (await session.execute(text("SELECT name, kind FROM alert_rules"))).all()
        assert {(r.name, r.kind) for r in rules} == {(r.name, r.kind.value) for r in DEMO_RULES}
        raised = await scheduled.evaluate(session)
        await session.commit()
        raised += await run_once(session)
        alerts = dict(
            (
                await session.execute(
                    text(
                        "SELECT r.kind, count(a.id) FROM alert_rules r "
                        "LEFT JOIN alerts a ON a.rule_id = r.id GROUP BY r.kind"
                    )
                )
            ).all()
        )
    assert raised and sum(alerts.values()) > 0, alerts
    print("alerts per rule kind on the demo of 2,000 incidents:", alerts)


async def test_the_same_seed_and_reference_date_load_the_same_mission() -> None:
    """`civop demo --reference-date 2026-10-31` loads what the generator gives for that day
    (the demo as it was before it followed the calendar), and the same again next time."""
    name = f"{TEST_DB}_demo_dated"
    url = await create_database(name)
    engine = create_async_engine(url)
    env = {**os.environ, "DATABASE_URL": url.replace("postgresql+asyncpg://", "postgresql://")}
    command = ["demo", "--incidents=300", "--reference-date=2026-10-31"]
    try:
        loaded = subprocess.run(
            [sys.executable, "-m", "service.cli", *command],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert loaded.returncode == 0, loaded.stderr
        expected = generate_scenario(seed=7, incidents=300, end=DEFAULT_END)
        async with AsyncSession(engine) as session:
            rows = (
                await session.execute(text("SELECT id, occurred_at FROM incidents ORDER BY id"))
            ).all()
            sites = set((await session.scalars(text("SELECT name FROM idp_sites"))).all())
        assert [(str(r.id), r.occurred_at) for r in rows] == sorted(
            (str(i["id"]), i["occurred_at"]) for i in expected.incidents
        )
        assert sites == {s["name"] for s in expected.idp_sites}
        assert max(r.occurred_at for r in rows) < datetime(2026, 11, 1, tzinfo=UTC)
    finally:
        await engine.dispose()
        await drop_database(name)
