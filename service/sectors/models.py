from __future__ import annotations

import uuid
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.base import Base, Record, enum_check, geometry_checks
from service.enums import SectorLevel


class Sector(Record, Base):
    """An area of responsibility: the force area, a sector, or a battalion area."""

    __tablename__ = "sectors"

    name: Mapped[str] = mapped_column(Text)
    level: Mapped[SectorLevel] = mapped_column(Text)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sectors.id"))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
    hq: Mapped[Any | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))

    @classmethod
    def __extra_args__(cls) -> list[Any]:
        return [enum_check("level", SectorLevel), *geometry_checks("geom")]
