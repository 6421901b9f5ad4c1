"""Jobs as the API sees them: submitted in the transaction of their records, read by their
owner (an admin reads all), cancelled, retried; results served to the owner until they expire.

A job is queued with Procrastinate's own SQL function (``procrastinate_defer_jobs_v1``) on the
request's connection, in the same transaction as the job row and whatever records the job
needs (an import's job record): both are committed together or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, false, func, literal, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.access.actions import allowed, authorize
from service.access.policy import Principal
from service.config import Settings, get_settings
from service.enums import Role
from service.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized
from service.i18n import _
from service.jobs.models import ACTIVE, Job, JobState

#: The Procrastinate queue and task names civop's workers listen to.
QUEUE = "civop"
RUN_TASK = "civop.run_job"
ALERTS_TASK = "civop.alerts_scheduled"
GROUPS_TASK = "civop.point_groups"
#: Key of the advisory lock that serialises submissions, so the limits hold under races.
SUBMIT_LOCK = 0x6A6F6273  # "jobs"
#: Seconds a refused submission is told to wait.
RETRY_AFTER_S = 30

TITLES = {
    "export": "export",
    "report": "report",
    "import": "import",
    "import_preview": "import preview",
    "import_rollback": "import rollback",
    "exposure": "exposure analysis",
    "emerging_hotspots": "emerging hot-spot analysis",
    "hotspots": "hot-spot analysis",
    "risk": "risk overlay",
    "print": "print of the map",
    "alerts_scheduled": "time-based alert rules",
}


class Gone(NotFound):
    status_code = 410


def jobs_dir(settings: Settings | None = None) -> Path:
    """The folder of jobs' files: private to the service's account (results hold what their
    owner may see, restricted records included)."""
    settings = settings or get_settings()
    root = Path(settings.jobs_dir or Path(tempfile.gettempdir()) / "civop-jobs")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if root.stat().st_uid != os.getuid():
        raise RuntimeError(f"{root} belongs to another account; set CIVOP_JOBS_DIR")
    os.chmod(root, 0o700)
    return root


def job_dir(job_id: uuid.UUID, settings: Settings | None = None) -> Path:
    """The job's own folder: its inputs (an upload) and its result."""
    return jobs_dir(settings) / str(job_id)


def result_path(job: Job, settings: Settings | None = None) -> Path | None:
    if job.result_name is None:
        return None
    return job_dir(job.id, settings) / "result" / job.result_name


def remove_partial(job_id: uuid.UUID) -> None:
    """What a stopped job was writing."""
    shutil.rmtree(job_dir(job_id) / ".partial", ignore_errors=True)
    shutil.rmtree(job_dir(job_id) / "work", ignore_errors=True)


def time_limit(kind: str, settings: Settings | None = None) -> float:
    settings = settings or get_settings()
    return float(settings.jobs_time_limits.get(kind, settings.jobs_time_limit_s))


async def defer(
    session: AsyncSession,
    task: str,
    args: dict[str, Any],
    *,
    queueing_lock: str | None = None,
) -> int:
    """Queue a Procrastinate job in the session's transaction; returns its id."""
    found = await session.scalar(
        text(
            "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(CAST(:queue AS varchar), "
            "CAST(:task AS varchar), 0, NULL, CAST(:qlock AS text), CAST(:args AS jsonb), "
            "NULL)::procrastinate_job_to_defer_v1]))"
        ),
        {"queue": QUEUE, "task": task, "qlock": queueing_lock, "args": json.dumps(args)},
    )
    return int(found)


async def defer_once(sessionmaker: async_sessionmaker[AsyncSession], task: str) -> None:
    """Queue one run of a task of the service's own (no arguments, no job record), unless one
    is already waiting: the waiting one will read the latest data."""
    from sqlalchemy.exc import IntegrityError

    async with sessionmaker() as session:
        try:
            await defer(session, task, {}, queueing_lock=task)
            await session.commit()
        except IntegrityError:  # one is already queued
            await session.rollback()


async def _check_limits(session: AsyncSession, principal: Principal, settings: Settings) -> None:
    await session.execute(select(func.pg_advisory_xact_lock(literal(SUBMIT_LOCK))))
    counts = (
        await session.execute(
            select(
                func.count().filter(Job.owner_id == principal.user_id),
                func.count(),
            ).where(Job.state.in_(ACTIVE), Job.owner_id.is_not(None))
        )
    ).one()
    retry = {"Retry-After": str(RETRY_AFTER_S)}
    if counts[0] >= settings.jobs_per_user:
        raise TooManyRequests(
            _(
                "you already have {count} jobs queued or running (at most {most}); wait for one "
                "to finish or cancel one, then try again",
                count=counts[0],
                most=settings.jobs_per_user,
            ),
            headers=retry,
        )
    if counts[1] >= settings.jobs_max_queued:
        raise TooManyRequests(
            _(
                "the service has {count} jobs queued or running (at most {most}); try again in "
                "a few minutes",
                count=counts[1],
                most=settings.jobs_max_queued,
            ),
            headers=retry,
        )


async def submit(
    session: AsyncSession,
    principal: Principal,
    kind: str,
    params: dict[str, Any],
    *,
    total: int | None = None,
    unit: str = "rows",
    job_id: uuid.UUID | None = None,
    commit: bool = True,
) -> Job:
    """Record a job for ``principal`` and queue it, in the session's transaction (committed
    unless ``commit`` is false, when the caller commits it with its own records)."""
    if principal.user_id is None:
        raise Unauthorized(_("log in to run an {what} as a job", what=TITLES[kind]))
    settings = get_settings()
    await _check_limits(session, principal, settings)
    job = Job(
        id=job_id or uuid.uuid4(),
        kind=kind,
        state=JobState.queued,
        params=params,
        owner_id=principal.user_id,
        owner=principal.username,
        progress_total=total,
        progress_unit=unit,
    )
    session.add(job)
    await session.flush()
    job.queue_job_id = await defer(session, RUN_TASK, {"job_id": str(job.id)})
    await session.flush()
    if commit:
        await session.commit()
    return job


async def submit_upload(
    session: AsyncSession,
    principal: Principal,
    kind: str,
    upload: Any,
    request: Any,
    *,
    import_job: Any = None,
) -> Job:
    """Queue an import (or its preview) of an upload: the file moves into the job's folder,
    where the worker reads it; job and import record are committed together."""
    job_id = uuid.uuid4()
    home = job_dir(job_id)
    params: dict[str, Any] = {
        "request": {
            "collection": request.collection,
            "format": request.format,
            "layer": request.layer,
            "mapping": request.mapping,
            "source_crs": request.source_crs,
            "encoding": request.encoding,
            "classification": str(request.classification) if request.classification else None,
            "origin": request.origin,
        },
        "upload": {"name": upload.name, "size": upload.size, "sha256": upload.sha256},
    }
    if import_job is not None:
        params["import_job_id"] = str(import_job.id)
    total = getattr(import_job, "rows_total", None)
    try:
        (home / "upload").mkdir(parents=True)
        shutil.move(upload.path, home / "upload" / upload.path.name)
        job = await submit(session, principal, kind, params, total=total, job_id=job_id)
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    finally:
        upload.discard()
    return job


def _visible(principal: Principal) -> ColumnElement[bool]:
    if principal.role is Role.admin:
        return true()
    if principal.user_id is None:
        return false()
    return Job.owner_id == principal.user_id


async def get_job(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> Job:
    """One job, for its owner or an admin."""
    job = await session.scalar(
        select(Job)
        .where(Job.id == job_id, _visible(principal))
        .execution_options(populate_existing=True)
    )
    if job is None:
        raise NotFound(_("no such job (or it is not yours)"))
    return job


async def list_jobs(
    session: AsyncSession, principal: Principal, *, limit: int = 50, state: str | None = None
) -> list[Job]:
    """Recent jobs, newest first: the principal's own (an admin sees everyone's)."""
    statement = select(Job).where(_visible(principal))
    if state is not None:
        statement = statement.where(Job.state == state)
    rows = await session.scalars(
        statement.order_by(Job.created_at.desc(), Job.number.desc()).limit(limit)
    )
    return list(rows)


def job_actions(principal: Principal, job: Job) -> list[str]:
    """What ``principal`` may do with ``job`` in its present state: ``cancel`` a queued or
    running one, ``retry`` a failed or cancelled one."""
    found = []
    if job.state in ACTIVE and allowed(principal, "cancel_job", owner=job.owner_id):
        found.append("cancel")
    if job.state in (JobState.failed, JobState.cancelled) and allowed(
        principal, "retry_job", owner=job.owner_id
    ):
        found.append("retry")
    return found


async def cancel(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> Job:
    """Cancel a queued or running job: a queued one never starts; a running one's process is
    killed by its worker within a second or two, and nothing it was writing is kept."""
    job = await get_job(session, principal, job_id)
    if not allowed(principal, "cancel_job", owner=job.owner_id):
        raise NotFound(_("no such job (or it is not yours)"))
    changed = await session.scalar(
        update(Job)
        .where(Job.id == job.id, Job.state.in_(ACTIVE))
        .values(
            state=JobState.cancelled,
            finished_at=func.now(),
            error=f"cancelled by {principal.username}",
        )
        .returning(Job.queue_job_id)
    )
    if changed is None and job.state not in ACTIVE:
        raise Conflict(
            _(
                "this job has already finished ({state}); there is nothing to cancel",
                state=job.state,
            )
        )
    if job.queue_job_id is not None:
        # A job still waiting in the queue is taken out of it (a running one is ended by its
        # worker, which watches the job's state).
        await session.execute(
            text(
                "UPDATE procrastinate_jobs SET status = 'cancelled' "
                "WHERE id = :id AND status = 'todo'"
            ),
            {"id": job.queue_job_id},
        )
    await on_stopped(session, job, f"cancelled by {principal.username}")
    await session.commit()
    return await get_job(session, principal, job_id)


async def retry(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> Job:
    """Queue a failed or cancelled job again (same id, same request), within the limits."""
    job = await get_job(session, principal, job_id)
    if job.state not in (JobState.failed, JobState.cancelled):
        raise Conflict(
            _("only a failed or cancelled job can be retried; this one is {state}", state=job.state)
        )
    try:
        authorize(principal, "retry_job", owner=job.owner_id)
    except Forbidden as refusal:
        # An admin sees the job but may not run it again as its owner: a conflict, as before.
        raise Conflict(str(refusal)) from refusal
    if job.kind == "import" and not (job_dir(job.id) / "upload").exists():
        raise Conflict(_("the uploaded file of this import was removed; upload it again"))
    settings = get_settings()
    await _check_limits(session, principal, settings)
    queue_id = await defer(session, RUN_TASK, {"job_id": str(job.id)})
    await session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(
            state=JobState.queued,
            queue_job_id=queue_id,
            error=None,
            started_at=None,
            finished_at=None,
            heartbeat_at=None,
            progress_done=0,
            result_name=None,
            result_media_type=None,
            result_size=None,
            expires_at=None,
            expired_at=None,
        )
    )
    if job.kind == "import" and job.params.get("import_job_id"):
        await session.execute(
            text(
                "UPDATE import_jobs SET status = 'queued', message = NULL, finished_at = NULL, "
                "started_at = NULL, problems = '[]', problems_total = 0, rows_read = 0 "
                "WHERE id = :id"
            ),
            {"id": uuid.UUID(job.params["import_job_id"])},
        )
    await session.commit()
    return await get_job(session, principal, job_id)


async def on_stopped(session: AsyncSession, job: Job, reason: str) -> None:
    """What a stopped job leaves to its records: an import's job record says it failed."""
    if job.kind == "import" and job.params.get("import_job_id"):
        reason = (
            f"{reason.split(';')[0]}; nothing was imported; run it again "
            f"(POST /api/jobs/{job.id}/retry)"
        )
        await session.execute(
            text(
                "UPDATE import_jobs SET status = 'failed', message = :reason, "
                "finished_at = now() WHERE id = :id AND status IN ('queued', 'running')"
            ),
            {"id": uuid.UUID(job.params["import_job_id"]), "reason": reason},
        )


@dataclass
class Result:
    path: Path
    name: str
    media_type: str


async def result(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> Result:
    """The file of a finished job, for the user who started it only."""
    job = await get_job(session, principal, job_id)
    if job.owner_id is None or job.owner_id != principal.user_id:
        # An admin sees that the job exists, but what it produced is its owner's.
        raise NotFound(_("the result of a job is served only to the user who started it"))
    if job.state != JobState.succeeded:
        raise Conflict(_("this job has no result: it is {state}", state=job.state))
    path = result_path(job)
    now = await session.scalar(select(func.now()))
    expired = job.expired_at is not None or (
        job.expires_at is not None and now is not None and job.expires_at <= now
    )
    if expired or path is None or not path.exists():
        await expire(session, [job.id])
        raise Gone(
            "the result was removed "
            f"{get_settings().jobs_result_hours:g} hours after the job finished; "
            "ask for it again as before"
        )
    assert job.result_name is not None and job.result_media_type is not None
    return Result(path, job.result_name, job.result_media_type)


async def expire(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    """Remove the files of these jobs and record when."""
    for job_id in ids:
        shutil.rmtree(job_dir(job_id), ignore_errors=True)
    if ids:
        await session.execute(
            update(Job)
            .where(Job.id.in_(ids), Job.expired_at.is_(None))
            .values(expired_at=func.now())
        )
        await session.commit()


async def sweep_expired(session: AsyncSession) -> int:
    """Remove results past their time, and the inputs of jobs finished as long ago."""
    settings = get_settings()
    hours = func.make_interval(0, 0, 0, 0, 0, 0, settings.jobs_result_hours * 3600)
    due = list(
        await session.scalars(
            select(Job.id).where(
                Job.expired_at.is_(None),
                (Job.expires_at <= func.now())
                | ((Job.state != JobState.succeeded) & (Job.finished_at <= func.now() - hours)),
            )
        )
    )
    await expire(session, due)
    return len(due)


def progress_of(job: Job) -> dict[str, Any]:
    percent = None
    if job.progress_total:
        percent = round(min(100.0, 100.0 * job.progress_done / job.progress_total), 1)
    if job.state == JobState.succeeded:
        percent = 100.0
    return {
        "done": job.progress_done,
        "total": job.progress_total,
        "unit": job.progress_unit,
        "percent": percent,
    }


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def job_event(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> str | None:
    """A job's state and progress for the live stream, if ``principal`` started it."""
    if principal.user_id is None:
        return None
    job = await session.scalar(
        select(Job).where(Job.id == job_id, Job.owner_id == principal.user_id)
    )
    if job is None:
        return None
    return json.dumps(
        {
            "id": str(job.id),
            "kind": job.kind,
            "state": job.state,
            "progress": progress_of(job),
            "error": job.error,
            "href": f"/api/jobs/{job.id}",
        }
    )
