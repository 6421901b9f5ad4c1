"""Import jobs: one row per import, with who, when, which file, what came of it."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from service.base import CURRENT_ACTOR, Base, enum_check


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    rolled_back = "rolled_back"


class ImportJob(Base):
    """An import of one file into one collection. The records it wrote carry the context
    ``import:<id>`` in the audit log, which is what a rollback undoes."""

    __tablename__ = "import_jobs"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    #: A short number for people ("import 42") and the key of the job's advisory lock.
    number: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    collection: Mapped[str] = mapped_column(Text)
    status: Mapped[JobStatus] = mapped_column(Text, server_default=text("'queued'"))
    file_name: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str | None] = mapped_column(Text)
    layer: Mapped[str | None] = mapped_column(Text)
    crs: Mapped[str | None] = mapped_column(Text)
    #: Mapping, source CRS, encoding as given, and the mapping as applied.
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    classification: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(Text)
    rows_total: Mapped[int | None] = mapped_column(BigInteger)
    rows_read: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    created: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    updated: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    unchanged: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rejected: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'"))
    problems_total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Refreshed while the job runs; a job with an old heartbeat and no lock was interrupted.
    heartbeat_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    rolled_back_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rolled_back_by: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        enum_check("status", JobStatus),
        CheckConstraint("rows_read >= 0", name="rows_read_range"),
        Index("ix_import_jobs_created_by_created_at", "created_by", "created_at"),
        Index("ix_import_jobs_status", "status"),
    )
