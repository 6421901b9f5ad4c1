"""Reading the audit trail: who changed what, when. Admins read it (the API's ``/api/audit``
and a record's history in the workspace)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import and_, cast, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.audit.models import AuditEntry
from service.enums import Role

#: Who reads the audit trail.
READERS = Role.admin


def may_read(principal: Principal) -> bool:
    """Whether ``principal`` reads the audit trail."""
    return principal.at_least(READERS)


async def entries(
    session: AsyncSession,
    *,
    record: uuid.UUID | None = None,
    collection: str | None = None,
    actor: str | None = None,
    limit: int = 100,
) -> Sequence[AuditEntry]:
    """The newest entries first, of one record (also an import's bulk entry that lists it),
    a collection or an actor."""
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
    return (await session.scalars(statement)).all()
