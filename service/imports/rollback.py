"""Undoing a finished import from the audit trail."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from sqlalchemy import (
    ColumnElement,
    Table,
    any_,
    bindparam,
    column,
    delete,
    exists,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.actions import authorize
from service.access.policy import Principal
from service.access.sql import floored
from service.audit import trail
from service.config import Settings
from service.db import driver_of
from service.errors import Conflict
from service.i18n import _
from service.imports.jobs import get_job
from service.imports.models import ImportJob, JobStatus
from service.imports.request import collection_of
from service.imports.sql import begin, fetch, runner


async def rollback(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, settings: Settings
) -> ImportJob:
    """Undo a finished import: records it created go, records it changed get their previous
    values back. Records someone changed after the import are left as they are (counted)."""
    authorize(principal, "import")
    job = await get_job(session, principal, job_id)
    if job.status != JobStatus.succeeded:
        raise Conflict(
            _("only a finished import can be rolled back; this one is {status}", status=job.status)
        )
    collection = collection_of(job.collection)
    target = collection.table
    context = f"import:{job.id}"
    await begin(session, principal, f"rollback:{job.id}", settings)
    locked = await session.scalar(
        select(ImportJob.status).where(ImportJob.id == job.id).with_for_update()
    )
    if locked != JobStatus.succeeded:
        raise Conflict(_("this import is being or has been rolled back"))
    mine = (
        text(
            # A bulk creation's row lists its records (``record_ids``); others name one.
            "SELECT coalesce(r.id, a.record_id) AS record_id, a.action, a.id FROM audit_log a "
            "LEFT JOIN LATERAL unnest(a.record_ids) r(id) ON true "
            "WHERE a.context = :context AND a.collection = :collection"
        )
        .bindparams(context=context, collection=target.name)
        .columns(column("record_id"), column("action"), column("id"))
    )
    entries = mine.subquery("mine")
    audit = table("audit_log", column("id"), column("record_id"), column("context"))
    later = exists(
        select(literal(1))
        .select_from(audit)
        .where(
            audit.c.record_id == entries.c.record_id,
            audit.c.id > entries.c.id,
            audit.c.context.is_distinct_from(context),
        )
    )
    rows = await fetch(
        session, select(entries.c.record_id, entries.c.action, later.label("later")), settings
    )
    created = [r["record_id"] for r in rows if r["action"] == "create" and not r["later"]]
    updated = [r["record_id"] for r in rows if r["action"] == "update" and not r["later"]]
    kept = sum(1 for r in rows if r["later"])
    # Restored first: when the service records the writes, the restore locks the table before
    # the removal holds any row (service.audit.trail).
    await _restore(session, target, context, updated, settings)
    removed = await _remove(session, target, created, principal, settings)
    message = f"rolled back: {removed} record(s) removed, {len(updated)} restored"
    if kept:
        message += f"; {kept} record(s) changed since the import were left as they are"
    await session.execute(
        update(ImportJob)
        .where(ImportJob.id == job.id)
        .values(
            status=JobStatus.rolled_back,
            rolled_back_at=func.now(),
            rolled_back_by=principal.username,
            message=message,
        )
    )
    await session.commit()
    return await get_job(session, principal, job.id)


async def _remove(
    session: AsyncSession,
    target: Table,
    ids: list[uuid.UUID],
    principal: Principal,
    settings: Settings,
) -> int:
    if not ids:
        return 0
    run = runner(session, settings)
    listed = target.c.id == any_(bindparam("ids", ids, type_=postgresql.ARRAY(postgresql.UUID)))
    try:
        async with (
            await driver_of(session)
        ).transaction():  # a savepoint: a referenced record cannot go
            await trail.write(run, target, delete(target).where(listed), kind="purge")
    except asyncpg.ForeignKeyViolationError:
        # Another record points at one of them: take them out of every output instead.
        hide = (
            update(target)
            .where(listed, target.c.deleted_at.is_(None))
            .values(deleted_at=func.now(), deleted_by=principal.username)
        )
        await trail.write(run, target, hide, kind="update", targets=ids)
    return len(ids)


async def _restore(
    session: AsyncSession, target: Table, context: str, ids: list[uuid.UUID], settings: Settings
) -> None:
    """The records ``ids`` get back the values they had before the import ``context``."""
    if not ids:
        return
    skip = {"id", "created_at", "created_by", "updated_at", "updated_by"}
    names = [c.name for c in target.c if c.name not in skip]
    audit = table(
        "audit_log",
        column("context"),
        column("collection"),
        column("action"),
        column("record_id"),
        column("before"),
    )
    # The row type of the table, read from the audit row's JSON (the name is the registry's).
    row_type: ColumnElement[Any] = literal_column(f'NULL::"{target.name}"')
    previous = func.jsonb_populate_record(row_type, audit.c.before).table_valued(*names).alias("r")
    restored: dict[str, Any] = {name: previous.c[name] for name in names}
    if "category" in restored:  # never back below a floor set since
        restored["classification"] = floored(
            target.name, previous.c.category, previous.c.classification, settings
        )
    restore = (
        update(target)
        .values(restored)
        .where(
            audit.c.context == context,
            audit.c.collection == target.name,
            audit.c.action == "update",
            target.c.id == audit.c.record_id,
            audit.c.record_id
            == any_(bindparam("ids", ids, type_=postgresql.ARRAY(postgresql.UUID))),
        )
    )
    await trail.write(runner(session, settings), target, restore, kind="update", targets=ids)
