from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from service.base import CURRENT_ACTOR, Base, Record, enum_check, geometry_checks, point_or_area
from service.enums import SiteStatus, SiteType


class IdpSite(Record, Base):
    """Where displaced people live: camps, collective centres, settlements, host communities."""

    __tablename__ = "idp_sites"

    name: Mapped[str] = mapped_column(Text)
    site_type: Mapped[SiteType] = mapped_column(Text)
    status: Mapped[SiteStatus] = mapped_column(Text, server_default=text("'open'"))
    population_individuals: Mapped[int | None] = mapped_column(Integer)
    population_households: Mapped[int | None] = mapped_column(Integer)
    population_date: Mapped[date | None] = mapped_column(Date)
    managing_actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("actors.id"))
    description: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(point_or_area())
    sector_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sectors.id"), index=True)

    @classmethod
    def __extra_args__(cls) -> list[Any]:
        return [
            enum_check("site_type", SiteType),
            enum_check("status", SiteStatus),
            CheckConstraint("population_individuals >= 0", name="population_individuals_range"),
            CheckConstraint("population_households >= 0", name="population_households_range"),
            *geometry_checks("geom", "Point", "Polygon", "MultiPolygon"),
        ]


class SitePopulation(Base):
    """One population figure of a site. Who may see it follows the site."""

    __tablename__ = "site_population"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("idp_sites.id", ondelete="CASCADE"), index=True
    )
    observed_on: Mapped[date] = mapped_column(Date)
    individuals: Mapped[int] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    created_by: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))
    #: The last correction: who and when (the audit trail keeps the values before it).
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str | None] = mapped_column(Text)
    #: A withdrawn figure stays, with who withdrew it, when and why, but counts no more.
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_by: Mapped[str | None] = mapped_column(Text)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("individuals >= 0", name="individuals_range"),
        CheckConstraint("households >= 0", name="households_range"),
    )
