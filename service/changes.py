"""Committed changes, as announced by PostgreSQL on the ``civop_changes`` channel.

Each service process keeps one listening connection. Caches that depend on the data (who a
credential belongs to, each layer's data version) register here and are trusted only while
the listener is connected: when it is not, they are bypassed and every request asks the
database, so a cache can be late by the time a notification takes to arrive and never more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger("civop.changes")
CHANNEL = "civop_changes"
#: Reconnection attempts while the database is away: after 0.5 s, then doubling up to 2 s, so
#: the listener is back within about 2 s of the database.
FIRST_RETRY_S = 0.5
LAST_RETRY_S = 2.0
K = TypeVar("K")
V = TypeVar("V")


class ChangeListener:
    """Listens for table names on ``civop_changes`` and tells the subscribers."""

    def __init__(self, database_url: str, *, check_every_s: float = 2.0) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self.dsn = url.render_as_string(hide_password=False)
        self.check_every_s = check_every_s
        self.connected = False
        self.subscribers: list[Callable[[str | None], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._retry_s = FIRST_RETRY_S

    def subscribe(self, callback: Callable[[str | None], None]) -> None:
        """``callback(table)`` on each change; ``callback(None)`` when changes may have been missed."""
        self.subscribers.append(callback)

    def announce(self, table: str) -> None:
        """A change this process just committed: its own caches follow at once."""
        self._tell(table)

    def _tell(self, table: str | None) -> None:
        for callback in self.subscribers:
            callback(table)

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._tell(payload)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=5)
        try:
            await conn.add_listener(CHANNEL, self._on_notification)
            self._tell(None)  # anything may have changed while we were not listening
            self.connected = True
            self._retry_s = FIRST_RETRY_S  # the next outage starts again with quick retries
            while True:
                await asyncio.sleep(self.check_every_s)
                await conn.execute("SELECT 1", timeout=5)
        finally:
            self.connected = False
            self._tell(None)
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database went away: caches are off until it is back
                log.warning("change listener disconnected: %s", type(error).__name__)
            await asyncio.sleep(self._retry_s)
            self._retry_s = min(self._retry_s * 2, LAST_RETRY_S)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="civop-change-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class ChangeAwareCache(Generic[K, V]):
    """A small TTL cache emptied when one of ``tables`` changes, and unused while the
    listener is disconnected."""

    def __init__(
        self,
        listener: ChangeListener | None,
        tables: set[str],
        ttl_s: float,
        max_items: int = 10_000,
    ) -> None:
        self.listener = listener
        self.tables = tables
        self.ttl_s = ttl_s
        self.max_items = max_items
        self.items: dict[K, tuple[float, V]] = {}
        if listener is not None:
            listener.subscribe(self._changed)

    def _changed(self, table: str | None) -> None:
        if table is None or table in self.tables:
            self.items.clear()

    def get(self, key: K) -> V | None:
        if self.listener is None or not self.listener.connected:
            return None
        found = self.items.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key: K, value: V) -> None:
        if self.listener is None or not self.listener.connected or self.ttl_s <= 0:
            return
        if len(self.items) >= self.max_items:
            self.items.clear()
        self.items[key] = (time.monotonic() + self.ttl_s, value)

    def forget(self, key: K) -> None:
        self.items.pop(key, None)
