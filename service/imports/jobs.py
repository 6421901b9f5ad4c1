"""Import jobs: their records, outcome, progress, and reading them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sqlalchemy import (
    ColumnElement,
    cast,
    false,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from geo.formats import Input, ProblemLog
from service.access.actions import allowed
from service.access.policy import Principal
from service.enums import Role
from service.errors import NotFound
from service.i18n import _
from service.imports.models import ImportJob, JobStatus
from service.imports.request import ImportRequest, check_importer, default_classification
from service.imports.staging import DEFAULT_ORIGIN, staging_for
from service.imports.upload import Upload

#: Advisory lock namespace of import jobs: (IMPORT_LOCK, job number) is held while one runs.
IMPORT_LOCK = 4217
#: A job without its lock and without a heartbeat for this long was interrupted.
STALE_AFTER_S = 10


def problem_list(log: ProblemLog) -> list[dict[str, Any]]:
    return [p.as_dict() for p in log.sorted_items()]


async def create_job(
    session: AsyncSession,
    upload: Upload,
    opened: Input,
    principal: Principal,
    request: ImportRequest,
    *,
    queued: bool = False,
) -> ImportJob:
    """Record a new job (committed at once, so it can be followed while it runs; a ``queued``
    one is flushed only, and committed with the worker's job that will run it)."""
    check_importer(principal, request)
    staging = staging_for(opened, request, "")
    job = ImportJob(
        collection=request.collection,
        status=JobStatus.queued if queued else JobStatus.running,
        file_name=upload.name,
        file_sha256=upload.sha256,
        file_size=upload.size,
        format=opened.format.name,
        layer=opened.layer.info.name,
        crs=opened.source_crs.label,
        options={**request.as_options(), "applied_mapping": opened.mapping.as_dict()},
        classification=staging.classification,
        origin=staging.origin,
        rows_total=opened.layer.info.count,
        created_by=principal.username,
        started_at=None if queued else func.now(),
        heartbeat_at=func.now(),
    )
    session.add(job)
    if queued:
        await session.flush()
    else:
        await session.commit()
    await session.refresh(job)
    return job


async def create_queued_job(
    session: AsyncSession, upload: Upload, principal: Principal, request: ImportRequest
) -> ImportJob:
    """Record an import a worker will open and run (flushed; committed with the worker's job).
    What the file holds (format, layer, CRS, records) is filled in when the worker opens it."""
    check_importer(principal, request)
    job = ImportJob(
        collection=request.collection,
        status=JobStatus.queued,
        file_name=upload.name,
        file_sha256=upload.sha256,
        file_size=upload.size,
        options=request.as_options(),
        classification=str(request.classification or default_classification(request)),
        origin=request.origin or DEFAULT_ORIGIN,
        created_by=principal.username,
        heartbeat_at=func.now(),
    )
    session.add(job)
    await session.flush()
    await session.refresh(job)
    return job


def opened_values(opened: Input, request: ImportRequest) -> dict[str, Any]:
    """What an import's record says of its file once the file is open."""
    staging = staging_for(opened, request, "")
    return {
        "format": opened.format.name,
        "layer": opened.layer.info.name,
        "crs": opened.source_crs.label,
        "options": {**request.as_options(), "applied_mapping": opened.mapping.as_dict()},
        "classification": staging.classification,
        "origin": staging.origin,
        "rows_total": opened.layer.info.count,
    }


async def finish(
    session: AsyncSession,
    job_id: uuid.UUID,
    status: JobStatus,
    log: ProblemLog,
    rows: int,
    *,
    created: int = 0,
    updated: int = 0,
    skipped: int = 0,
    message: str | None = None,
    timings: dict[str, float] | None = None,
) -> ImportJob:
    """Record the outcome on the job and commit (with the records, when they were merged)."""
    seconds = {name: round(value, 2) for name, value in (timings or {}).items()}
    values = {
        "options": ImportJob.options.op("||")(
            cast(literal(json.dumps({"seconds": seconds})), postgresql.JSONB)
        ),
        "status": status,
        "rows_read": rows,
        "created": created,
        "updated": updated,
        "unchanged": max(rows - created - updated - skipped, 0) if status == "succeeded" else 0,
        "rejected": log.rejected_rows,
        "problems": problem_list(log),
        "problems_total": log.total,
        "message": message,
        "finished_at": func.now(),
        "heartbeat_at": func.now(),
    }
    await session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))
    await session.commit()
    found = await session.get(ImportJob, job_id, populate_existing=True)
    assert found is not None
    return found


class ProgressWriter:
    """Records how far a running job has read, at most once a second, in its own short
    transactions (the import's own transaction is invisible until it commits)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        job_id: uuid.UUID,
        every_s: float = 1.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.job_id = job_id
        self.every_s = every_s
        self.last = 0.0

    async def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every_s:
            return
        self.last = now
        async with self.sessionmaker() as session:
            await session.execute(
                update(ImportJob)
                .where(ImportJob.id == self.job_id, ImportJob.status == JobStatus.running)
                .values(rows_read=rows, heartbeat_at=func.now())
            )
            await session.commit()


# --- reading jobs ----------------------------------------------------------------------------


def _visible_jobs(principal: Principal) -> ColumnElement[bool]:
    if principal.role is Role.admin:
        return literal(True)
    if not allowed(principal, "import"):
        return false()
    return ImportJob.created_by == principal.username


async def reap_interrupted(session: AsyncSession) -> None:
    """Mark jobs whose process died as failed: no lock held, no heartbeat for a while."""
    lock_free = text(
        "NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.classid = :namespace AND l.objid::bigint = import_jobs.number AND l.objsubid = 2)"
    ).bindparams(namespace=IMPORT_LOCK)
    # clock_timestamp, not now(): now() is when the (maybe long) transaction began.
    stale = ImportJob.heartbeat_at < func.clock_timestamp() - func.make_interval(
        0, 0, 0, 0, 0, 0, STALE_AFTER_S
    )
    # A job a worker has still to run (or is starting) is followed by its worker's job.
    waiting = text(
        "NOT EXISTS (SELECT 1 FROM jobs w WHERE w.params->>'import_job_id' = import_jobs.id::text "
        "AND w.state IN ('queued', 'running'))"
    )
    await session.execute(
        update(ImportJob)
        .where(
            ImportJob.status.in_([JobStatus.queued, JobStatus.running]), stale, lock_free, waiting
        )
        .values(
            status=JobStatus.failed,
            message="interrupted: the import stopped before it finished (its process ended); "
            "nothing was imported; run it again",
            finished_at=func.now(),
        )
        .execution_options(synchronize_session=False)
    )
    await session.commit()


async def get_job(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> ImportJob:
    """One job, for the user who ran it or an admin."""
    await reap_interrupted(session)
    job = await session.scalar(
        select(ImportJob)
        .where(ImportJob.id == job_id, _visible_jobs(principal))
        .execution_options(populate_existing=True)
    )
    if job is None:
        raise NotFound(_("no such import"))
    return job


async def list_jobs(
    session: AsyncSession, principal: Principal, limit: int = 50
) -> list[ImportJob]:
    """Recent jobs, newest first (an admin sees everyone's)."""
    await reap_interrupted(session)
    rows = await session.scalars(
        select(ImportJob)
        .where(_visible_jobs(principal))
        .order_by(ImportJob.created_at.desc(), ImportJob.number.desc())
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return list(rows)
