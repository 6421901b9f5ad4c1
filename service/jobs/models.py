"""Job records: one row per piece of heavy work, with who asked, its state and its result."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from service.base import Base, enum_check


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


ACTIVE = (JobState.queued, JobState.running)
FINISHED = (JobState.succeeded, JobState.failed, JobState.cancelled)


class Job(Base):
    """A piece of work a worker process runs as the principal who asked for it."""

    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    number: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    #: export, report, import, import_preview, import_rollback, exposure, emerging_hotspots,
    #: hotspots, risk, print, alerts_scheduled.
    kind: Mapped[str] = mapped_column(Text)
    state: Mapped[JobState] = mapped_column(Text, server_default=text("'queued'"))
    #: What the work needs to run again (the request, never credentials).
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    #: The user the job runs as (rebuilt when it starts); none for the service's own jobs.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    owner: Mapped[str] = mapped_column(Text)
    progress_done: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    progress_unit: Mapped[str] = mapped_column(Text, server_default=text("'rows'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)
    result_name: Mapped[str | None] = mapped_column(Text)
    result_media_type: Mapped[str | None] = mapped_column(Text)
    result_size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When the result file is removed (set when the job succeeds).
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        enum_check("state", JobState),
        Index("ix_jobs_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_jobs_state", "state"),
    )
