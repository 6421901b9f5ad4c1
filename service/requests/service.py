"""Requests for civil assistance: submission and the workflow steps.

Reads go through the requester's view of the table (``service.access``): a partner sees its
own actor's requests and public ones. Each step locks the request, checks who may take it
(``service.access.actions.authorize``) and whether the workflow allows it now
(``service.requests.workflow``), then changes the request and appends the step to its
history in one transaction. The database refuses any change of state made another way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.actions import allowed, authorize
from service.access.policy import DECISION_OFFICES, Principal
from service.access.sql import view, view_children
from service.actors.collection import ACTORS
from service.audit import trail
from service.core import dates
from service.core.collection import Collection
from service.core.records import (
    _check_references,
    _check_scope,
    _in_scope,
    _place,
    _write_values,
    act_as,
    claim_key,
    get_feature,
    writing,
)
from service.enums import Classification, Role
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.i18n import _
from service.requests import workflow
from service.requests.collection import ASSISTANCE_REQUESTS
from service.requests.models import AssistanceRequest, AssistanceRequestHistory
from service.requests.schemas import (
    CompletionIn,
    DecisionIn,
    DeliveredByOtherIn,
    HistoryEntry,
    RequestHistory,
    RequestSubmission,
    ReviewIn,
    WithdrawalIn,
)
from service.requests.workflow import Decision, IllegalStep, RequestStatus, State, Step

REQUESTS: Table = AssistanceRequest.__table__  # type: ignore[assignment]
HISTORY: Table = AssistanceRequestHistory.__table__  # type: ignore[assignment]
#: A time given for a step may run this far ahead of the server's clock.


def collection() -> Collection:
    return ASSISTANCE_REQUESTS


async def submit(
    session: AsyncSession, principal: Principal, properties: RequestSubmission, geometry: Any
) -> tuple[uuid.UUID, str]:
    """Store a new request (state ``submitted``); returns its id and the feature as seen."""
    owner = properties.requesting_actor_id
    if principal.role is Role.partner:
        if principal.actor_id is None:
            raise Forbidden(
                _(
                    "your account is not linked to an actor (organisation); ask an admin to link "
                    "it (civop user add ... --actor <actor id>)"
                )
            )
        if owner is not None and owner != principal.actor_id:
            raise Forbidden(_("partners submit requests for their own actor only"))
        owner = principal.actor_id
    authorize(principal, "submit", owner=owner)
    if owner is None:
        raise InvalidInput(
            ["body", "properties", "requesting_actor_id"], _("name the requesting actor (its id)")
        )
    classification = Classification(properties.classification)
    # A partner's own request stays visible to it up to mission classification.
    allowed = set(principal.cleared_for)
    if principal.role is Role.partner:
        allowed |= {Classification.public, Classification.mission}
    if classification not in allowed:
        raise Forbidden(
            _("you may not submit {classification} requests", classification=classification.value)
        )
    found = collection()
    values = _write_values(found, properties, geometry, replace=True)
    values["requesting_actor_id"] = owner
    if properties.requested_at is None:
        values.pop("requested_at", None)
    async with writing(session, found):
        await act_as(session, principal)
        await claim_key(session, REQUESTS, principal, values)
        await _check_references(session, REQUESTS, values, principal)
        await _place(session, found, principal, values)
        record_id: uuid.UUID = values.setdefault("id", uuid.uuid4())
        await trail.write(
            trail.on_session(session), REQUESTS, insert(REQUESTS).values(values), kind="insert"
        )
        await _check_scope(session, REQUESTS, record_id, principal)
        await dates.check_record(session, REQUESTS, record_id)
    return record_id, await get_feature(session, found, principal, record_id)


async def _locked(session: AsyncSession, principal: Principal, request_id: uuid.UUID) -> Any:
    """The request's row, locked for the step; hidden and unknown requests are alike."""
    v = view(REQUESTS, principal)
    exact = await session.scalar(select(v.exact).where(v.where, REQUESTS.c.id == request_id))
    if exact is None:
        raise NotFound(_("no such record in assistance_requests"))
    if not exact:
        raise Forbidden(_("you are not cleared for this request and may not change it"))
    row = (
        await session.execute(select(REQUESTS).where(REQUESTS.c.id == request_id).with_for_update())
    ).one()
    return row


def _state(row: Any) -> State:
    return workflow.state_of(row)


def _when(value: datetime | None, field: str, row: Any) -> datetime:
    """A step's time: now when not given; never in the future, never before the request."""
    moment = value or datetime.now(UTC)
    dates.not_in_future(moment, ["body", field], "give when it happened, or leave it out for now")
    if moment < row.requested_at:
        raise InvalidInput(
            ["body", field],
            _(
                "{field} is before the request was made ({made})",
                field=field,
                made=row.requested_at.isoformat(),
            ),
        )
    return moment


def _not_before_need(moment: datetime, field: str, given: bool, row: Any) -> None:
    """Support is delivered once it is needed: a time given before that is wrong (422); now,
    before it, is too early (409)."""
    if moment >= row.needed_from:
        return
    needed = row.needed_from.isoformat()
    if given:
        raise InvalidInput(
            ["body", field],
            _(
                "{field} is before the support was needed (needed from {needed}); give when it was delivered",
                field=field,
                needed=needed,
            ),
        )
    raise Conflict(
        _(
            "the support is needed from {needed}: record its delivery once it is delivered, or correct needed_from (PATCH) if it was needed earlier",
            needed=needed,
        )
    )


def _last_resort(row: Any) -> None:
    """Approval only as a last resort, unless the help saves lives."""
    if row.life_saving:
        return
    missing = [name for name in workflow.LAST_RESORT if not getattr(row, name)]
    if missing:
        raise InvalidInput(
            ["body", "decision"],
            _(
                "support is approved only as a last resort; this request does not affirm "
                "{missing}. Amend the request (PATCH) if it does, or record a denial",
                missing=", ".join(missing),
            ),
        )


async def take_step(
    session: AsyncSession,
    principal: Principal,
    request_id: uuid.UUID,
    step: Step,
    body: ReviewIn | DecisionIn | CompletionIn | DeliveredByOtherIn | WithdrawalIn,
) -> str:
    """Take one workflow step; returns the request as the principal sees it."""
    found = collection()
    async with writing(session, found):
        await act_as(session, principal)
        row = await _locked(session, principal, request_id)
        await _check_scope(session, REQUESTS, request_id, principal)
        authorize(principal, step.value, owner=row.requesting_actor_id)
        state = _state(row)
        try:
            workflow.check(state, step)
        except IllegalStep as error:
            raise Conflict(str(error)) from error
        changes, entry = _apply(state, row, step, body)
        if changes.get("delivered_by_actor_id") is not None:
            await _check_references(
                session,
                REQUESTS,
                {"delivered_by_actor_id": changes["delivered_by_actor_id"]},
                principal,
            )
        await session.execute(
            select(func.set_config("civop.workflow", "assistance_requests", True))
        )
        await trail.write(
            trail.on_session(session),
            REQUESTS,
            update(REQUESTS).where(REQUESTS.c.id == request_id).values(changes),
            kind="update",
            targets=[request_id],
        )
        await session.execute(select(func.set_config("civop.workflow", "", True)))
        await session.execute(
            insert(HISTORY).values(
                request_id=request_id,
                step=step.value,
                from_status=state.status.value,
                to_status=changes.get("status", state.status.value),
                recorded_at=func.now(),
                **entry,
            )
        )
    return await get_feature(session, found, principal, request_id)


def _apply(state: State, row: Any, step: Step, body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request's new values and the history entry's details for one step."""
    S = RequestStatus
    if step is Step.review:
        return {"status": S.under_review.value}, {"reason": body.note}
    if step in workflow.SIDES or step is Step.srsg_decision:
        side = step.value.removesuffix("_decision")
        decided_at = _when(body.decided_at, "decided_at", row)
        if body.decision is Decision.approve:
            _last_resort(row)
        changes: dict[str, Any] = {
            f"{side}_decision": body.decision.value,
            f"{side}_decided_by": body.decided_by,
            f"{side}_decided_at": decided_at,
            f"{side}_reason": body.reason,
        }
        if step is Step.srsg_decision:
            outcome = S.approved if body.decision is Decision.approve else S.denied
        else:
            humanitarian = (
                body.decision if step is Step.humanitarian_decision else state.humanitarian_decision
            )
            military = body.decision if step is Step.military_decision else state.military_decision
            outcome = workflow.after_decisions(humanitarian, military)  # type: ignore[assignment]
        if outcome is not None:
            changes["status"] = outcome.value
        if outcome in (S.approved, S.denied):
            changes["decided_at"] = decided_at
        if outcome is S.denied:
            if step is Step.srsg_decision:
                changes["denial_reason"] = f"SRSG: {body.reason}"
            else:
                reasons = {
                    "humanitarian": row.humanitarian_reason,
                    "military": row.military_reason,
                    side: body.reason,
                }
                changes["denial_reason"] = (
                    f"humanitarian side (DSRSG/RC/HC): {reasons['humanitarian']}; "
                    f"military side (HOMC): {reasons['military']}"
                )
        entry = {
            "decision": body.decision.value,
            "decided_by": body.decided_by,
            "happened_at": decided_at,
            "reason": body.reason,
        }
        return changes, entry
    if step is Step.complete:
        completed_at = _when(body.completed_at, "completed_at", row)
        _not_before_need(completed_at, "completed_at", body.completed_at is not None, row)
        note = body.note
        if state.status is not S.approved:
            given_first = "life-saving help given before approval"
            note = f"{given_first}: {note}" if note else given_first
        return (
            {"status": S.completed.value, "completed_at": completed_at},
            {"happened_at": completed_at, "reason": note},
        )
    if step is Step.delivered_by_other:
        delivered_at = _when(body.delivered_at, "delivered_at", row)
        _not_before_need(delivered_at, "delivered_at", body.delivered_at is not None, row)
        return (
            {
                "status": S.delivered_by_other.value,
                "delivered_by_actor_id": body.actor_id,
                "delivered_by_name": body.actor_name,
                "delivered_at": delivered_at,
            },
            {"happened_at": delivered_at, "decided_by": body.actor_name, "reason": body.note},
        )
    assert step is Step.withdraw
    return (
        {
            "status": S.withdrawn.value,
            "withdrawn_at": func.now(),
            "withdrawal_reason": body.reason,
        },
        {"reason": body.reason},
    )


async def history(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID
) -> RequestHistory:
    """Every step of a request, oldest first, with the steps allowed now."""
    v = view(REQUESTS, principal)
    row = (
        await session.execute(
            select(
                v.exact.label("exact"),
                REQUESTS.c.status,
                REQUESTS.c.life_saving,
                REQUESTS.c.humanitarian_decision,
                REQUESTS.c.military_decision,
                REQUESTS.c.requesting_actor_id,
            ).where(v.where, REQUESTS.c.id == request_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(_("no such record in assistance_requests"))
    if not row.exact:
        raise Forbidden(_("you are not cleared for this request's history"))
    entries = [
        HistoryEntry(
            step=Step(h.step),
            from_status=RequestStatus(h.from_status) if h.from_status else None,
            to_status=RequestStatus(h.to_status),
            decision=Decision(h.decision) if h.decision else None,
            decided_by=h.decided_by,
            happened_at=h.happened_at,
            reason=h.reason,
            recorded_at=h.recorded_at,
            recorded_by=h.recorded_by,
        )
        for h in (
            await session.execute(
                view_children(HISTORY, REQUESTS, principal)
                .where(HISTORY.c.request_id == request_id)
                .order_by(HISTORY.c.seq)
            )
        ).all()
    ]
    steps = workflow.steps_from(_state(row))
    return RequestHistory(
        request_id=request_id,
        status=RequestStatus(row.status),
        next_steps=[s.path for s in steps],
        you_may=[
            s.path for s in steps if allowed(principal, s.value, owner=row.requesting_actor_id)
        ],
        history=entries,
    )


# --- queues ------------------------------------------------------------------------------

#: The steps that put a request in the queue of who takes them: what awaits their decision.
#: Delivery by another actor and withdrawal may come at any time and await no one.
QUEUE_STEPS = frozenset(
    {
        Step.review,
        Step.humanitarian_decision,
        Step.military_decision,
        Step.srsg_decision,
        Step.complete,
    }
)


def awaits(principal: Principal) -> frozenset[Step]:
    """The steps whose requests wait in ``principal``'s queue: an office's own decision for
    who holds it; the review and the completion for the officers who record them (they may
    record an office's decision too, but it waits in the office's queue)."""
    if principal.office is not None:
        return frozenset(
            Step(step) for step, office in DECISION_OFFICES.items() if office is principal.office
        )
    return frozenset({Step.review, Step.complete})


@dataclass(frozen=True)
class Listed:
    """A request as a queue or a list shows it: what is asked, when, the last-resort
    conditions, where it stands and the steps its reader may take now."""

    id: uuid.UUID
    title: str
    need: str
    capability: str
    requesting_actor: str | None
    status: RequestStatus
    requested_at: datetime
    needed_from: datetime
    needed_until: datetime | None
    life_saving: bool
    capability_unique: bool
    no_civilian_alternative: bool
    limited_in_time_and_space: bool
    justification: str | None
    humanitarian_decision: Decision | None
    military_decision: Decision | None
    #: The steps the workflow allows now, and those of them the reader may take.
    next_steps: tuple[Step, ...]
    you_may: tuple[Step, ...]
    #: The steps of ``you_may`` that put it in the reader's queue.
    awaits_you: tuple[Step, ...]


async def board(session: AsyncSession, principal: Principal, *, limit: int = 500) -> list[Listed]:
    """The requests ``principal`` sees in full that are still open (a partner: all of its
    organisation's), within the sectors they are limited to, the most urgent first:
    life-saving help, then by when it is needed."""
    v = view(REQUESTS, principal)
    actors = view(ACTORS.table, principal)
    a = ACTORS.table
    r = REQUESTS
    statement = (
        select(
            r.c.id,
            r.c.title,
            r.c.need,
            r.c.capability,
            r.c.status,
            r.c.requested_at,
            r.c.needed_from,
            r.c.needed_until,
            r.c.life_saving,
            r.c.capability_unique,
            r.c.no_civilian_alternative,
            r.c.limited_in_time_and_space,
            r.c.justification,
            r.c.humanitarian_decision,
            r.c.military_decision,
            r.c.requesting_actor_id,
            actors.columns["name"].label("actor_name"),
        )
        .select_from(r.outerjoin(a, and_(a.c.id == r.c.requesting_actor_id, actors.where)))
        .where(v.where, v.exact)
        .order_by(r.c.life_saving.desc(), r.c.needed_from, r.c.requested_at)
        .limit(limit)
    )
    # What lies outside the sectors a user is limited to is not theirs to act on: the request's
    # page offers no step on it, so the queue leaves it out.
    statement = statement.where(_in_scope(r, principal))
    if principal.role is Role.partner:
        # A partner's board is its organisation's requests (public ones of others are on the map).
        statement = statement.where(r.c.requesting_actor_id == principal.actor_id)
    else:
        statement = statement.where(r.c.status.in_([s.value for s in workflow.OPEN]))
    waiting = awaits(principal)
    listed = []
    for row in (await session.execute(statement)).all():
        steps = workflow.steps_from(_state(row))
        mine = tuple(s for s in steps if allowed(principal, s.value, owner=row.requesting_actor_id))
        listed.append(
            Listed(
                id=row.id,
                title=row.title,
                need=row.need,
                capability=row.capability,
                requesting_actor=row.actor_name,
                status=RequestStatus(row.status),
                requested_at=row.requested_at,
                needed_from=row.needed_from,
                needed_until=row.needed_until,
                life_saving=row.life_saving,
                capability_unique=row.capability_unique,
                no_civilian_alternative=row.no_civilian_alternative,
                limited_in_time_and_space=row.limited_in_time_and_space,
                justification=row.justification,
                humanitarian_decision=_decision(row.humanitarian_decision),
                military_decision=_decision(row.military_decision),
                next_steps=tuple(steps),
                you_may=mine,
                awaits_you=tuple(s for s in mine if s in waiting),
            )
        )
    return listed


def _decision(value: str | None) -> Decision | None:
    return Decision(value) if value else None
