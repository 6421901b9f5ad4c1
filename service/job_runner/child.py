"""One job in a process of its own: ``python -m service.job_runner.child <job id>``, or forked
by a worker's fork server (``service.jobs.worker``), which calls ``main`` with the same words.

A worker starts this process for each job and kills it at the job's time limit or when the job
is cancelled; the process's address space is limited (``CIVOP_JOBS_MEMORY_MB``). The result is
written in a private folder and renamed into place only when the job has succeeded, so a job
killed half-way leaves nothing half-written behind.

The job runs as the user who started it, as that user is **now**: the principal is rebuilt
from the database when the job starts, so a user disabled meanwhile gets nothing and one whose
role or sectors changed gets what they may see now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import shutil
import sys
import time
import uuid

from sqlalchemy import func, update

from service.config import get_settings
from service.db import create_engine, sessionmaker_for
from service.errors import CivopError
from service.job_runner import kinds
from service.jobs.models import Job, JobState
from service.jobs.service import job_dir

log = logging.getLogger("civop.jobs")

#: Exit status of a child whose job failed in a way it recorded itself.
RECORDED = 3
#: Exit status of a child that ran out of the memory a job may use before it could say so.
OUT_OF_MEMORY = 4


def die_with_parent() -> None:
    """The worker that started this process may be killed (SIGKILL): the job must not go on
    without it, unwatched (Linux: the kernel sends SIGKILL when the parent dies)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before the line above
        sys.exit(1)


def die_with_worker(worker: int) -> None:
    """A child forked by its worker's fork server has that server as parent, not the worker:
    it watches the worker itself (a pidfd, which names that very process) and kills itself
    when the worker ends, however it ends."""
    import select
    import signal
    import threading

    try:
        watched = os.pidfd_open(worker)
    except ProcessLookupError:  # the worker died before this child started
        sys.exit(1)

    def watch() -> None:
        select.select([watched], [], [])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="civop-worker-watch", daemon=True).start()


def limit_memory(megabytes: int) -> None:
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


async def _fail(maker: object, job_id: uuid.UUID, reason: str) -> None:
    from service.jobs.service import on_stopped

    async with maker() as session:  # type: ignore[operator]
        job = await session.get(Job, job_id)
        changed = await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == JobState.running)
            .values(state=JobState.failed, error=reason, finished_at=func.now())
        )
        if changed.rowcount and job is not None:
            await on_stopped(session, job, reason)
        await session.commit()


async def run(job_id: uuid.UUID) -> int:
    settings = get_settings()
    engine = create_engine(settings)
    maker = sessionmaker_for(engine)
    home = job_dir(job_id, settings)
    partial = home / ".partial"
    try:
        async with maker() as session:
            job = await session.get(Job, job_id)
            if job is None or job.state != JobState.running:
                return 0
            from service.auth import service as auth

            principal = None
            if job.owner_id is not None:
                principal = await auth.principal_of_user(session, job.owner_id)
            if principal is None:
                await _fail(maker, job_id, "the account that started this job is disabled or gone")
                return RECORDED
            kind, params = job.kind, dict(job.params)
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        last = 0.0

        async def progress(done: int, total: int | None) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < 1.0 and (total is None or done < total):
                return
            last = now
            async with maker() as own:
                await own.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.state == JobState.running)
                    .values(progress_done=done, progress_total=total)
                )
                await own.commit()

        context = kinds.Context(job_id, params, principal, maker, settings, partial, home, progress)
        try:
            output = await kinds.HANDLERS[kind](context)
        except CivopError as error:
            await _fail(maker, job_id, error.message)
            return RECORDED
        except MemoryError:
            await _fail(
                maker,
                job_id,
                f"the job needed more than the {settings.jobs_memory_mb} MiB a job may use "
                "(CIVOP_JOBS_MEMORY_MB); narrow it (filters, area, period) and try again",
            )
            return RECORDED
        final = home / "result"
        shutil.rmtree(final, ignore_errors=True)
        final.mkdir()
        target = final / output.name
        os.replace(output.path, target)
        async with maker() as session:
            hours = func.make_interval(0, 0, 0, 0, 0, 0, settings.jobs_result_hours * 3600)
            done = await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.running)
                .values(
                    state=JobState.succeeded,
                    finished_at=func.now(),
                    result_name=output.name,
                    result_media_type=output.media_type,
                    result_size=target.stat().st_size,
                    expires_at=func.now() + hours,
                    progress_done=func.coalesce(Job.progress_total, Job.progress_done),
                )
            )
            await session.commit()
        if not done.rowcount:  # type: ignore[attr-defined]  # cancelled at the last moment
            shutil.rmtree(final, ignore_errors=True)
        return 0
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        await engine.dispose()


async def run_alerts() -> int:
    """The time-based alert rules and the pruning of the event log, once."""
    from service.alerts.scheduled import run_scheduled

    settings = get_settings()
    engine = create_engine(settings)
    try:
        async with sessionmaker_for(engine)() as session:
            await run_scheduled(
                session,
                schedule_s=settings.alerts_schedule_s,
                retention_hours=settings.events_retention_hours,
                force=False,
            )
    finally:
        await engine.dispose()
    return 0


async def run_groups() -> int:
    """Count anew the point groups of low-zoom tiles that are no longer current, once."""
    from service.layers.groups import count_all

    engine = create_engine(get_settings())
    try:
        await count_all(engine)
    finally:
        await engine.dispose()
    return 0


def main(args: list[str] | None = None, worker: int | None = None) -> None:
    """Run the job (its id), the time-based alert rules (``alerts``) or the point groups'
    count (``groups``) named by ``args`` (the command line's by default) for the worker whose
    process id is ``worker`` (the parent by default); exits with its status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if worker is None:
        die_with_parent()
    else:
        die_with_worker(worker)
    settings = get_settings()
    limit_memory(settings.jobs_memory_mb)
    # Jobs take the CPU the API leaves: a request never waits behind an export.
    os.nice(settings.jobs_nice)
    what = (sys.argv[1:] if args is None else args)[0]
    if what == "alerts":
        sys.exit(asyncio.run(run_alerts()))
    if what == "groups":
        sys.exit(asyncio.run(run_groups()))
    try:
        status = asyncio.run(run(uuid.UUID(what)))
    except MemoryError:  # outside the job's own handling (its start, its end)
        sys.exit(OUT_OF_MEMORY)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    log.info("job %s done: exit status %s, peak memory %d MiB", what, status, peak)
    sys.exit(status)


if __name__ == "__main__":
    main()
