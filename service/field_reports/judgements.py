"""An analyst's judgements of reports: verify or discredit one (who, when, why, in the audit
trail), the likely duplicates of one (searched in SQL, scored by ``geo.field_reports``), merge a
duplicate into the incident that keeps every source, or dismiss a candidate. Nothing is merged
without an analyst; every read is the analyst's view, every write checked by ``authorize``."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Table,
    and_,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from geo.field_reports import (
    CANDIDATE_SCORE,
    RADIUS_KM,
    WINDOW_HOURS,
    Likeness,
    Report,
    likeness,
)
from service.access.actions import authorize
from service.access.policy import Principal
from service.access.sql import KM_PER_DEGREE, seen_in_full, view
from service.audit import trail
from service.audit.models import AuditEntry
from service.core.records import _editable, act_as, get_feature, writing
from service.enums import VerificationState
from service.errors import Conflict, InvalidInput, NotFound
from service.field_reports.models import DuplicateDismissal
from service.i18n import _
from service.incidents.collection import INCIDENTS

TABLE: Table = INCIDENTS.table
#: The judgement each state is reached by.
JUDGEMENTS = {VerificationState.verified: "verify", VerificationState.discredited: "discredit"}


async def judge(
    session: AsyncSession,
    principal: Principal,
    incident_id: uuid.UUID,
    state: VerificationState,
    reason: str | None,
) -> str:
    """Verify or discredit a report the principal sees in full; returns it as they see it."""
    authorize(principal, JUDGEMENTS[state])
    reason = (reason or "").strip() or None
    if state is VerificationState.discredited and reason is None:
        raise InvalidInput(["body", "reason"], _("say why the report is discredited"))
    async with writing(session, INCIDENTS):
        await act_as(session, principal)
        await _editable(session, INCIDENTS, principal, incident_id)
        current = await session.scalar(
            select(TABLE.c.verification_state).where(TABLE.c.id == incident_id)
        )
        if current == state.value:
            raise Conflict(_("the incident is {state} already", state=state.value))
        await trail.write(
            trail.on_session(session),
            TABLE,
            update(TABLE)
            .where(TABLE.c.id == incident_id, TABLE.c.deleted_at.is_(None))
            .values(
                verification_state=state.value,
                verified_by=principal.username,
                verified_at=func.now(),
                verification_reason=reason,
            ),
            kind="update",
            targets=[incident_id],
        )
    return await get_feature(session, INCIDENTS, principal, incident_id)


def _dismissed(a: Any, b: Any) -> Any:
    """Whether the pair was judged not to be duplicates, in either order."""
    d = DuplicateDismissal.__table__
    return exists(
        select(literal(1))
        .select_from(d)
        .where(
            or_(
                and_(d.c.incident_id == a, d.c.candidate_id == b),
                and_(d.c.incident_id == b, d.c.candidate_id == a),
            )
        )
    )


async def candidates(
    session: AsyncSession, principal: Principal, incident_id: uuid.UUID, limit: int = 10
) -> list[dict[str, Any]]:
    """The likely duplicates of a report among the incidents the principal sees in full:
    within ``RADIUS_KM`` and ``WINDOW_HOURS``, not merged already, not dismissed; each with its
    score and reasons, likeliest first, those scoring ``CANDIDATE_SCORE`` or more."""
    v = view(TABLE, principal)
    report = (
        await session.execute(
            select(
                v.column("category"),
                func.ST_X(TABLE.c.geom),
                func.ST_Y(TABLE.c.geom),
                v.column("occurred_at"),
                v.column("description"),
            ).where(seen_in_full(TABLE, principal), TABLE.c.id == incident_id)
        )
    ).one_or_none()
    if report is None:
        raise NotFound(_("no such record in incidents"))
    this = Report(report[0], report[1], report[2], report[3], report[4])
    window = timedelta(hours=WINDOW_HOURS)
    at = select(TABLE.c.geom).where(TABLE.c.id == incident_id).scalar_subquery()
    # Degrees of longitude shrink towards the poles: the box is widened to hold the radius.
    margin = RADIUS_KM / KM_PER_DEGREE / max(math.cos(math.radians(this.lat)), 0.01)
    other = TABLE.alias("other")
    found = (
        await session.execute(
            select(
                other.c.id,
                other.c.category,
                func.ST_X(other.c.geom),
                func.ST_Y(other.c.geom),
                other.c.occurred_at,
                other.c.description,
                other.c.verification_state,
                other.c.source,
            ).where(
                seen_in_full(TABLE, principal, alias=other),
                other.c.id != incident_id,
                other.c.duplicate_of_id.is_(None),
                other.c.verification_state != VerificationState.discredited.value,
                other.c.occurred_at.between(this.occurred_at - window, this.occurred_at + window),
                # The box first (the spatial index), then the distance on the sphere.
                other.c.geom.op("&&")(func.ST_Expand(at, margin)),
                func.ST_DWithin(func.geography(other.c.geom), func.geography(at), RADIUS_KM * 1e3),
                not_(_dismissed(other.c.id, literal(incident_id))),
            )
        )
    ).all()
    scored: list[tuple[Likeness, Any]] = []
    for row in found:
        alike = likeness(this, Report(row[1], row[2], row[3], row[4], row[5]))
        if alike.score >= CANDIDATE_SCORE:
            scored.append((alike, row))
    scored.sort(key=lambda pair: (-pair[0].score, str(pair[1][0])))
    return [
        {
            "incident_id": str(row[0]),
            "score": alike.score,
            "reasons": alike.reasons,
            "category": row[1],
            "occurred_at": row[4].isoformat(),
            "description": row[5],
            "verification_state": row[6],
            "source": row[7],
        }
        for alike, row in scored[:limit]
    ]


async def merge(
    session: AsyncSession, principal: Principal, kept_id: uuid.UUID, duplicate_id: uuid.UUID
) -> str:
    """Merge ``duplicate_id`` into ``kept_id``: the duplicate points to the incident kept, which
    lists every source (``sources``). Both must be seen in full by the principal."""
    authorize(principal, "merge_duplicate")
    if kept_id == duplicate_id:
        raise InvalidInput(["body", "duplicate_id"], _("an incident is no duplicate of itself"))
    async with writing(session, INCIDENTS):
        await act_as(session, principal, context=f"merge:{kept_id}")
        await _editable(session, INCIDENTS, principal, kept_id)
        try:
            await _editable(session, INCIDENTS, principal, duplicate_id)
        except NotFound as error:
            raise InvalidInput(
                ["body", "duplicate_id"],
                _("duplicate_id names no incident you may see: {error}", error=error),
            ) from error
        pointers = (
            await session.execute(
                select(TABLE.c.id, TABLE.c.duplicate_of_id).where(
                    TABLE.c.id.in_([kept_id, duplicate_id])
                )
            )
        ).all()
        pointing = {row[0]: row[1] for row in pointers}
        if pointing[kept_id] is not None:
            raise Conflict(
                _("the incident to keep was merged into another itself: merge into that one")
            )
        if pointing[duplicate_id] is not None:
            raise Conflict(_("that report was merged already"))
        await trail.write(
            trail.on_session(session),
            TABLE,
            update(TABLE)
            .where(TABLE.c.id == duplicate_id, TABLE.c.deleted_at.is_(None))
            .values(duplicate_of_id=kept_id),
            kind="update",
            targets=[duplicate_id],
        )
    return await get_feature(session, INCIDENTS, principal, kept_id)


async def dismiss(
    session: AsyncSession,
    principal: Principal,
    incident_id: uuid.UUID,
    candidate_id: uuid.UUID,
    reason: str | None,
) -> None:
    """Record that a candidate is not a duplicate of a report: it is not offered again."""
    authorize(principal, "dismiss_duplicate")
    async with writing(session, INCIDENTS):
        await act_as(session, principal)
        await _editable(session, INCIDENTS, principal, incident_id)
        await _editable(session, INCIDENTS, principal, candidate_id)
        if await session.scalar(select(_dismissed(incident_id, candidate_id))):
            raise Conflict(_("that pair was dismissed already"))
        await session.execute(
            insert(DuplicateDismissal).values(
                incident_id=incident_id, candidate_id=candidate_id, reason=reason
            )
        )
        # The audit trail of the report says it too, as every judgement of it.
        await session.execute(
            insert(AuditEntry).values(
                action="dismiss_duplicate",
                collection=INCIDENTS.name,
                record_id=incident_id,
                after={"candidate_id": str(candidate_id), "reason": reason},
            )
        )


def _instant(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


async def sources(
    session: AsyncSession, principal: Principal, incident_id: uuid.UUID
) -> list[dict[str, Any]]:
    """Every source of an incident as the principal may know them: its own and those of the
    reports merged into it (at any depth), each with its grading, from the reports the
    principal sees in full only: a merge never shows a source hidden from its reader."""
    v = view(TABLE, principal)
    found = await session.scalar(select(TABLE.c.id).where(v.where, TABLE.c.id == incident_id))
    if found is None:
        raise NotFound(_("no such record in incidents"))
    tree = select(TABLE.c.id).where(TABLE.c.id == incident_id).cte("merged", recursive=True)
    tree = tree.union_all(select(TABLE.c.id).where(TABLE.c.duplicate_of_id == tree.c.id))
    rows = (
        await session.execute(
            select(
                v.column("id"),
                v.column("source"),
                v.column("source_reliability"),
                v.column("source_credibility"),
                v.column("origin"),
                v.column("reported_at"),
                v.column("created_at"),
                v.column("verification_state"),
            )
            .where(TABLE.c.id.in_(select(tree.c.id)), seen_in_full(TABLE, principal))
            .order_by(TABLE.c.created_at, TABLE.c.id)
        )
    ).all()
    return [
        {
            "incident_id": str(r[0]),
            "source": r[1],
            "source_reliability": r[2],
            "source_credibility": r[3],
            "origin": r[4],
            "reported_at": _instant(r[5]),
            "recorded_at": _instant(r[6]),
            "verification_state": r[7],
            "kept": r[0] == incident_id,
        }
        for r in rows
    ]
