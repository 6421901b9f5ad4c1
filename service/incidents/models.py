from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, SmallInteger, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.base import Base, Record, enum_check, geometry_checks
from service.enums import (
    IncidentCategory,
    LocationPrecision,
    SourceReliability,
    VerificationState,
)


class Incident(Record, Base):
    """A threat or incident: what happened, when, where, how bad, reported by whom."""

    __tablename__ = "incidents"

    category: Mapped[IncidentCategory] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    severity: Mapped[int] = mapped_column(SmallInteger)
    killed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    injured: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    displaced: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    perpetrator_actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("actors.id"))
    source: Mapped[str | None] = mapped_column(Text)
    source_reliability: Mapped[SourceReliability | None] = mapped_column(Text)
    source_credibility: Mapped[int | None] = mapped_column(SmallInteger)
    location_precision: Mapped[LocationPrecision] = mapped_column(
        Text, default="exact", server_default="exact"
    )
    description: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    sector_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sectors.id"))
    #: Whether the incident is established (``verified``), still a report (``reported``: a
    #: field submission not yet judged) or judged untrue (``discredited``), by whom, when, why.
    verification_state: Mapped[VerificationState] = mapped_column(Text, server_default="verified")
    verified_by: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verification_reason: Mapped[str | None] = mapped_column(Text)
    #: The incident this report was merged into: it keeps every source, this one points to it.
    duplicate_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incidents.id"))
    #: The partner whose form reported it: their own reports are theirs to see.
    reporting_actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("actors.id"))

    @classmethod
    def __extra_args__(cls) -> list[Any]:
        return [
            enum_check("category", IncidentCategory),
            enum_check("source_reliability", SourceReliability),
            enum_check("location_precision", LocationPrecision),
            enum_check("verification_state", VerificationState),
            CheckConstraint("duplicate_of_id IS DISTINCT FROM id", name="not_own_duplicate"),
            CheckConstraint("severity BETWEEN 1 AND 5", name="severity_range"),
            CheckConstraint("source_credibility BETWEEN 1 AND 6", name="source_credibility_range"),
            CheckConstraint(
                "killed >= 0 AND injured >= 0 AND displaced >= 0", name="casualties_range"
            ),
            *geometry_checks("geom"),
            Index("ix_incidents_occurred_at_id", "occurred_at", "id"),
            Index("ix_incidents_sector_occurred_at", "sector_id", "occurred_at"),
            Index("ix_incidents_category_occurred_at", "category", "occurred_at"),
        ]
