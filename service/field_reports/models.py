"""The intake forms, the submissions they delivered, and the pairs of reports judged not to be
duplicates. Who may read each is declared in ``service.access.policy`` (``CHILD_TABLES`` and
``STAFF_TABLES``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from service.base import CURRENT_ACTOR, Base, enum_check
from service.enums import Classification


class IntakeForm(Base):
    """A KoboToolbox or ODK Central form whose submissions become reported incidents."""

    __tablename__ = "intake_forms"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    #: The form's id in its server: KoboToolbox's asset uid, ODK Central's xmlFormId.
    form_id: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    #: The SHA-256 of the form's token (the token itself is shown once, when it is issued).
    token_hash: Mapped[str] = mapped_column(Text)
    default_classification: Mapped[Classification] = mapped_column(
        Text, server_default=text("'mission'")
    )
    #: The partner the form belongs to: its reports are theirs to see.
    owner_actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("actors.id"))
    #: Incident field -> form field, constant or value map, as an import's mapping says them.
    field_mapping: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    created_by: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__: Any = (
        UniqueConstraint("form_id"),
        enum_check("default_classification", Classification),
    )


class IntakeSubmission(Base):
    """One submission a form delivered, kept once per form and submission id: a delivery
    retried (KoboToolbox retries after 60, 600 and 6,000 s) finds it and creates nothing."""

    __tablename__ = "intake_submissions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    form_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("intake_forms.id"))
    submission_id: Mapped[str] = mapped_column(Text)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("incidents.id", deferrable=True, initially="DEFERRED")
    )
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    deliveries: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__: Any = (
        UniqueConstraint("form_id", "submission_id"),
        Index("ix_intake_submissions_incident_id", "incident_id"),
    )


class DuplicateDismissal(Base):
    """An analyst's judgement that a candidate is not a duplicate of a report: who, when, why."""

    __tablename__ = "duplicate_dismissals"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    dismissed_by: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))
    dismissed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    reason: Mapped[str | None] = mapped_column(Text)


__all__ = ["DuplicateDismissal", "IntakeForm", "IntakeSubmission"]
