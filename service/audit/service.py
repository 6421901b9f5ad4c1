"""Reading the audit trail: who changed what, when. Admins read it (the API's ``/api/audit``,
the workspace's audit trail page and a record's history in the workspace); who may is the
action ``read_audit`` of ``service.access.actions``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, cast, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.actions import allowed, authorize
from service.access.policy import Principal
from service.audit.models import AuditEntry


def may_read(principal: Principal) -> bool:
    """Whether ``principal`` reads the audit trail."""
    return allowed(principal, "read_audit")


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
) -> Sequence[AuditEntry]:
    """The newest entries first, of one record (also an import's bulk entry that lists it),
    a collection, an actor, a period (``since`` inclusive, ``until`` exclusive), or all of
    them; refused (403) unless ``principal`` reads the audit trail."""
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
    return (await session.scalars(statement)).all()
