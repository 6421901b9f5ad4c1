from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from service.base import Base, Record, enum_check, geometry_checks, point_or_area
from service.enums import ActorCategory


class Actor(Record, Base):
    """Who is where: UN agencies, NGOs, authorities, armed groups. A point for a location or a
    polygon for an area of operation."""

    __tablename__ = "actors"

    name: Mapped[str] = mapped_column(Text)
    acronym: Mapped[str | None] = mapped_column(Text)
    category: Mapped[ActorCategory] = mapped_column(Text)
    humanitarian: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    focal_point: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(point_or_area())
    sector_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sectors.id"), index=True)

    @classmethod
    def __extra_args__(cls) -> list[Any]:
        return [
            enum_check("category", ActorCategory),
            *geometry_checks("geom", "Point", "Polygon", "MultiPolygon"),
        ]
