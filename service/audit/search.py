"""The audit trail as admins search it: one record's history, a collection's changes, or what
one user changed over a period."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, cast, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.actions import authorize
from service.access.policy import Principal
from service.audit.models import AuditEntry


async def entries(
    session: AsyncSession,
    principal: Principal,
    *,
    record: uuid.UUID | None = None,
    collection: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest ``limit`` entries matching every criterion given (``since`` inclusive,
    ``until`` exclusive), newest first."""
    authorize(principal, "read_audit")
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if record is not None:
        listed = and_(
            AuditEntry.record_ids.is_not(None),
            AuditEntry.record_ids.contains(cast([record], ARRAY(UUID(as_uuid=True)))),
        )
        statement = statement.where(or_(AuditEntry.record_id == record, listed))
    if collection is not None:
        statement = statement.where(AuditEntry.collection == collection)
    if actor is not None:
        statement = statement.where(AuditEntry.actor == actor)
    if since is not None:
        statement = statement.where(AuditEntry.at >= since)
    if until is not None:
        statement = statement.where(AuditEntry.at < until)
    return list((await session.scalars(statement)).all())
