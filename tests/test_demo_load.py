"""The demo mission `make run` serves: loaded once, every collection filled, accounts scoped."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from service.access.policy import SYSTEM
from service.auth import service as auth
from service.auth.models import User
from service.collections.params import ListQuery
from service.collections.registry import COLLECTIONS
from service.collections.service import list_features
from service.demo import load_demo
from service.errors import Conflict
from tests.conftest import TEST_DB, create_database, drop_database


@pytest.fixture(scope="module")
async def demo_engine() -> AsyncIterator[tuple[AsyncEngine, str]]:
    name = f"{TEST_DB}_demo"
    url = await create_database(name)
    engine = create_async_engine(url)
    yield engine, url
    await engine.dispose()
    await drop_database(name)


async def test_demo_fills_every_collection_once(demo_engine: tuple[AsyncEngine, str]) -> None:
    engine, _ = demo_engine
    counts = await load_demo(engine, incidents=2_000)
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
