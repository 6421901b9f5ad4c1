from __future__ import annotations

import uuid

from pydantic import AwareDatetime, Field, model_validator

from service.bounds import bound_to_columns
from service.core.schemas import SectoredProperties
from service.enums import BaseKind, PatrolState, PatrolType
from service.patrols.models import OperatingBase, Patrol


class PatrolProperties(SectoredProperties):
    unit: str = Field(min_length=1, max_length=200)
    patrol_type: PatrolType
    state: PatrolState
    start_at: AwareDatetime
    end_at: AwareDatetime | None = None
    base_id: uuid.UUID | None = None
    description: str | None = Field(None, max_length=10_000)

    @model_validator(mode="after")
    def _times_in_order(self) -> PatrolProperties:
        if self.start_at and self.end_at and self.end_at < self.start_at:
            raise ValueError("end_at is before start_at")
        return self


class BaseProperties(SectoredProperties):
    name: str = Field(min_length=1, max_length=200)
    unit: str | None = Field(None, max_length=200)
    base_kind: BaseKind


bound_to_columns(PatrolProperties, Patrol.__table__)  # type: ignore[arg-type]
bound_to_columns(BaseProperties, OperatingBase.__table__)  # type: ignore[arg-type]
