"""``civop worker``: takes jobs from the Procrastinate queue in PostgreSQL and runs each in a
child process (``service.job_runner.child``) which it kills at the job's time limit or when the job
is cancelled.

Children are forked by a fork server (``multiprocessing``'s ``forkserver``) that the worker
starts when it starts and that has imported the child's modules once: a job starts in
milliseconds, not in the second Python takes to import SQLAlchemy and the service. The fork
server holds no connection, thread or event loop, so each child starts as clean as a new
process. The fork server ends with its worker; a running child watches its worker and ends
with it too (``service.job_runner.child.die_with_worker``).

While a job runs its worker refreshes the job's heartbeat every second. A worker that is
SIGKILLed leaves a running job with an old heartbeat: every worker sweeps such jobs when it
starts and every few seconds after, and marks them failed (Procrastinate's own record of the
job is closed too, from its worker heartbeats). The same sweep removes results past their time.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import time
import uuid
from multiprocessing import forkserver
from typing import Any

import procrastinate
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.config import Settings, get_settings
from service.db import create_engine, sessionmaker_for
from service.jobs import service
from service.jobs.models import Job, JobState

log = logging.getLogger("civop.jobs")

HEARTBEAT_S = 1.0


def psycopg_url(settings: Settings) -> str:
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def make_app(settings: Settings, maker: async_sessionmaker[AsyncSession]) -> procrastinate.App:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=psycopg_url(settings),
            kwargs={"application_name": "civop-worker"},
        )
    )

    @app.task(name=service.RUN_TASK, queue=service.QUEUE)
    async def run_job(job_id: str) -> None:
        await supervise(maker, settings, uuid.UUID(job_id))

    @app.task(name=service.ALERTS_TASK, queue=service.QUEUE, queueing_lock=service.ALERTS_TASK)
    async def alerts_scheduled() -> None:
        code, reason = await _child(["alerts"], service.time_limit("alerts_scheduled", settings))
        if code != 0:
            log.warning("time-based alert rules: %s", reason)

    @app.task(name=service.GROUPS_TASK, queue=service.QUEUE, queueing_lock=service.GROUPS_TASK)
    async def point_groups() -> None:
        code, reason = await _child(["groups"], service.time_limit("point_groups", settings))
        if code != 0:
            log.warning("counting the point groups of low-zoom tiles: %s", reason)

    return app


#: The module a job runs in, named (not imported: it imports this package's models).
CHILD = "service.job_runner.child"
#: What the fork server imports once, before it forks the first child: the worker's main
#: script when it is one (``civop worker``; each child would run it again otherwise), the
#: child, and the housekeeping it runs every few seconds: the time-based alert rules with
#: what they use (webhooks' outbox, NumPy's masked arrays, which ``numpy.unique`` imports on
#: first use) and the point groups. A job's own heavy libraries (GDAL, Matplotlib) are
#: imported by the job that needs them.
PRELOAD = [
    "__main__",
    CHILD,
    "service.alerts.scheduled",
    "service.alerts.outbox",
    "service.alerts.webhooks",
    "numpy.ma",
    "service.layers.groups",
]

_forks = multiprocessing.get_context("forkserver")
_forks.set_forkserver_preload(PRELOAD)


async def _child(
    args: list[str], limit_s: float, still_wanted: Any = None
) -> tuple[int, str | None]:
    """Run ``service.job_runner.child`` with ``args``; kill it past ``limit_s`` or when
    ``still_wanted()`` says no. Returns its exit status (minus the signal that killed it) and
    why it was stopped, if it was."""
    # The child's start is ``service.job_runner.child.main``, as ``python -m`` would run it,
    # for this worker (it dies with this process, not with the fork server). It is named by
    # its module, which the fork server has imported: the child imports nothing more to
    # begin (this module, its target's home otherwise, imports the job queue's library).
    process = _forks.Process(
        target=importlib.import_module(CHILD).main,
        args=(args, os.getpid()),
        name=f"civop-job-{args[0]}",
    )
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()
    watched: list[int] = []  # the sentinel read while the child runs

    def watch(start: asyncio.Future[None]) -> None:
        if not start.cancelled() and start.exception() is None:
            loop.add_reader(process.sentinel, ended.set)
            watched.append(process.sentinel)

    # The first start waits for the fork server's imports: it runs in a thread, and the
    # job's heartbeat goes on meanwhile.
    starting = asyncio.ensure_future(asyncio.to_thread(process.start))
    starting.add_done_callback(watch)
    began = time.monotonic()
    reason = None
    try:
        while True:
            try:
                await asyncio.wait_for(ended.wait(), HEARTBEAT_S)
                break
            except TimeoutError:
                pass
            if starting.done():
                starting.result()  # a child that could not be started
            if time.monotonic() - began > limit_s:
                reason = f"stopped after {limit_s:g} s, the time limit for this kind of job"
            elif still_wanted is not None and await still_wanted() == "cancelled":
                reason = "cancelled"
            if reason is not None:
                await _kill(process, starting, ended)
                break
    except BaseException:
        # The worker is stopping (or the child could not start): no child is left behind.
        with contextlib.suppress(BaseException):
            await _kill(process, starting, ended)
        raise
    finally:
        for sentinel in watched:
            loop.remove_reader(sentinel)
    process.join()
    return process.exitcode or 0, reason


async def _kill(
    process: multiprocessing.process.BaseProcess,
    starting: asyncio.Future[None],
    ended: asyncio.Event,
) -> None:
    """Kill the child once it has started, and wait until it has ended."""
    await asyncio.shield(starting)
    process.kill()
    await ended.wait()
    process.join()


async def supervise(
    maker: async_sessionmaker[AsyncSession], settings: Settings, job_id: uuid.UUID
) -> None:
    """Run one job: mark it running, run its child, record how it ended if the child did not."""
    async with maker() as session:
        kind = await session.scalar(
            update(Job)
            .where(Job.id == job_id, Job.state == JobState.queued)
            .values(
                state=JobState.running,
                started_at=func.now(),
                heartbeat_at=func.now(),
                attempts=Job.attempts + 1,
                error=None,
            )
            .returning(Job.kind)
        )
        await session.commit()
    if kind is None:
        return  # cancelled before it started, or already taken
    limit = service.time_limit(kind, settings)

    async def still_wanted() -> str | None:
        """The job's state (its heartbeat refreshed while it runs)."""
        async with maker() as session:
            await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.running)
                .values(heartbeat_at=func.now())
            )
            state = await session.scalar(select(Job.state).where(Job.id == job_id))
            await session.commit()
        return "cancelled" if state in (None, JobState.cancelled) else str(state)

    log.info("job %s (%s) started", job_id, kind)
    try:
        code, reason = await _child([str(job_id)], limit, still_wanted)
    except asyncio.CancelledError:  # the worker is stopping: its child was killed
        await fail(
            maker,
            job_id,
            "interrupted: the worker was stopped while it ran; nothing was kept; retry it with "
            f"POST /api/jobs/{job_id}/retry",
        )
        raise
    if reason == "cancelled":
        log.info("job %s cancelled", job_id)
        return
    if reason is None and code in (0, 3):
        log.info("job %s finished", job_id)
        return
    if reason is None:
        if code == 4:  # service.job_runner.child.OUT_OF_MEMORY
            reason = (
                f"the job needed more than the {settings.jobs_memory_mb} MiB a job may use "
                "(CIVOP_JOBS_MEMORY_MB)"
            )
        elif code == -signal.SIGKILL:
            reason = "the process running it was killed (out of memory, or stopped by the system)"
        else:
            reason = f"the job stopped with an error (exit status {code}); see the worker's log"
    await fail(
        maker, job_id, f"{reason}; nothing was kept; retry it with POST /api/jobs/{job_id}/retry"
    )
    log.warning("job %s failed: %s", job_id, reason)


async def fail(maker: async_sessionmaker[AsyncSession], job_id: uuid.UUID, reason: str) -> None:
    async with maker() as session:
        job = await session.get(Job, job_id)
        changed = await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == JobState.running)
            .values(state=JobState.failed, error=reason, finished_at=func.now())
        )
        if changed.rowcount and job is not None:  # type: ignore[attr-defined]
            await service.on_stopped(session, job, reason)
        await session.commit()
    service.remove_partial(job_id)


async def sweep(maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Jobs whose worker stopped (no heartbeat for ``jobs_stale_s``) are failed; results past
    their time are removed."""
    async with maker() as session:
        stale = list(
            await session.scalars(
                select(Job.id).where(
                    Job.state == JobState.running,
                    Job.heartbeat_at
                    < func.clock_timestamp()
                    - func.make_interval(0, 0, 0, 0, 0, 0, settings.jobs_stale_s),
                )
            )
        )
    for job_id in stale:
        await fail(
            maker,
            job_id,
            "interrupted: the worker running it stopped before it finished (its process "
            f"ended); nothing was kept; retry it with POST /api/jobs/{job_id}/retry",
        )
        log.warning("job %s failed: its worker stopped", job_id)
    async with maker() as session:
        await service.sweep_expired(session)
        # Procrastinate's own rows of jobs whose worker died are closed, so they are not
        # counted as running there either.
        await session.execute(
            text(
                "UPDATE procrastinate_jobs j SET status = 'failed' FROM procrastinate_jobs d "
                "LEFT JOIN procrastinate_workers w ON w.id = d.worker_id "
                "WHERE j.id = d.id AND d.status = 'doing' AND d.queue_name = :queue "
                "AND (w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => :s))"
            ),
            {"queue": service.QUEUE, "s": settings.jobs_stale_s},
        )
        await session.commit()


async def run_worker(concurrency: int | None = None) -> None:
    """One worker process: sweeps, then takes jobs until SIGTERM or SIGINT."""
    settings = get_settings()
    engine = create_engine(settings)
    maker = sessionmaker_for(engine)
    app = make_app(settings, maker)

    async def sweeping() -> None:
        while True:
            try:
                await sweep(maker, settings)
                # The queue's own records of finished jobs go with the results.
                await app.job_manager.delete_old_jobs(
                    nb_hours=max(1, round(settings.jobs_result_hours)),
                    queue=service.QUEUE,
                    include_failed=True,
                    include_cancelled=True,
                    include_aborted=True,
                )
            except Exception:
                log.exception("job sweep failed")
            await asyncio.sleep(max(1.0, settings.jobs_stale_s / 3))

    # The fork server imports the job runner while the worker connects: the first job need
    # not wait for it. The worker imports the child's module too, to name it to the server.
    await asyncio.to_thread(forkserver.ensure_running)
    await asyncio.to_thread(importlib.import_module, CHILD)
    try:
        async with app.open_async():
            sweeper = asyncio.create_task(sweeping(), name="civop-job-sweep")
            await app.run_worker_async(
                queues=[service.QUEUE],
                concurrency=concurrency or settings.jobs_concurrency,
                name="civop-worker",
                delete_jobs="successful",
                stalled_worker_timeout=settings.jobs_stale_s,
                update_heartbeat_interval=min(10.0, settings.jobs_stale_s / 3),
                shutdown_graceful_timeout=5.0,
            )
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
    finally:
        await engine.dispose()
