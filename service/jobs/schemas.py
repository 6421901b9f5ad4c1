"""What the jobs API answers."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class JobProgress(BaseModel):
    done: int = Field(description="Units done so far (rows read or written, or percent).")
    total: int | None = Field(description="Units in all, when known.")
    unit: str = Field(
        description="What `done` and `total` count: rows, sites, cells, time steps or percent."
    )
    percent: float | None


class JobOut(BaseModel):
    """A piece of heavy work run by a worker process as the user who asked for it."""

    id: uuid.UUID
    number: int | None = Field(
        None,
        description="The job's running number among all jobs; shown only to admins, who see "
        "every job (to others it would count the jobs hidden from them).",
    )
    kind: str = Field(
        description="export, report, import, import_preview, import_rollback, exposure, "
        "emerging_hotspots, hotspots, risk or print."
    )
    state: str = Field(description="queued, running, succeeded, failed or cancelled.")
    progress: JobProgress
    owner: str = Field(description="Who started it.")
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None = Field(description="When the result is removed.")
    error: str | None = Field(description="Why it failed or was cancelled.")
    result: str | None = Field(description="Where to fetch the result (the owner only).")
    result_name: str | None
    result_media_type: str | None
    result_size: int | None
    links: dict[str, str] = Field(description="The job itself, and other resources it made.")
    actions: list[str] = Field(
        default_factory=list,
        description="What you may do with the job now: `cancel` (queued or running), "
        "`retry` (failed or cancelled).",
    )
