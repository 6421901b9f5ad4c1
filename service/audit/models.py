from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from service.base import CURRENT_ACTOR, Base


class AuditEntry(Base):
    """One change to one record, or an import's creation of many (``record_ids``). Written by
    statement triggers on every audited table, or, for a
    collection without them (a table distributed by Citus), by ``service.audit.trail.write``,
    which every write of a collection runs through. UPDATE, DELETE and TRUNCATE on this table
    are refused."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    actor: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))
    action: Mapped[str] = mapped_column(Text)
    collection: Mapped[str] = mapped_column(Text)
    record_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    #: Groups the entries of one import job, so an import can be reviewed and rolled back.
    context: Mapped[str | None] = mapped_column(
        Text, server_default=text("current_setting('civop.context', true)")
    )
    txid: Mapped[int] = mapped_column(BigInteger, server_default=text("txid_current()"))
    #: An import's bulk creation: the ids of every record it created, in one row whose
    #: ``record_id`` is empty (``service.audit.trail.BULK_CREATION``).
    record_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))

    __table_args__: Any = (
        Index("ix_audit_log_record_id_id", "record_id", "id"),
        Index("ix_audit_log_collection_at", "collection", "at"),
        # Rollback of an import finds its changes by their context.
        Index(
            "ix_audit_log_context", "context", "id", postgresql_where=text("context IS NOT NULL")
        ),
        Index("ix_audit_log_bulk", "id", postgresql_where=text("record_ids IS NOT NULL")),
    )
