"""Test set-up: one throwaway PostGIS database per run (on the project-local cluster, or on the
server DATABASE_URL names), migrated with Alembic; one rolled-back transaction per test."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

BASE_URL = os.environ.get("DATABASE_URL", "postgresql://civop@127.0.0.1:55432/civop")
TEST_DB = f"civop_test_{secrets.token_hex(4)}"
TEST_URL = make_url(BASE_URL.replace("postgresql://", "postgresql+asyncpg://", 1)).set(
    database=TEST_DB
)

# Settings are read once per process: point them at the throwaway database before anything imports them.
os.environ["DATABASE_URL"] = TEST_URL.render_as_string(hide_password=False)
os.environ["CIVOP_SECRET_KEY"] = "test-signing-key-" + "x" * 32
os.environ.pop("CIVOP_DEMO", None)
os.environ.pop("CIVOP_ANONYMOUS_ROLE", None)

from httpx import ASGITransport, AsyncClient  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine  # noqa: E402

from service.auth.security import issue_token  # noqa: E402
from service.config import get_settings  # noqa: E402
from service.db import get_session  # noqa: E402
from service.main import create_app  # noqa: E402
from tests import factories  # noqa: E402

get_settings.cache_clear()


def _server_dsn(database: str) -> str:
    return TEST_URL.set(drivername="postgresql", database=database).render_as_string(
        hide_password=False
    )


async def create_database(name: str) -> str:
    """A new database with PostGIS and the migrations applied; returns its asyncpg URL."""
    admin = await asyncpg.connect(_server_dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(_server_dsn(name))
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    finally:
        await conn.close()
    url = TEST_URL.set(database=name).render_as_string(hide_password=False)
    await migrate(url)
    return url


async def migrate(url: str, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    from service.cli import ROOT

    config = Config(str(ROOT / "alembic.ini"))
    engine = create_async_engine(url)
    async with engine.begin() as connection:

        def run(sync_connection: Any) -> None:
            config.attributes["connection"] = sync_connection
            command.upgrade(config, revision)

        await connection.run_sync(run)
    await engine.dispose()


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(_server_dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def database() -> AsyncIterator[str]:
    url = await create_database(TEST_DB)
    yield url
    await drop_database(TEST_DB)


@pytest.fixture(scope="session")
async def engine(database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def world(engine: AsyncEngine) -> factories.World:
    """Sectors and one user per role, committed once for the whole run."""
    return await factories.build_world(engine)


@pytest.fixture(scope="session")
async def app(database: str) -> AsyncIterator[Any]:
    application = create_app()
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        yield session


@pytest.fixture
async def client(
    app: Any, session: AsyncSession, world: factories.World
) -> AsyncIterator[AsyncClient]:
    """An HTTP client whose requests all run inside the test's transaction."""

    async def same_session() -> AsyncIterator[AsyncSession]:
        yield session

    app.dependency_overrides[get_session] = same_session
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http:
        yield http
    app.dependency_overrides.clear()


@pytest.fixture
def headers(world: factories.World) -> Callable[[str], dict[str, str]]:
    """Authorization headers for one of the world's users, by username."""
    from datetime import timedelta

    def for_user(username: str) -> dict[str, str]:
        token, _ = issue_token(
            world.users[username], get_settings().signing_key(), timedelta(minutes=5)
        )
        return {"Authorization": f"Bearer {token}"}

    return for_user


@pytest.fixture
def make(
    client: AsyncClient, headers: Callable[[str], dict[str, str]]
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Create a record through the API (as the admin unless told otherwise)."""

    async def create(collection: str, as_user: str = "admin", **overrides: Any) -> dict[str, Any]:
        feature = factories.feature(collection, **overrides)
        response = await client.post(f"/api/{collection}", json=feature, headers=headers(as_user))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    return create
