from __future__ import annotations

import uuid

from pydantic import AwareDatetime, Field, field_validator

from service.bounds import bound_to_columns
from service.core.schemas import SectoredProperties
from service.enums import (
    IncidentCategory,
    LocationPrecision,
    SourceReliability,
    VerificationState,
)
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
    verification_state: VerificationState | None = Field(
        None,
        exclude=True,
        description="Read only: `reported` (a field report not yet judged), `verified` or "
        "`discredited`, changed by the verify and discredit actions (docs/field-reports.md). "
        "Records written through the API are verified.",
    )

    @field_validator("verification_state")
    @classmethod
    def _judged_by_actions(cls, value: VerificationState | None) -> VerificationState | None:
        if value is not None:
            raise ValueError(
                "verification_state is set by the verify and discredit actions "
                "(POST /api/incidents/{id}/verify or /discredit), not written"
            )
        return value


bound_to_columns(IncidentProperties, Incident.__table__)  # type: ignore[arg-type]
