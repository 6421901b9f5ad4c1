"""The engine (one pool per process, opened in the app lifespan) and the session dependency."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import Executable, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.util import queue
from sqlalchemy.util.concurrency import await_only

from service.config import Settings

log = logging.getLogger("civop.db")


class FairQueue(queue.AsyncAdaptedQueue[Any]):
    """The pool's idle connections, handed to waiting requests in the order they asked.

    SQLAlchemy's queue lets a request that just arrived take a connection returned for one
    that was waiting, which then goes to the back of the line: under sustained load a request
    could be passed over until its pool timeout ran out (503) while later ones were served."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self.waiters: deque[asyncio.Future[Any]] = deque()

    def put_nowait(self, item: Any) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        super().put_nowait(item)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block or not self.waiters:
            try:
                return self.get_nowait()
            except queue.Empty:
                if not block:
                    raise
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            return await_only(asyncio.wait_for(asyncio.shield(waiter), timeout))
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():  # handed over as time ran out
                return waiter.result()
            waiter.cancel()
            raise queue.Empty() from None
        except BaseException:  # the request was cancelled: pass its connection on
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())
            waiter.cancel()
            raise
        finally:
            with contextlib.suppress(ValueError):
                self.waiters.remove(waiter)


class FairPool(AsyncAdaptedQueuePool):
    _queue_class = FairQueue


def create_engine(
    settings: Settings, url: str | None = None, *, replica: bool = False
) -> AsyncEngine:
    return create_async_engine(
        url or settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # The primary is not pinged per checkout: a dropped connection fails one request (503)
        # and SQLAlchemy discards the pool. Replicas are, so a dead one is passed over at once.
        pool_pre_ping=replica,
        pool_timeout=settings.db_pool_timeout_s,
        poolclass=FairPool,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            "command_timeout": settings.db_statement_timeout_ms / 1000 + 5,
            "server_settings": {
                "statement_timeout": str(settings.db_statement_timeout_ms),
                # Statements are prepared, and after five runs PostgreSQL may keep a generic
                # plan. A bbox matching ten rows and one matching 200,000 need different plans
                # (the time index vs the spatial one), so every run is planned for its values.
                "plan_cache_mode": "force_custom_plan",
                "application_name": "civop-read" if replica else "civop",
            },
        },
    )


def create_health_engine(settings: Settings) -> AsyncEngine:
    """One connection of its own for ``/health``: requests queueing for the pool under load
    must not make the database look down. Its statements have a short time limit of their
    own (not the requests' ``statement_timeout``) and never wait for a lock."""
    limit_ms = str(int(settings.db_connect_timeout_s * 1000))
    return create_async_engine(
        settings.database_url,
        pool_size=1,
        max_overflow=0,
        pool_pre_ping=True,
        pool_timeout=settings.db_connect_timeout_s,
        poolclass=FairPool,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            "command_timeout": settings.db_connect_timeout_s,
            "server_settings": {
                "application_name": "civop-health",
                "statement_timeout": limit_ms,
                "lock_timeout": limit_ms,
            },
        },
    )


def sessionmaker_for(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


#: For the rest of the transaction, plan statements without parallel workers.
NO_PARALLEL_WORKERS = "SELECT set_config('max_parallel_workers_per_gather', '0', true)"


async def without_parallel_workers(session: AsyncSession) -> None:
    """Plan the rest of this transaction's statements without parallel workers.

    For the map's many small reads (a page, a tile) the workers' start-up costs more than they
    save, and with requests side by side they only take cores from each other (measured on
    1M incidents, 2 cores: bench/bench_layers.py). Analysis keeps them."""
    await session.execute(select(func.set_config("max_parallel_workers_per_gather", "0", True)))


async def driver_of(connection: AsyncSession | AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a session or connection, inside its transaction."""
    if isinstance(connection, AsyncSession):
        connection = await connection.connection()
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


def on_driver(
    connection: AsyncSession | AsyncConnection, timeout: float
) -> Callable[[Executable], Awaitable[list[asyncpg.Record]]]:
    """Run statements on the driver, in the connection's transaction, with their own time
    limit (the engine's ``command_timeout`` is made for requests): for imports and loads.
    Values are bound as they are, without SQLAlchemy's type conversions."""

    async def run(statement: Executable) -> list[asyncpg.Record]:
        if isinstance(connection, AsyncSession):
            dialect = connection.get_bind().dialect
        else:
            dialect = connection.dialect
        sql, names, params = compile_for_driver(statement, dialect)
        args = [params[name] for name in names]
        driver = await driver_of(connection)
        rows: list[asyncpg.Record] = await driver.fetch(sql, *args, timeout=timeout)
        return rows

    return run


def compile_for_driver(
    statement: Executable, dialect: Dialect
) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """A statement as the driver takes it: its SQL, the names of its parameters in order and
    their values (as they are, without SQLAlchemy's type conversions)."""
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    return str(compiled), tuple(compiled.positiontup or ()), dict(compiled.construct_params() or {})


async def close_session(session: AsyncSession) -> None:
    """Close a request's session. Its connection may have died under it (the database
    restarted): the request has already answered 503, so the connection is discarded quietly
    rather than failing the closing, which would cut the answer off."""
    try:
        await session.close()
    except (DBAPIError, OSError, TimeoutError) as error:
        log.warning("discarding a broken database connection: %s", type(error).__name__)
        with contextlib.suppress(Exception):
            await session.invalidate()


#: Where a request that answers with its write (``service.idempotency``) keeps its transaction.
OUTER_TRANSACTION = "outer_transaction"


def _answers_with_write(request: Request) -> bool:
    """A POST with an ``Idempotency-Key`` to a route that records it with the write."""
    route = request.scope.get("route")
    return (
        request.method == "POST"
        and "idempotency-key" in request.headers
        and getattr(route, "idempotent", False)
    )


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; committed by the service functions that write.

    A request that records its answer with its write gets a session inside a transaction of
    its own: what the services commit are savepoints in it, and the route commits it with
    the key and the answer (``service.idempotency``)."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    if _answers_with_write(request):
        engine = maker.kw["bind"]
        connection = await engine.connect()
        try:
            outer = await connection.begin()
            setattr(request.state, OUTER_TRANSACTION, outer)
            session = AsyncSession(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
            try:
                yield session
            finally:
                await close_session(session)
                if outer.is_active:
                    with contextlib.suppress(DBAPIError, OSError, TimeoutError):
                        await outer.rollback()
        finally:
            with contextlib.suppress(DBAPIError, OSError, TimeoutError):
                await connection.close()
        return
    session = maker()
    try:
        yield session
    finally:
        await close_session(session)


SessionDep = Annotated[AsyncSession, Depends(get_session)]
