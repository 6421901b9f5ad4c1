"""Requests for civil assistance and their history. The tables, checks and triggers are
created by migration b9d1f3a5c7e0."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from service.base import CURRENT_ACTOR, Base, Record, enum_check, geometry_checks, point_or_area
from service.requests.workflow import Capability, Decision, RequestStatus, Step

#: A side's decision is recorded whole: what, by whom, when and why.
_SIDES = ("humanitarian", "military", "srsg")

#: What each state requires of the record (the workflow's invariants, kept by the database).
STATUS_CONSISTENT = """CASE status
  WHEN 'submitted' THEN humanitarian_decision IS NULL AND military_decision IS NULL
    AND srsg_decision IS NULL AND decided_at IS NULL
  WHEN 'under_review' THEN srsg_decision IS NULL AND decided_at IS NULL
    AND (humanitarian_decision IS NULL OR military_decision IS NULL)
  WHEN 'referred_to_srsg' THEN humanitarian_decision IS NOT NULL
    AND military_decision IS NOT NULL AND humanitarian_decision <> military_decision
    AND srsg_decision IS NULL AND decided_at IS NULL
  WHEN 'approved' THEN decided_at IS NOT NULL
  WHEN 'denied' THEN decided_at IS NOT NULL AND denial_reason IS NOT NULL
  WHEN 'completed' THEN completed_at IS NOT NULL
  WHEN 'delivered_by_other' THEN delivered_at IS NOT NULL
    AND (delivered_by_actor_id IS NOT NULL OR delivered_by_name IS NOT NULL)
  WHEN 'withdrawn' THEN withdrawn_at IS NOT NULL AND withdrawal_reason IS NOT NULL
END"""

#: Approved (and completed after approval) only as a last resort, unless to save lives.
LAST_RESORT = (
    "status NOT IN ('approved', 'completed') OR life_saving "
    "OR (capability_unique AND no_civilian_alternative AND limited_in_time_and_space)"
)


def _decision_complete(side: str) -> CheckConstraint:
    parts = [f"{side}_{c} IS NULL" for c in ("decision", "decided_by", "decided_at", "reason")]
    return CheckConstraint(
        f"({parts[0]}) = ({parts[1]}) AND ({parts[0]}) = ({parts[2]}) AND ({parts[0]}) = ({parts[3]})",
        name=f"{side}_decision_complete",
    )


class AssistanceRequest(Record, Base):
    """A request from a humanitarian or development actor for military support."""

    __tablename__ = "assistance_requests"

    title: Mapped[str] = mapped_column(Text)
    need: Mapped[str] = mapped_column(Text)
    requesting_actor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("actors.id"))
    capability: Mapped[Capability] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    needed_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    needed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    capability_unique: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    no_civilian_alternative: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    limited_in_time_and_space: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    justification: Mapped[str | None] = mapped_column(Text)
    life_saving: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    status: Mapped[RequestStatus] = mapped_column(Text, server_default=text("'submitted'"))
    humanitarian_decision: Mapped[Decision | None] = mapped_column(Text)
    humanitarian_decided_by: Mapped[str | None] = mapped_column(Text)
    humanitarian_decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    humanitarian_reason: Mapped[str | None] = mapped_column(Text)
    military_decision: Mapped[Decision | None] = mapped_column(Text)
    military_decided_by: Mapped[str | None] = mapped_column(Text)
    military_decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    military_reason: Mapped[str | None] = mapped_column(Text)
    srsg_decision: Mapped[Decision | None] = mapped_column(Text)
    srsg_decided_by: Mapped[str | None] = mapped_column(Text)
    srsg_decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    srsg_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    denial_reason: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_by_actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("actors.id"))
    delivered_by_name: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(point_or_area())
    sector_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sectors.id"), index=True)

    @classmethod
    def __extra_args__(cls) -> list[Any]:
        return [
            enum_check("capability", Capability),
            enum_check("status", RequestStatus),
            *(enum_check(f"{side}_decision", Decision) for side in _SIDES),
            *(_decision_complete(side) for side in _SIDES),
            CheckConstraint(STATUS_CONSISTENT, name="status_consistent"),
            CheckConstraint(LAST_RESORT, name="last_resort"),
            CheckConstraint("needed_until >= needed_from", name="needed_until_order"),
            *geometry_checks("geom", "Point", "Polygon", "MultiPolygon"),
            Index("ix_assistance_requests_status_requested_at", "status", "requested_at"),
            Index("ix_assistance_requests_requesting_actor_id", "requesting_actor_id"),
        ]


class AssistanceRequestHistory(Base):
    """One step in the life of a request: append-only, visible with the request."""

    __tablename__ = "assistance_request_history"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    #: Order of the steps (several may share a transaction's time).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False))
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assistance_requests.id"))
    step: Mapped[Step] = mapped_column(Text)
    from_status: Mapped[RequestStatus | None] = mapped_column(Text)
    to_status: Mapped[RequestStatus] = mapped_column(Text)
    decision: Mapped[Decision | None] = mapped_column(Text)
    #: Who took the decision or the step (the DSRSG/RC/HC, the HOMC, the SRSG, an actor).
    decided_by: Mapped[str | None] = mapped_column(Text)
    #: When it happened (a decision may be recorded after it was taken).
    happened_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    recorded_by: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))

    __table_args__ = (
        enum_check("step", Step),
        enum_check("from_status", RequestStatus),
        enum_check("to_status", RequestStatus),
        enum_check("decision", Decision),
        Index("ix_assistance_request_history_request_id", "request_id", "seq"),
    )
