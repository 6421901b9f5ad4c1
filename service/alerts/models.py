"""Alert rules, alerts and the records that raised them, the live event log, the webhook
outbox. The tables, constraints and triggers are created by migration e5f7a9b1c3d6; the
time-based rule kinds, their states and the schedule by a8c0e2f4b6d9."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Integer,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from service.base import CURRENT_ACTOR, Base


class RuleKind(StrEnum):
    incident_near_site = "incident_near_site"
    incident_cluster = "incident_cluster"
    armed_group_near_site = "armed_group_near_site"
    risk_threshold = "risk_threshold"
    hotspot = "hotspot"


#: Rule kinds evaluated on a schedule (and a few seconds after the data they read changes).
TIME_BASED = (RuleKind.risk_threshold, RuleKind.hotspot)


class HotspotTrend(StrEnum):
    new = "new"
    intensifying = "intensifying"


class AlertStatus(StrEnum):
    new = "new"
    acknowledged = "acknowledged"
    closed = "closed"


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=text("now()"))


def _actor() -> Mapped[str]:
    return mapped_column(Text, server_default=text(CURRENT_ACTOR))


class AlertRule(Base):
    __tablename__ = "alert_rules"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    min_severity: Mapped[int | None] = mapped_column(Integer)
    categories: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    radius_km: Mapped[float | None] = mapped_column(Float)
    min_count: Mapped[int | None] = mapped_column(Integer)
    window_hours: Mapped[float | None] = mapped_column(Float)
    cell_km: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    resolution: Mapped[int | None] = mapped_column(Integer)
    window_days: Mapped[float | None] = mapped_column(Float)
    windows: Mapped[int | None] = mapped_column(Integer)
    alpha: Mapped[float | None] = mapped_column(Float)
    z_change: Mapped[float | None] = mapped_column(Float)
    trends: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    sector_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sectors.id"))
    alert_severity: Mapped[int] = mapped_column(Integer, server_default=text("3"))
    created_at: Mapped[datetime] = _now()
    created_by: Mapped[str] = _actor()
    updated_at: Mapped[datetime] = _now()
    updated_by: Mapped[str] = _actor()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[str | None] = mapped_column(Text)


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[uuid.UUID] = _uuid_pk()
    number: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alert_rules.id"))
    kind: Mapped[str] = mapped_column(Text)
    dedup_key: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'new'"))
    severity: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    #: The title and description in each language besides English (service/alerts/texts.py).
    texts: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    classification: Mapped[str] = mapped_column(Text)
    sector_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sectors.id"))
    geom: Mapped[object] = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False))
    radius_km: Mapped[float | None] = mapped_column(Float)
    triggered_at: Mapped[datetime] = _now()
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(Text)
    #: The officer who follows the alert up (a username), who assigned it and when.
    assigned_to: Mapped[str | None] = mapped_column(Text)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assigned_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    created_by: Mapped[str] = _actor()
    updated_at: Mapped[datetime] = _now()
    updated_by: Mapped[str] = _actor()


class AlertNote(Base):
    """A note written on an alert by who handles it (created by migration d22c01d0e0f1)."""

    __tablename__ = "alert_notes"

    id: Mapped[uuid.UUID] = _uuid_pk()
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(Text)
    written_at: Mapped[datetime] = _now()
    written_by: Mapped[str] = _actor()


class AlertRecord(Base):
    __tablename__ = "alert_records"

    alert_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    collection: Mapped[str] = mapped_column(Text, primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    collection: Mapped[str] = mapped_column(Text)
    record_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    action: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class AlertEngineState(Base):
    __tablename__ = "alert_engine_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger)


class AlertRuleState(Base):
    """What a time-based rule last saw of one subject (a site above the threshold, a cell's
    hot-spot trend); subjects in no such state have no row."""

    __tablename__ = "alert_rule_states"

    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True
    )
    subject: Mapped[str] = mapped_column(Text, primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    changed_at: Mapped[datetime] = _now()
    evaluated_at: Mapped[datetime] = _now()


class AlertScheduleState(Base):
    """When the time-based rules last ran, up to which event, and how far the event log has
    been pruned (one row)."""

    __tablename__ = "alert_schedule_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    evaluated_through: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    events_pruned_through: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class WebhookDelivery(Base):
    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = _now()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class AlertWebhook(Base):
    """A URL every new alert is POSTed to, added by an admin (besides the URLs of the setting
    ``alert_webhook_urls``). Removing one deletes the row; the audit trail keeps it."""

    __tablename__ = "alert_webhooks"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    url: Mapped[str] = mapped_column(Text, unique=True)
    #: Who receives it, in the admins' words (a partner's situation room).
    name: Mapped[str] = mapped_column(Text)
    #: The language its people read (``fr``...): the deliveries' ``title`` and ``description``
    #: are in it; none, English.
    language: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    created_by: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))
