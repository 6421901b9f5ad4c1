"""What a request for civil assistance is written as, and the bodies of its workflow steps."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from service.bounds import bound_to_columns
from service.core.schemas import SectoredProperties
from service.requests.models import AssistanceRequest
from service.requests.workflow import Capability, Decision, RequestStatus, Step


def _read_only(value: Any) -> Any:
    if value is not None:
        raise ValueError(
            "status changes only through the workflow steps: POST "
            "/api/assistance_requests/{id}/review, /humanitarian-decision, /military-decision, "
            "/srsg-decision, /complete, /delivered-by-other or /withdraw"
        )
    return value


class AssistanceRequestProperties(SectoredProperties):
    """A request as written by its requester or the officer who records it. The state and
    the decisions are not written here: each workflow step has its own route."""

    title: str = Field(min_length=1, max_length=300, description="The request in a few words.")
    need: str = Field(
        min_length=1, max_length=10_000, description="The need: what, for whom, how many."
    )
    requesting_actor_id: uuid.UUID = Field(description="The actor (organisation) that asks.")
    capability: Capability = Field(description="The capability asked for.")
    requested_at: AwareDatetime | None = Field(None, description="When it was asked (now).")
    needed_from: AwareDatetime = Field(description="When the support is needed.")
    needed_until: AwareDatetime | None = Field(None, description="Until when (limited in time).")
    capability_unique: bool = Field(
        False, description="Last resort: the capability is unique to the force."
    )
    no_civilian_alternative: bool = Field(
        False, description="Last resort: no civilian alternative is available in time."
    )
    limited_in_time_and_space: bool = Field(
        False, description="Last resort: the support is limited in time and space."
    )
    justification: str | None = Field(None, max_length=10_000)
    life_saving: bool = Field(
        False, description="Immediate life-saving help: may be given first and reported at once."
    )
    # Listed so that lists and map layers filter on it (?status=...); never written here.
    status: Annotated[RequestStatus | None, AfterValidator(_read_only)] = Field(
        None, exclude=True, description="Read-only: changed by the workflow steps."
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> AssistanceRequestProperties:
        if self.needed_until and self.needed_from and self.needed_until < self.needed_from:
            raise ValueError("needed_until is before needed_from")
        return self


class RequestSubmission(AssistanceRequestProperties):
    """A new request; partners may leave out ``requesting_actor_id`` (their own actor)."""

    requesting_actor_id: uuid.UUID | None = Field(  # type: ignore[assignment]
        None, description="The actor that asks; a partner's own actor when left out."
    )


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewIn(_Step):
    note: str | None = Field(None, max_length=5_000)


class DecisionIn(_Step):
    decision: Decision
    decided_by: str = Field(
        min_length=1, max_length=300, description="Who decided, e.g. 'A. Name, DSRSG/RC/HC'."
    )
    decided_at: AwareDatetime | None = Field(None, description="When (default: now).")
    reason: str = Field(min_length=1, max_length=5_000, description="Why.")


class CompletionIn(_Step):
    completed_at: AwareDatetime | None = Field(None, description="When (default: now).")
    note: str | None = Field(None, max_length=5_000)


class DeliveredByOtherIn(_Step):
    actor_id: uuid.UUID | None = Field(None, description="The actor that delivered, if recorded.")
    actor_name: str | None = Field(None, max_length=300, description="Or its name.")
    delivered_at: AwareDatetime | None = Field(None, description="When (default: now).")
    note: str | None = Field(None, max_length=5_000)

    @model_validator(mode="after")
    def _someone(self) -> DeliveredByOtherIn:
        if self.actor_id is None and not self.actor_name:
            raise ValueError("name who delivered: actor_id or actor_name")
        return self


class WithdrawalIn(_Step):
    reason: str = Field(min_length=1, max_length=5_000)


class HistoryEntry(BaseModel):
    step: Step
    from_status: RequestStatus | None
    to_status: RequestStatus
    decision: Decision | None
    decided_by: str | None
    happened_at: datetime
    reason: str | None
    recorded_at: datetime
    #: Staff only (like ``created_by``).
    recorded_by: str | None


class RequestHistory(BaseModel):
    request_id: uuid.UUID
    status: RequestStatus
    #: Steps the workflow allows now (as in the URLs), and those of them you may take.
    next_steps: list[str]
    you_may: list[str]
    history: list[HistoryEntry]


for _properties in (AssistanceRequestProperties, RequestSubmission):
    bound_to_columns(_properties, AssistanceRequest.__table__)  # type: ignore[arg-type]
for _step in (ReviewIn, DecisionIn, CompletionIn, DeliveredByOtherIn, WithdrawalIn):
    bound_to_columns(_step)
