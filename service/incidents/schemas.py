from __future__ import annotations

import uuid

from pydantic import AwareDatetime, Field

from service.bounds import bound_to_columns
from service.core.schemas import SectoredProperties
from service.enums import IncidentCategory, LocationPrecision, SourceReliability
from service.incidents.models import Incident


class IncidentProperties(SectoredProperties):
    category: IncidentCategory
    occurred_at: AwareDatetime = Field(description="When it happened (RFC 3339 with time zone).")
    reported_at: AwareDatetime | None = None
    severity: int = Field(ge=1, le=5, description="1 minor ... 5 mass casualties.")
    killed: int = Field(0, ge=0)
    injured: int = Field(0, ge=0)
    displaced: int = Field(0, ge=0)
    perpetrator_actor_id: uuid.UUID | None = None
    source: str | None = Field(None, max_length=2000)
    source_reliability: SourceReliability | None = Field(
        None, description="Admiralty grading A (reliable) ... F (cannot be judged)."
    )
    source_credibility: int | None = Field(
        None, ge=1, le=6, description="1 confirmed ... 6 cannot be judged."
    )
    location_precision: LocationPrecision = LocationPrecision.exact
    description: str | None = Field(None, max_length=10_000)


bound_to_columns(IncidentProperties, Incident.__table__)  # type: ignore[arg-type]
