from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.bounds import bound_to_columns
from service.core.schemas import SectoredProperties
from service.enums import ProjectKind, ProjectStatus
from service.projects.models import Project


class ProjectProperties(SectoredProperties):
    title: str = Field(min_length=1, max_length=300)
    kind: ProjectKind
    status: ProjectStatus = ProjectStatus.proposed
    implementing_actor_id: uuid.UUID | None = None
    budget_usd: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    beneficiaries: int | None = Field(None, ge=0)
    description: str | None = Field(None, max_length=10_000)

    @model_validator(mode="after")
    def _dates_in_order(self) -> ProjectProperties:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class ProjectStatusChange(BaseModel):
    """A new status for a project, and why."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    status: ProjectStatus
    reason: str | None = Field(None, max_length=5_000, description="Why (kept in the history).")


class StatusEntry(BaseModel):
    from_status: ProjectStatus | None
    to_status: ProjectStatus
    reason: str | None
    #: What the change was part of (``import:<job>``, ...); staff only, like ``changed_by``.
    context: str | None
    changed_at: dt.datetime
    changed_by: str | None


class ProjectHistory(BaseModel):
    project_id: uuid.UUID
    status: ProjectStatus
    #: Where the project may go now (empty: the status is final).
    next_statuses: list[ProjectStatus]
    history: list[StatusEntry]


bound_to_columns(ProjectProperties, Project.__table__)  # type: ignore[arg-type]
