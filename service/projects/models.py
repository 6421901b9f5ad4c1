from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, Numeric, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from service.base import Base, Record, enum_check, geometry_checks, point_or_area
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
