"""Alerts and alert rules: reading (through the access rules), the lifecycle, rule management.
GeoJSON is built by PostgreSQL."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geoalchemy2 import Geography, Geometry
from sqlalchemy import (
    JSON,
    ColumnElement,
    Table,
    Text,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from geo.analysis.grid import HexGrid
from service.access.actions import allowed, authorize, sees_staff_fields
from service.access.policy import Principal
from service.alerts.access import ALERT_RECORDS, ALERTS, alert_visible, sees_every_alert
from service.alerts.models import AlertNote, AlertRule, RuleKind
from service.alerts.schemas import RESOLUTIONS, RuleIn, RulePatch, needed
from service.analysis.service import MAX_CELLS
from service.core.records import act_as, with_member
from service.errors import Conflict, InvalidInput, NotFound
from service.i18n import LANGUAGE, SOURCE_LANGUAGE, _, format_number

RULES: Table = AlertRule.__table__  # type: ignore[assignment]
NOTES: Table = AlertNote.__table__  # type: ignore[assignment]
PRECISION = 7


@dataclass(frozen=True)
class AlertQuery:
    status: list[str] | None = None
    kind: list[str] | None = None
    rule_id: uuid.UUID | None = None
    min_severity: int | None = None
    since: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None
    sector: uuid.UUID | None = None
    limit: int = 100
    #: Alerts with a smaller number than this (the ``next`` link).
    before: int | None = None


def area(alerts: Any = ALERTS) -> ColumnElement[Any]:
    """The area warned about: the circle around the place, or the cell polygon."""
    circle = cast(
        func.ST_Buffer(cast(alerts.c.geom, _geography()), alerts.c.radius_km * 1000, 16),
        _geometry(),
    )
    return case((alerts.c.radius_km.is_not(None), circle), else_=alerts.c.geom)


def _geography() -> Any:
    return Geography(srid=4326)


def _geometry() -> Any:
    return Geometry(srid=4326)


def in_reader_language(a: Any, member: str) -> ColumnElement[Any]:
    """An alert's title or description in the request's language (``texts``), else English."""
    language = LANGUAGE.get()
    if language == SOURCE_LANGUAGE:
        return a.c[member]  # type: ignore[no-any-return]
    translated = a.c.texts.op("->")(literal(language)).op("->>")(literal(member))
    return func.coalesce(translated, a.c[member])


def alert_feature(principal: Principal) -> ColumnElement[str]:
    """One alert as a GeoJSON Feature (text), for the ``alerts`` table in the FROM clause."""
    a = ALERTS
    staff = sees_staff_fields(principal)

    def who(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return column if staff else null()

    records = (
        select(
            func.coalesce(
                func.json_agg(
                    func.json_build_object(
                        literal("collection"),
                        ALERT_RECORDS.c.collection,
                        literal("id"),
                        ALERT_RECORDS.c.record_id,
                    )
                ),
                cast(literal("[]"), JSON),
            )
        )
        .where(ALERT_RECORDS.c.alert_id == a.c.id)
        .scalar_subquery()
    )
    properties = func.json_build_object(
        literal("number"), a.c.number if sees_every_alert(principal) else null(),
        literal("rule_id"), a.c.rule_id,
        literal("kind"), a.c.kind,
        literal("status"), a.c.status,
        literal("severity"), a.c.severity,
        literal("title"), in_reader_language(a, "title"),
        literal("description"), in_reader_language(a, "description"),
        literal("classification"), a.c.classification,
        literal("sector_id"), a.c.sector_id,
        literal("center"), cast(func.ST_AsGeoJSON(func.ST_PointOnSurface(a.c.geom), PRECISION), JSON),
        literal("radius_km"), a.c.radius_km,
        literal("triggered_at"), a.c.triggered_at,
        literal("updated_at"), a.c.updated_at,
        literal("acknowledged_at"), a.c.acknowledged_at,
        literal("acknowledged_by"), who(a.c.acknowledged_by),
        literal("closed_at"), a.c.closed_at,
        literal("closed_by"), who(a.c.closed_by),
        literal("assigned_to"), who(a.c.assigned_to),
        literal("assigned_at"), who(a.c.assigned_at),
        literal("records"), records,
    )  # fmt: skip
    return cast(
        func.json_build_object(
            literal("type"), literal("Feature"),
            literal("id"), a.c.id,
            literal("geometry"), cast(func.ST_AsGeoJSON(area(a), PRECISION), JSON),
            literal("properties"), properties,
        ),
        Text,
    )  # fmt: skip


def _conditions(principal: Principal, query: AlertQuery) -> list[ColumnElement[bool]]:
    from service.core.records import sector_tree

    a = ALERTS
    conditions = [alert_visible(principal)]
    if query.status:
        conditions.append(a.c.status.in_(query.status))
    if query.kind:
        conditions.append(a.c.kind.in_(query.kind))
    if query.rule_id is not None:
        conditions.append(a.c.rule_id == query.rule_id)
    if query.min_severity is not None:
        conditions.append(a.c.severity >= query.min_severity)
    if query.since is not None:
        conditions.append(a.c.triggered_at >= query.since)
    if query.bbox is not None:
        conditions.append(func.ST_Intersects(a.c.geom, func.ST_MakeEnvelope(*query.bbox, 4326)))
    if query.sector is not None:
        conditions.append(a.c.sector_id.in_(sector_tree(query.sector)))
    if query.before is not None:
        conditions.append(a.c.number < query.before)
    return conditions


async def list_alerts(
    session: AsyncSession, principal: Principal, query: AlertQuery
) -> tuple[list[str], int | None]:
    """Newest first; returns the features and the number for the next page, if any."""
    a = ALERTS
    statement = (
        select(alert_feature(principal), a.c.number)
        .where(*_conditions(principal, query))
        .order_by(a.c.number.desc())
        .limit(query.limit + 1)
    )
    rows = (await session.execute(statement)).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return [r[0] for r in rows], (int(rows[-1][1]) if more and rows else None)


#: The steps of an alert's life (``POST /api/alerts/{id}/<step>``): the status it takes and the
#: statuses it may be taken from.
ALERT_STEPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "acknowledge": ("acknowledged", ("new",)),
    "close": ("closed", ("new", "acknowledged")),
}


async def get_alert(session: AsyncSession, principal: Principal, alert_id: uuid.UUID) -> str:
    """One alert as the principal may see it, with the steps they may take on it now
    (an ``actions`` member)."""
    found = (
        await session.execute(
            select(alert_feature(principal), ALERTS.c.status).where(
                ALERTS.c.id == alert_id, alert_visible(principal)
            )
        )
    ).one_or_none()
    if found is None:
        raise NotFound(_("no such alert"))
    feature, status = found
    return with_member(str(feature), "actions", alert_actions(principal, status))


#: What may be done with an alert that is not closed, besides its steps.
ALERT_HANDLING = ("assign", "annotate")


def alert_actions(principal: Principal, status: str) -> list[str]:
    """The steps and handling ``principal`` may take on an alert in ``status`` now."""
    if not allowed(principal, "handle_alert"):
        return []
    steps = [step for step, (_step_kind, origins) in ALERT_STEPS.items() if status in origins]
    return steps + (list(ALERT_HANDLING) if status != "closed" else [])


async def get_alert_row(session: AsyncSession, principal: Principal, alert_id: uuid.UUID) -> Any:
    """The alert's columns, with its centre and area as WKB and its records (for CAP)."""
    a = ALERTS
    row = (
        await session.execute(
            select(
                a,
                func.ST_AsBinary(func.ST_PointOnSurface(a.c.geom)).label("center_wkb"),
                func.ST_AsBinary(a.c.geom).label("geom_wkb"),
            ).where(a.c.id == alert_id, alert_visible(principal))
        )
    ).one_or_none()
    if row is None:
        raise NotFound(_("no such alert"))
    return row


async def _transition(
    session: AsyncSession, principal: Principal, alert_id: uuid.UUID, target: str
) -> str:
    authorize(principal, "handle_alert")
    a = ALERTS
    status = await session.scalar(
        select(a.c.status).where(a.c.id == alert_id, alert_visible(principal))
    )
    if status is None:
        raise NotFound(_("no such alert"))
    (origins,) = [origins for to, origins in ALERT_STEPS.values() if to == target]
    if status not in origins:
        raise Conflict(
            _("the alert is {status}; it cannot become {target}", status=status, target=target)
        )
    stamp = (
        {"acknowledged_at": func.now(), "acknowledged_by": principal.username}
        if target == "acknowledged"
        else {"closed_at": func.now(), "closed_by": principal.username}
    )
    await act_as(session, principal)
    await session.execute(
        update(a).where(a.c.id == alert_id, a.c.status == status).values(status=target, **stamp)
    )
    await session.commit()
    return await get_alert(session, principal, alert_id)


async def acknowledge(session: AsyncSession, principal: Principal, alert_id: uuid.UUID) -> str:
    return await _transition(session, principal, alert_id, "acknowledged")


async def close(session: AsyncSession, principal: Principal, alert_id: uuid.UUID) -> str:
    return await _transition(session, principal, alert_id, "closed")


async def _open_alert(session: AsyncSession, principal: Principal, alert_id: uuid.UUID) -> str:
    """The status of an alert the principal may handle, refusing closed ones (409)."""
    authorize(principal, "handle_alert")
    status = await session.scalar(
        select(ALERTS.c.status).where(ALERTS.c.id == alert_id, alert_visible(principal))
    )
    if status is None:
        raise NotFound(_("no such alert"))
    if status == "closed":
        raise Conflict(_("the alert is closed; nothing more is done with it (allowed now: none)"))
    return str(status)


async def assign(
    session: AsyncSession, principal: Principal, alert_id: uuid.UUID, username: str | None
) -> str:
    """Assign an open alert to an officer who may handle it and sees it (``None``: to no one)."""
    from service.auth import service as auth
    from service.auth.models import User

    await _open_alert(session, principal, alert_id)
    values: dict[str, Any] = {"assigned_to": None, "assigned_at": None, "assigned_by": None}
    if username:
        user = await session.scalar(select(User).where(User.username == username))
        assignee = await auth.principal_of(session, user) if user and not user.disabled else None
        if assignee is None or not allowed(assignee, "handle_alert"):
            raise InvalidInput(
                ["body", "assigned_to"],
                _("assign the alert to an officer or an admin: give their username"),
            )
        seen = await session.scalar(
            select(literal(True)).where(ALERTS.c.id == alert_id, alert_visible(assignee))
        )
        if not seen:
            raise InvalidInput(
                ["body", "assigned_to"],
                _(
                    "{username} is not cleared for this alert; assign it to someone who is",
                    username=username,
                ),
            )
        values = {
            "assigned_to": username,
            "assigned_at": func.now(),
            "assigned_by": principal.username,
        }
    await act_as(session, principal)
    await session.execute(update(ALERTS).where(ALERTS.c.id == alert_id).values(values))
    await session.commit()
    return await get_alert(session, principal, alert_id)


async def annotate(
    session: AsyncSession, principal: Principal, alert_id: uuid.UUID, note: str
) -> dict[str, Any]:
    """Write a note on an open alert; returns it."""
    await _open_alert(session, principal, alert_id)
    await act_as(session, principal)
    row = (
        await session.execute(
            insert(NOTES)
            .values(alert_id=alert_id, note=note)
            .returning(NOTES.c.id, NOTES.c.note, NOTES.c.written_at, NOTES.c.written_by)
        )
    ).one()
    await session.commit()
    return dict(row._mapping)


async def notes(
    session: AsyncSession, principal: Principal, alert_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The notes on an alert, oldest first: staff information (analysts and above)."""
    if not sees_staff_fields(principal):
        return []
    found = await session.scalar(
        select(literal(True)).where(ALERTS.c.id == alert_id, alert_visible(principal))
    )
    if not found:
        raise NotFound(_("no such alert"))
    rows = await session.execute(
        select(NOTES.c.id, NOTES.c.note, NOTES.c.written_at, NOTES.c.written_by)
        .where(NOTES.c.alert_id == alert_id)
        .order_by(NOTES.c.written_at)
    )
    return [dict(r._mapping) for r in rows]


async def inbox(
    session: AsyncSession, principal: Principal, *, limit: int = 200
) -> list[dict[str, Any]]:
    """The open alerts (new or acknowledged) the principal sees, the most severe first and,
    among alerts as severe, the newest first; each a GeoJSON Feature (as a dict) with the
    actions the principal may take on it."""
    a = ALERTS
    rows = (
        await session.execute(
            select(alert_feature(principal), a.c.status)
            .where(alert_visible(principal), a.c.status != "closed")
            .order_by(a.c.severity.desc(), a.c.triggered_at.desc(), a.c.number.desc())
            .limit(limit)
        )
    ).all()
    found = []
    for feature, status in rows:
        alert = json.loads(feature)
        alert["actions"] = alert_actions(principal, status)
        found.append(alert)
    return found


# --- rules -------------------------------------------------------------------------------

_RULE_FIELDS = (
    "id", "name", "kind", "enabled", "min_severity", "categories", "radius_km", "min_count",
    "window_hours", "cell_km", "threshold", "resolution", "window_days", "windows", "alpha",
    "z_change", "trends", "sector_id", "alert_severity", "created_at", "created_by",
    "updated_at", "updated_by",
)  # fmt: skip


def _rule_json() -> ColumnElement[Any]:
    pairs: list[Any] = []
    for name in _RULE_FIELDS:
        pairs += [literal(name), RULES.c[name]]
    return type_coerce(func.jsonb_build_object(*pairs), JSONB)


async def list_rules(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(_rule_json()).where(RULES.c.deleted_at.is_(None)).order_by(RULES.c.created_at)
    )
    return list(rows)


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> dict[str, Any]:
    found = await session.scalar(
        select(_rule_json()).where(RULES.c.id == rule_id, RULES.c.deleted_at.is_(None))
    )
    if found is None:
        raise NotFound(_("no such alert rule"))
    return dict(found)


def _must_write(principal: Principal) -> None:
    authorize(principal, "manage_alert_rules")


async def _check_area(session: AsyncSession, rule: dict[str, Any]) -> None:
    """The resolution suits the kind, the sector a rule watches exists, and a hot-spot rule's
    areas are not too many cells."""
    kind = RuleKind(rule["kind"])
    if kind in RESOLUTIONS and rule.get("resolution") is not None:
        low, high = RESOLUTIONS[kind]
        if not low <= int(rule["resolution"]) <= high:
            raise InvalidInput(
                ["body", "resolution"],
                _(
                    "a {value} rule takes a resolution of {low} to {high}",
                    value=kind.value,
                    low=low,
                    high=high,
                ),
            )
    sector_id = rule.get("sector_id")
    if sector_id is not None:
        found = await session.scalar(
            text("SELECT 1 FROM sectors WHERE id = :id AND deleted_at IS NULL"), {"id": sector_id}
        )
        if found is None:
            raise InvalidInput(["body", "sector_id"], _("no such sector; give a sector's id"))
    if kind != RuleKind.hotspot:
        return
    where = "id = :id" if sector_id is not None else "parent_id IS NULL AND deleted_at IS NULL"
    largest = await session.scalar(
        text(f"SELECT max(ST_Area(geom)) FROM sectors WHERE {where}"),  # noqa: S608 - fixed SQL
        {"id": sector_id},
    )
    resolution = int(rule["resolution"])
    cells = float(largest or 0.0) * 111.32**2 / HexGrid(resolution).cell_area_km2
    if cells > MAX_CELLS:
        raise InvalidInput(
            ["body", "resolution"],
            _(
                "the area holds about {cells} cells at resolution {resolution}; use a lower "
                "resolution or a smaller sector_id (at most {most} cells)",
                cells=format_number(int(cells)),
                resolution=resolution,
                most=format_number(MAX_CELLS),
            ),
        )


async def create_rule(session: AsyncSession, principal: Principal, body: RuleIn) -> dict[str, Any]:
    _must_write(principal)
    values = body.model_dump(exclude_none=True)
    await _check_area(session, values)
    await act_as(session, principal)
    rule_id = (
        await session.execute(insert(RULES).values(values).returning(RULES.c.id))
    ).scalar_one()
    await session.commit()
    return await get_rule(session, rule_id)


async def update_rule(
    session: AsyncSession, principal: Principal, rule_id: uuid.UUID, body: RulePatch
) -> dict[str, Any]:
    _must_write(principal)
    current = await get_rule(session, rule_id)
    values = body.values()
    merged = {**current, **values}
    missing = [f for f in needed(RuleKind(merged["kind"])) if merged.get(f) is None]
    if missing:
        raise InvalidInput(
            ["body", missing[0]],
            _("a {kind} rule needs {field}", kind=merged["kind"], field=missing[0]),
        )
    await _check_area(session, merged)
    await act_as(session, principal)
    try:
        await session.execute(
            update(RULES).where(RULES.c.id == rule_id, RULES.c.deleted_at.is_(None)).values(values)
        )
        await session.commit()
    except IntegrityError as error:
        await session.rollback()
        raise InvalidInput(["body"], _("the rule breaks a database rule")) from error
    return await get_rule(session, rule_id)


async def delete_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> None:
    _must_write(principal)
    await get_rule(session, rule_id)
    await act_as(session, principal)
    await session.execute(
        update(RULES)
        .where(RULES.c.id == rule_id)
        .values(deleted_at=func.now(), deleted_by=principal.username, enabled=False)
    )
    await session.commit()
