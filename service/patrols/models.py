from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.base import Base, Record, enum_check, geometry_checks
from service.enums import BaseKind, PatrolState, PatrolType


class OperatingBase(Record, Base):
    """A unit position or team site."""

    __tablename__ = "bases"

    name: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(Text)
    base_kind: Mapped[BaseKind] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    sector_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sectors.id"), index=True)

    @classmethod
    def __extra_args__(cls) -> list[Any]:
        return [enum_check("base_kind", BaseKind), *geometry_checks("geom")]


class Patrol(Record, Base):
    """A planned or conducted patrol and its route."""

    __tablename__ = "patrols"

    unit: Mapped[str] = mapped_column(Text)
    patrol_type: Mapped[PatrolType] = mapped_column(Text)
    state: Mapped[PatrolState] = mapped_column(Text)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    base_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bases.id"))
    description: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("LINESTRING", srid=4326, spatial_index=True))
    sector_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sectors.id"))

    @classmethod
    def __extra_args__(cls) -> list[Any]:
        return [
            enum_check("patrol_type", PatrolType),
            enum_check("state", PatrolState),
            CheckConstraint("end_at >= start_at", name="end_at_order"),
            *geometry_checks("geom"),
            Index("ix_patrols_start_at", "start_at"),
            Index("ix_patrols_sector_start_at", "sector_id", "start_at"),
        ]
