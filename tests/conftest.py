"""Test set-up: one throwaway PostGIS database per run, or per worker when the suite runs in
parallel (pytest-xdist, ``make test``: each worker is a process of its own with a database,
servers on ports and log files of its own), on the project-local cluster or on the server
DATABASE_URL names, migrated with Alembic; one rolled-back transaction per test.

The reliability tests (tests/reliability) share one throwaway cluster and load the machine on
purpose: they run in one worker, one after another (``pytest_xdist_make_scheduler`` below),
but for those of ``NOT_SERIAL``. Databases are copies of template databases made once
(``migrated_template``, ``world_template``, ``cached_template``; docs/developers.md)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

BASE_URL = os.environ.get(
    "DATABASE_URL",
    f"postgresql://civop@127.0.0.1:{os.environ.get('CIVOP_PG_PORT', '55432')}/civop",
)
#: This process's name among the parallel workers ("gw0", "gw1", ...), or "main".
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
TEST_DB = f"civop_test_{secrets.token_hex(4)}"
TEST_URL = make_url(BASE_URL.replace("postgresql://", "postgresql+asyncpg://", 1)).set(
    database=TEST_DB
)

# Settings are read once per process: point them at the throwaway database before anything imports them.
os.environ["DATABASE_URL"] = TEST_URL.render_as_string(hide_password=False)
os.environ["CIVOP_SECRET_KEY"] = "test-signing-key-" + "x" * 32
os.environ.pop("CIVOP_DEMO", None)
# Passwords hashed with OWASP's lighter Argon2id parameters (19 MiB, 2 passes, 1 lane), which
# every process the suite starts inherits: a hash costs 0.02 s of CPU instead of 0.15 s, and
# the suite makes and checks hundreds. tests/test_auth.py checks the defaults.
os.environ["CIVOP_PASSWORD_HASH_MEMORY_KIB"] = "19456"
os.environ["CIVOP_PASSWORD_HASH_PASSES"] = "2"
os.environ["CIVOP_PASSWORD_HASH_LANES"] = "1"
#: The parameters, in what a template of users is made from: other parameters, other hashes.
PASSWORD_HASHING = " ".join(
    os.environ[f"CIVOP_PASSWORD_HASH_{name}"] for name in ("MEMORY_KIB", "PASSES", "LANES")
)
os.environ.pop("CIVOP_ANONYMOUS_ROLE", None)
# The command line speaks the shell's language: the tests that read its English run it in
# English whatever the machine's; those of other languages say theirs.
for _locale_variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_locale_variable, None)
os.environ["LANG"] = "C.UTF-8"

from httpx import ASGITransport, AsyncClient, HTTPError  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine  # noqa: E402

from service.auth.security import issue_token  # noqa: E402
from service.config import get_settings  # noqa: E402
from service.db import get_session  # noqa: E402
from service.main import create_app  # noqa: E402
from service.read_replicas import get_read_session  # noqa: E402
from tests import factories  # noqa: E402

get_settings.cache_clear()

#: Screenshots, logs and other files a person may want to look at after a run.
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
ARTIFACTS.mkdir(exist_ok=True)
#: The guides' screenshots. Tests refresh them only when asked (``make docs-images``), so that a
#: run of the suite leaves the working tree as it found it.
DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"


def docs_images_wanted() -> bool:
    """Whether this run refreshes the guides' screenshots (``CIVOP_DOCS_IMAGES=1``)."""
    return os.environ.get("CIVOP_DOCS_IMAGES") == "1"


async def screenshot(page: Any, name: str, *, docs: bool = False, **options: Any) -> Path:
    """The page's screenshot in ``artifacts/<name>.png``; one that illustrates a guide
    (``docs``) is copied to ``docs/images/<name>.png`` when ``CIVOP_DOCS_IMAGES=1``. Options
    go to Playwright's ``page.screenshot`` (``full_page=True``...)."""
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), **options)
    if docs and docs_images_wanted():
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / path.name)
    return path


#: Tests that must not run beside each other: one worker takes them all, in turn.
SERIAL_GROUPS = ("tests/reliability/",)
#: Modules of a serial group's folder that need not wait for it: Schemathesis's requests
#: against a service on a database of their own, judged by their answers, not by latency
#: figures; in the serial group they made it five minutes longer than any worker's other work.
NOT_SERIAL = ("tests/reliability/test_hostile_input.py",)
#: The longest units of work, longest first (``--module-times`` measures them): each worker
#: starts with one of them, and the short modules fill in at the end, so that no worker is
#: left with a long module when the others are done.
LONGEST_FIRST = (
    "tests/reliability/",
    "tests/test_reports.py",
    "tests/reliability/test_hostile_input.py",
    "tests/test_jobs.py",
    "tests/test_viewer_map.py",
    # its template holds a polygon of a million vertices (a few seconds to make)
    "tests/test_geometry_limits.py",
    "tests/test_cli.py",
    "tests/test_workspace_imports.py",
    "tests/test_alerts_live.py",
    "tests/test_access_leaks_alerts.py",
    "tests/test_viewer_analysis_jobs.py",
    "tests/test_workspace_alerts.py",
    "tests/test_workspace_requests.py",
    "tests/test_ogc_filters.py",
    "tests/test_alerts_webhooks.py",
)


def work_unit(nodeid: str) -> str:
    """What one worker runs in one go: a serial group's folder, or a test's module."""
    module = nodeid.split("::", 1)[0]
    if module in NOT_SERIAL:
        return module
    return next((group for group in SERIAL_GROUPS if nodeid.startswith(group)), module)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The tests of one module run in one worker, in order: a module's fixtures (a loaded demo,
    a live server) are built once and its tests may build on each other (the demo's tests read
    what the first one loaded). The serial groups take whole folders. (pytest-xdist's own
    ``loadgroup`` reads groups from test ids that pytest 9 no longer lets a plugin rename.)
    The units of :data:`LONGEST_FIRST` are handed out first, then the others, most tests
    first."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            if not self.ordered:  # the queue is complete when the first unit is handed out
                rank = {unit: place for place, unit in enumerate(LONGEST_FIRST)}
                units = sorted(self.workqueue.items(), key=lambda u: rank.get(u[0], len(rank)))
                self.workqueue.clear()
                self.workqueue.update(units)
                self.ordered = True
            super()._assign_work_unit(node)

    return ModuleScheduling(config, log)


_STARTED = time.time()


# --- where the time goes: ``--module-times`` ---------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--module-times",
        metavar="PATH",
        default=None,
        help="write each test module's wall clock (first set-up to last tear-down, in the worker"
        " that ran it) to PATH as tab-separated lines, slowest first, and print the slowest",
    )


#: Per module (its file): [worker, start, end, tests], times from time.time().
_MODULE_TIMES: dict[str, list[Any]] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    if not item.config.getoption("module_times"):
        return (yield)
    start = time.time()
    try:
        return (yield)
    finally:
        module = item.nodeid.split("::", 1)[0]
        entry = _MODULE_TIMES.setdefault(module, [WORKER, start, start, 0])
        entry[2] = time.time()
        entry[3] += 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and session.config.getoption("module_times"):
        workeroutput["module_times"] = _MODULE_TIMES


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """A worker's module times, gathered by the process that writes the report."""
    _MODULE_TIMES.update(getattr(node, "workeroutput", {}).get("module_times", {}))


def _write_module_times(config: pytest.Config, terminalreporter: Any) -> None:
    target = config.getoption("module_times")
    if not target or WORKER != "main" or not _MODULE_TIMES:
        return
    rows = sorted(_MODULE_TIMES.items(), key=lambda row: row[1][1] - row[1][2])
    lines = [
        f"{end - start:8.1f}\t{start - _STARTED:8.1f}\t{worker}\t{tests}\t{module}"
        for module, (worker, start, end, tests) in rows
    ]
    Path(target).write_text(
        "seconds\tstarted_at\tworker\ttests\tmodule\n" + "\n".join(lines) + "\n"
    )
    terminalreporter.section("slowest modules (wall clock, started at, worker)")
    for line in lines[:15]:
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(all in {target})")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The figures the reliability tests wrote in this run (by whichever worker ran them), and
    the modules' times when ``--module-times`` asks for them."""
    _write_module_times(config, terminalreporter)
    folder = ARTIFACTS / "reliability"
    if WORKER != "main" or not folder.exists():
        return
    written = sorted(p for p in folder.glob("*.txt") if p.stat().st_mtime >= _STARTED)
    if not written:
        return
    terminalreporter.section("reliability figures")
    for path in written:
        terminalreporter.write_line(f"[{path.stem}]")
        for line in path.read_text().splitlines():
            terminalreporter.write_line("  " + line)
    terminalreporter.write_line(f"(JSON in {folder})")


def worker_log(log_name: str) -> Path:
    """``artifacts/<log_name>``, named for the worker when the suite runs in parallel, so that
    workers do not write into each other's logs."""
    return ARTIFACTS / (log_name if WORKER == "main" else f"{WORKER}-{log_name}")


def _server_dsn(database: str) -> str:
    return TEST_URL.set(drivername="postgresql", database=database).render_as_string(
        hide_password=False
    )


async def create_database(name: str, template: str | None = None) -> str:
    """A new database with PostGIS and the migrations applied; returns its asyncpg URL.

    Copied from a template database migrated once (``migrated_template``), or from
    ``template`` (one of ``cached_template``): a copy takes a fraction of a second where
    running every migration takes about ten."""
    template = template or await migrated_template()
    admin = await asyncpg.connect(_server_dsn("postgres"))
    try:
        for attempt in range(50):
            try:
                await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                break
            except asyncpg.ObjectInUseError:  # another worker is copying it this instant
                if attempt == 49:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await admin.close()
    return TEST_URL.set(database=name).render_as_string(hide_password=False)


#: What the migrated schema depends on: the migrations and the service code and SQL they read.
_SCHEMA_SOURCES = ("migrations", "service", "alembic.ini")


def _schema_digest() -> str:
    digest = hashlib.sha256()
    for source in _SCHEMA_SOURCES:
        path = ROOT / source
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for file in files:
            if file.suffix in (".py", ".sql", ".ini") and "node_modules" not in file.parts:
                digest.update(str(file.relative_to(ROOT)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


async def _template(name: str, fill: Callable[[str], Awaitable[None]]) -> str:
    """The template database ``name``, made by ``fill`` (given the name of an empty database
    to fill) unless it exists: under an advisory lock, so that the workers make it once, and
    named only once complete, so that a build cut short is never copied."""
    admin = await asyncpg.connect(_server_dsn("postgres"))
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return name
        await admin.execute("SELECT pg_advisory_lock(hashtext('civop test template'))")
        try:
            if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                return name
            building = f"{name}_building"
            await admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
            await fill(building)
            await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
            await admin.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true')
        finally:
            await admin.execute("SELECT pg_advisory_unlock(hashtext('civop test template'))")
    finally:
        await admin.close()
    return name


async def migrated_template() -> str:
    """A database with PostGIS and every migration applied, named after what the schema is
    built from, so that it is built once for all the suite's databases and workers (under an
    advisory lock) and again only when a migration or the code they read changes."""

    async def fill(building: str) -> None:
        admin = await asyncpg.connect(_server_dsn("postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{building}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(_server_dsn(building))
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        finally:
            await conn.close()
        await migrate(TEST_URL.set(database=building).render_as_string(hide_password=False))

    return await _template(f"civop_template_{_schema_digest()}", fill)


async def cached_template(
    label: str, made_from: str, build: Callable[[str], Awaitable[None]]
) -> str:
    """A template database of the migrated schema with what ``build`` (given its asyncpg URL)
    adds, for data that takes long to make (a polygon of a million vertices): made once, and
    again only when the schema or ``made_from`` (the code and figures that make it) changes,
    so a run after the first copies it in a fraction of a second."""
    migrated = await migrated_template()
    made = hashlib.sha256(made_from.encode()).hexdigest()[:8]

    async def fill(building: str) -> None:
        await create_database(building, template=migrated)
        await build(TEST_URL.set(database=building).render_as_string(hide_password=False))

    return await _template(f"{migrated}_{label}_{made}", fill)


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


async def world_template() -> str:
    """The migrated schema with the test world (``factories.build_world``), as a template:
    the world's users are made once, not for every database that needs them."""

    async def build(url: str) -> None:
        engine = create_async_engine(url)
        try:
            await factories.build_world(engine)
        finally:
            await engine.dispose()

    return await cached_template("world", inspect.getsource(factories) + PASSWORD_HASHING, build)


@pytest.fixture(scope="session")
async def database() -> AsyncIterator[str]:
    """The worker's database: the test world in it (``world``)."""
    url = await create_database(TEST_DB, template=await world_template())
    yield url
    await drop_database(TEST_DB)


@pytest.fixture(scope="session")
async def engine(database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def world(engine: AsyncEngine) -> factories.World:
    """Sectors and one user per role, committed once for the whole run (in the template the
    worker's database is copied from)."""
    return await factories.world_in(engine)


@pytest.fixture(scope="session")
async def app(database: str) -> AsyncIterator[Any]:
    application = create_app()
    async with application.router.lifespan_context(application):
        yield application


@dataclass
class LiveServer:
    """The service running as users run it (uvicorn in its own process) on its own database."""

    url: str
    database_url: str
    world: factories.World
    engine: AsyncEngine

    async def api_key(self, username: str) -> str:
        from service.auth import service as auth

        async with AsyncSession(self.engine) as session:
            _, key = await auth.create_api_key(session, username, "tests")
        return key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
async def live_server(database: str) -> AsyncIterator[LiveServer]:
    async with own_live_server("live") as server:
        yield server


@asynccontextmanager
async def own_live_server(name: str) -> AsyncIterator[LiveServer]:
    """The service on a database of its own named for ``name`` (the world's records in it), for
    the block: a module whose checks count what other modules' records would change (alerts
    their rules raise, requests with the same title) runs on one of these."""
    database_name = f"{TEST_DB}_{name}"
    url = await create_database(database_name, template=await world_template())
    engine = create_async_engine(url)
    world = await factories.world_in(engine)
    env = {
        "DATABASE_URL": url.replace("postgresql+asyncpg://", "postgresql://", 1),
        "CIVOP_TILE_CACHE_MB": "0",
    }
    try:
        async with serving(env, f"{name.replace('_', '-')}-server.log") as base:
            yield LiveServer(base, url, world, engine)
    finally:
        await engine.dispose()
        await drop_database(database_name)


async def start_service(env: dict[str, str], log_name: str, port: int) -> subprocess.Popen[bytes]:
    """The service in a uvicorn process of its own (``env`` over this process's environment),
    once its /health answers; its output goes to ``worker_log(log_name)``."""
    log = open(worker_log(log_name), "ab")  # noqa: ASYNC230 - a small append, closed below
    process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
        [
            sys.executable,
            "-m",
            "uvicorn",
            "service.main:app_factory",
            "--factory",
            "--port",
            f"{port}",
        ],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()  # the child keeps its own handle
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60  # a loaded machine starts slowly
    async with AsyncClient() as http:
        while loop.time() < deadline and process.poll() is None:
            try:
                if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return process
            except (OSError, HTTPError):
                pass
            await asyncio.sleep(0.1)
    stop_service(process)
    raise RuntimeError(f"the service did not start; see {worker_log(log_name)}")


def stop_service(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(30)  # a loaded machine shuts down slowly


def start_worker(env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
    """A job worker (``civop worker``) in a process of its own, as ``civop serve`` starts one;
    its output goes to ``worker_log(log_name)``."""
    with open(worker_log(log_name), "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "service.jobs"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@asynccontextmanager
async def serving(env: dict[str, str], log_name: str, workers: int = 1) -> AsyncIterator[str]:
    """``start_service`` on a free port for the block, with ``workers`` job workers beside
    it; yields the service's base URL."""
    port = free_port()
    process = await start_service(env, log_name, port)
    helpers = [start_worker(env, log_name.replace(".log", "-worker.log")) for _ in range(workers)]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for helper in helpers:
            stop_service(helper)
        stop_service(process)


@pytest.fixture
def worker(database: str) -> Iterator[subprocess.Popen[bytes]]:
    """A job worker on the test database, for tests of the in-process app whose work is
    committed and run by a worker (it sees only what is committed). It lives only for the
    test that asks for it: left running, it would take the time-based alert passes the app
    queues, and their reads would make later bulk imports find the table busy."""
    url = database.replace("postgresql+asyncpg://", "postgresql://", 1)
    process = start_worker({"DATABASE_URL": url}, "worker.log")
    yield process
    stop_service(process)


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
    app.dependency_overrides[get_read_session] = same_session
    # Each test's writes are rolled back without a commit notification: caches derived from the
    # data must start and end each test empty, as after a reconnect.
    app.state.changes._tell(None)
    app.state.tile_cache.tiles.clear()
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http:
        yield http
    app.dependency_overrides.clear()
    app.state.changes._tell(None)
    app.state.tile_cache.tiles.clear()


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
