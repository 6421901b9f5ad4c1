"""Imports: a file becomes records of a collection in one transaction, or nothing at all.

The flow, for the API and the command line alike:

1. ``receive`` stores the upload privately (hashing it, stopping at the size limit);
   ``open_upload`` finds the format, layer, CRS and field mapping (``geo.formats``) and refuses
   an unusable file with a 4xx that says why.
2. ``run`` (or ``preview``, which writes nothing) opens one transaction that names the acting
   user and the context ``import:<job id>`` (so every audit row of the import carries it),
   takes the job's advisory lock, and streams the checked batches with COPY into a temporary
   staging table while the next batch is being read.
3. Holding the collection's keys (``service.core.keys``), it finds the record each row
   names, by civop id or by origin + external_id, among the records the importer sees in full
   only (a key held only by records hidden from them names nothing: the row is a new record).
   Checks that need the database run set-wise on the staging table: duplicates in the file,
   references, sectors outside the importer's scope.
4. Without errors, one ``INSERT ... SELECT ... ON CONFLICT (id) DO UPDATE`` merges the staging
   table into the collection (new records get random ids) and the job is marked succeeded in
   the same transaction. A bulk load (a big
   import, holding the collection's lock) updates the matched records and inserts the new ones
   with the secondary indexes and keys dropped, then rebuilds them. Each write runs through
   ``service.audit.trail.write``, which records it. With errors, or if the process dies,
   PostgreSQL rolls everything back and the job says why.

``rollback`` undoes a finished import from the audit trail: records it created are removed,
records it changed get their previous values back.

The modules of this package, by responsibility: ``request`` (what is asked, and who may),
``upload`` (step 1), ``staging`` (step 2), ``checks`` (step 3), ``merge`` and ``bulk``
(step 4), ``jobs`` (the import's record), ``rollback``, and ``sql`` (running the import's
statements); this module runs a preview or an import through them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg
from sqlalchemy import (
    Integer,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from geo.formats import Input, Problem, ProblemLog
from service.access.policy import Principal
from service.config import Settings
from service.core import keys
from service.errors import CivopError
from service.imports.checks import check
from service.imports.jobs import (
    IMPORT_LOCK,
    ProgressWriter,
    create_job,
    create_queued_job,
    finish,
    get_job,
    list_jobs,
    opened_values,
    problem_list,
    reap_interrupted,
)
from service.imports.merge import merge, would_do
from service.imports.models import ImportJob, JobStatus
from service.imports.request import ImportRequest, check_importer, check_writer, collection_of
from service.imports.rollback import rollback
from service.imports.sql import begin
from service.imports.staging import Progress, stage, staging_for
from service.imports.upload import (
    PayloadTooLarge,
    UnsupportedFormat,
    Upload,
    limits_of,
    open_upload,
    receive,
    receive_path,
    refusal,
)

# The public face of imports, for the views, the command line and the job worker.
__all__ = [
    "ImportRequest",
    "PayloadTooLarge",
    "ProgressWriter",
    "UnsupportedFormat",
    "Upload",
    "check_importer",
    "check_writer",
    "collection_of",
    "create_job",
    "create_queued_job",
    "get_job",
    "limits_of",
    "list_jobs",
    "open_upload",
    "opened_values",
    "preview",
    "reap_interrupted",
    "receive",
    "receive_path",
    "refusal",
    "rollback",
    "run",
]


def _counts(log: ProblemLog, rows: int) -> dict[str, int]:
    return {
        "read": rows,
        "errors": log.errors,
        "warnings": log.warnings,
        "rejected": log.rejected_rows,
    }


async def preview(
    session: AsyncSession,
    opened: Input,
    principal: Principal,
    request: ImportRequest,
    settings: Settings,
) -> dict[str, Any]:
    """Everything an import would do and every problem it would meet; writes nothing."""
    check_importer(principal, request)
    log = ProblemLog(settings.import_max_problems)
    staging = staging_for(opened, request, f"preview_{uuid.uuid4().hex}")
    try:
        await begin(session, principal, "import:preview", settings)
        await stage(session, opened, staging, log, settings, None)
        match = await check(session, opened, staging, principal, log, settings)
        would = await would_do(session, staging, match, settings)
    finally:
        await session.rollback()
    return {
        **opened.describe(),
        "collection": request.collection,
        "origin": staging.origin,
        "classification": staging.classification,
        "counts": _counts(log, staging.rows),
        "would": would,
        "problems": problem_list(log),
        "problems_total": log.total,
        "sample": opened.sample,
        "ok": log.errors == 0,
    }


async def run(
    session: AsyncSession,
    job: ImportJob,
    opened: Input,
    principal: Principal,
    request: ImportRequest,
    settings: Settings,
    progress: Progress | None = None,
) -> ImportJob:
    """Import the file of ``job`` in one transaction; the job records the outcome."""
    log = ProblemLog(settings.import_max_problems)
    # Read now: a rollback expires the ORM object.
    job_id, number = job.id, job.number
    staging = staging_for(opened, request, f"import_{job_id.hex}")
    timings: dict[str, float] = {}
    try:
        await begin(session, principal, f"import:{job_id}", settings)
        await session.execute(
            select(
                func.pg_advisory_xact_lock(literal(IMPORT_LOCK, Integer), literal(number, Integer))
            )
        )
        clock = time.monotonic()
        await stage(session, opened, staging, log, settings, progress)
        timings["read_and_stage"] = time.monotonic() - clock
        clock = time.monotonic()
        # No write through the API takes a key of the collection until this import ends.
        await keys.lock_all(session, staging.collection.table)
        match = await check(session, opened, staging, principal, log, settings)
        timings["check"] = time.monotonic() - clock
        if log.errors:
            await session.rollback()
            message = f"{log.errors} problem(s) in the file; nothing was imported"
            return await finish(
                session, job_id, JobStatus.failed, log, staging.rows, message=message
            )
        clock = time.monotonic()
        created, updated = await merge(session, staging, match, settings, timings)
        timings["merge"] = time.monotonic() - clock
        await session.execute(text(f'DROP TABLE IF EXISTS "{staging.name}"'))
        return await finish(
            session,
            job_id,
            JobStatus.succeeded,
            log,
            staging.rows,
            created=created,
            updated=updated,
            skipped=match.skipped,
            timings=timings,
        )
    except CivopError as error:
        await session.rollback()
        log.add(Problem(None, None, error.message))
        await finish(session, job_id, JobStatus.failed, log, staging.rows, message=error.message)
        raise
    except asyncpg.PostgresError as error:
        if isinstance(error, asyncpg.PostgresConnectionError):
            raise
        # Checks should have caught it; say what the database refused rather than fail blind.
        await session.rollback()
        message = f"the database refused the records: {str(error).splitlines()[0]}"
        log.add(Problem(None, None, message))
        return await finish(session, job_id, JobStatus.failed, log, staging.rows, message=message)
    except BaseException:
        await session.rollback()
        raise
