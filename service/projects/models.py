from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from service.base import CURRENT_ACTOR, Base, Record, enum_check, geometry_checks, point_or_area
from service.enums import ProjectKind, ProjectStatus


class Project(Record, Base):
    """Quick impact projects, civil assistance and community support."""

    __tablename__ = "projects"

    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[ProjectKind] = mapped_column(Text)
    status: Mapped[ProjectStatus] = mapped_column(Text, server_default=text("'proposed'"))
    implementing_actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("actors.id"))
    budget_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    beneficiaries: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(point_or_area())
    sector_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sectors.id"), index=True)

    @classmethod
    def __extra_args__(cls) -> list[Any]:
        return [
            enum_check("kind", ProjectKind),
            enum_check("status", ProjectStatus),
            CheckConstraint("budget_usd >= 0", name="budget_usd_range"),
            CheckConstraint("beneficiaries >= 0", name="beneficiaries_range"),
            CheckConstraint("end_date >= start_date", name="end_date_order"),
            *geometry_checks("geom", "Point", "Polygon", "MultiPolygon"),
        ]


class ProjectStatusHistory(Base):
    """One change of a project's status (the first row is the status it was recorded with).

    Written by database triggers on ``projects`` (migration b9d1f3a5c7e0), which also refuse a
    change the workflow does not allow, so every write path keeps it. Append-only; visible
    with the project."""

    __tablename__ = "project_status_history"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    #: Order of the changes (several may share a transaction's time).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    from_status: Mapped[ProjectStatus | None] = mapped_column(Text)
    to_status: Mapped[ProjectStatus] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    #: What the change was part of (an import, the rollback of one).
    context: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    changed_by: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))

    __table_args__ = (
        enum_check("from_status", ProjectStatus),
        enum_check("to_status", ProjectStatus),
        Index("ix_project_status_history_project_id", "project_id", "seq"),
    )
