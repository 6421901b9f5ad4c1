from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, SmallInteger, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.base import Base, Record, enum_check, geometry_checks
from service.enums import IncidentCategory, LocationPrecision, SourceReliability


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

    @classmethod
    def __extra_args__(cls) -> list[Any]:
        return [
            enum_check("category", IncidentCategory),
            enum_check("source_reliability", SourceReliability),
            enum_check("location_precision", LocationPrecision),
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
