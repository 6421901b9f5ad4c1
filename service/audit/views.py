from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from service.audit import service
from service.audit.models import AuditEntry
from service.auth.deps import PrincipalDep
from service.db import SessionDep

router = APIRouter(prefix="/api/audit", tags=["audit"])


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    collection: str
    record_id: uuid.UUID | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    context: str | None
    records: int = Field(
        1,
        description="How many records the entry names: more than one for an import's bulk "
        "creation, one row for all the records it created (record_id is then the record "
        "asked for, or empty).",
    )


@router.get(
    "",
    response_model=list[AuditOut],
    summary="History of a record, or recent changes (admins only)",
)
async def audit_log(
    session: SessionDep,
    principal: PrincipalDep,
    record: Annotated[uuid.UUID | None, Query(description="Only changes to this record.")] = None,
    collection: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[datetime | None, Query(description="Changes at or after this time.")] = None,
    until: Annotated[datetime | None, Query(description="Changes before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    rows = await service.entries(
        session,
        principal,
        record=record,
        collection=collection,
        actor=actor,
        since=since,
        until=until,
        limit=limit,
    )
    return [_entry(row, record) for row in rows]


def _entry(row: AuditEntry, record: uuid.UUID | None) -> AuditOut:
    """An entry as answered: a bulk creation names the record asked for and how many it
    created, never its whole list."""
    if row.record_ids is None:
        return AuditOut.model_validate(row, from_attributes=True)
    return AuditOut(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        collection=row.collection,
        record_id=record,
        before=None,
        after=None,
        context=row.context,
        records=len(row.record_ids),
    )
