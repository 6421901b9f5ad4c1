"""Runs the rule engine in the background, in two loops that do not wait for each other:

- the **event-driven** rules: at once after each committed change this process hears of (its
  own writes, and every process's writes and imports through PostgreSQL's ``civop_changes``
  notifications), and every ``alerts_interval_s`` seconds in any case;
- the **time-based** rules (risk threshold, hot spots) and the pruning of the event log: every
  ``alerts_schedule_s`` seconds, and ``SCHEDULED_DEBOUNCE_S`` after a change to the data they
  read (a burst of changes, such as an import, makes one pass) or to an alert rule. In the
  service the pass is queued as a job and runs in a worker process (``service.jobs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.alerts.rules import run_once
from service.alerts.scheduled import INPUTS, run_scheduled
from service.changes import ChangeListener

log = logging.getLogger("civop.alerts")
WATCHED = {"incidents", "actors", "idp_sites", "events"}
#: A time-based pass starts this long after the change that called for it.
SCHEDULED_DEBOUNCE_S = 2.0


async def defer_scheduled(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Queue one pass of the time-based rules, unless one is already waiting."""
    from service.jobs.service import ALERTS_TASK, defer_once

    await defer_once(sessionmaker, ALERTS_TASK)


class AlertEngine:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        listener: ChangeListener,
        interval_s: float,
        *,
        schedule_s: float = 300.0,
        retention_hours: float = 72.0,
        in_worker: bool = False,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.in_worker = in_worker
        self.interval_s = interval_s
        self.schedule_s = schedule_s
        self.retention_hours = retention_hours
        self._wake = asyncio.Event()
        self._inputs_changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        listener.subscribe(self._changed)

    def _changed(self, table: str | None) -> None:
        if table is None or table in WATCHED:
            self._wake.set()
        if table is None or table in INPUTS:
            self._inputs_changed.set()

    def rules_changed(self) -> None:
        """An alert rule was created or changed: evaluate the time-based ones soon."""
        self._inputs_changed.set()

    async def run_once(self) -> None:
        async with self.sessionmaker() as session:
            await run_once(session)

    async def run_scheduled(self, *, force: bool = False) -> None:
        if self.in_worker and not force:
            # The pass reads every site and incident of the mission: it runs in a worker
            # process (``service.jobs``), queued at most once at a time.
            await defer_scheduled(self.sessionmaker)
            return
        async with self.sessionmaker() as session:
            await run_scheduled(
                session,
                schedule_s=self.schedule_s,
                retention_hours=self.retention_hours,
                force=force,
            )

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

    async def _run_scheduled(self) -> None:
        while True:
            changed = True
            try:
                await asyncio.wait_for(self._inputs_changed.wait(), self.schedule_s)
            except TimeoutError:
                changed = False
            if self._stopping:
                return
            if changed:
                with contextlib.suppress(TimeoutError):  # stopping cuts the wait short
                    await asyncio.wait_for(self._stop.wait(), SCHEDULED_DEBOUNCE_S)
                if self._stopping:
                    return
            self._inputs_changed.clear()
            try:
                await self.run_scheduled()
            except asyncio.CancelledError:
                raise
            except Exception:  # retried at the next change or interval
                log.exception("scheduled alert pass failed")
                await asyncio.sleep(1)

    def start(self) -> None:
        self._wake.set()
        self._inputs_changed.set()
        self._tasks = [
            asyncio.create_task(self._run(), name="civop-alert-engine"),
            asyncio.create_task(self._run_scheduled(), name="civop-alert-schedule"),
        ]

    async def stop(self, grace_s: float = 10.0) -> None:
        """Let a pass in progress finish: cancelling it in the middle of a query would leave
        its connection unusable and hold up shutdown."""
        if not self._tasks:
            return
        self._stopping = True
        self._stop.set()
        self._wake.set()
        self._inputs_changed.set()
        for task in self._tasks:
            try:
                await asyncio.wait_for(asyncio.shield(task), grace_s)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
