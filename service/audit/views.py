from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from service.audit.models import AuditEntry
from service.auth.deps import require
from service.db import SessionDep
from service.enums import Role

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


@router.get(
    "",
    response_model=list[AuditOut],
    summary="History of a record, or recent changes (admins only)",
    dependencies=[require(Role.admin)],  # type: ignore[list-item]
)
async def audit_log(
    session: SessionDep,
    record: Annotated[uuid.UUID | None, Query(description="Only changes to this record.")] = None,
    collection: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if record is not None:
        statement = statement.where(AuditEntry.record_id == record)
    if collection is not None:
        statement = statement.where(AuditEntry.collection == collection)
    if actor is not None:
        statement = statement.where(AuditEntry.actor == actor)
    rows = await session.scalars(statement)
    return [AuditOut.model_validate(row, from_attributes=True) for row in rows]
