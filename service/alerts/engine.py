"""Runs the rule engine in the background: at once after each committed change this process
hears of (its own writes, and every process's writes and imports through PostgreSQL's
``civop_changes`` notifications), and every ``alerts_interval_s`` seconds in any case."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.alerts.rules import run_once
from service.changes import ChangeListener

log = logging.getLogger("civop.alerts")
WATCHED = {"incidents", "actors", "idp_sites", "events"}


class AlertEngine:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        listener: ChangeListener,
        interval_s: float,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.interval_s = interval_s
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        listener.subscribe(self._changed)

    def _changed(self, table: str | None) -> None:
        if table is None or table in WATCHED:
            self._wake.set()

    async def run_once(self) -> None:
        async with self.sessionmaker() as session:
            await run_once(session)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed pass is retried at the next change or interval
                log.exception("alert engine pass failed")
                await asyncio.sleep(1)

    def start(self) -> None:
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name="civop-alert-engine")

    async def stop(self, grace_s: float = 10.0) -> None:
        """Let a pass in progress finish: cancelling it in the middle of a query would leave
        its connection unusable and hold up shutdown."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_s)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
