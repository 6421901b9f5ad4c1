from __future__ import annotations

import uuid
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, ForeignKey, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from service.base import Base, Record, enum_check, geometry_checks
from service.enums import PlaceClass


class Place(Record, Base):
    """A populated place of the gazetteer: a city, town, village or hamlet."""

    __tablename__ = "places"

    name: Mapped[str] = mapped_column(Text)
    #: Other names and spellings, separated by commas (as GeoNames lists them).
    alternate_names: Mapped[str | None] = mapped_column(Text)
    place_class: Mapped[PlaceClass] = mapped_column(Text, server_default=text("'village'"))
    population: Mapped[int | None] = mapped_column(Integer)
    admin1: Mapped[str | None] = mapped_column(Text)
    admin2: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    sector_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sectors.id"), index=True)

    @classmethod
    def __extra_args__(cls) -> list[Any]:
        return [
            enum_check("place_class", PlaceClass),
            CheckConstraint("population >= 0", name="population_range"),
            *geometry_checks("geom"),
        ]
