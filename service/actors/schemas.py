from __future__ import annotations

from pydantic import Field

from service.actors.models import Actor
from service.bounds import bound_to_columns
from service.core.schemas import SectoredProperties
from service.enums import ActorCategory


class ActorProperties(SectoredProperties):
    name: str = Field(min_length=1, max_length=300)
    acronym: str | None = Field(None, max_length=50)
    category: ActorCategory
    humanitarian: bool = False
    focal_point: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=50)
    email: str | None = Field(None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    description: str | None = Field(None, max_length=10_000)


bound_to_columns(ActorProperties, Actor.__table__)  # type: ignore[arg-type]
