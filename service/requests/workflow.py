"""The workflow of a request for civil assistance, as data: its states, its steps, where each
step may be taken from and what it leads to. Pure Python; the service applies it under a row
lock, the database refuses any change of state made outside it.

Support to humanitarian actors is given only on request, within means, limited in time and
space and as a last resort. Approval needs both the humanitarian side (DSRSG/RC/HC) and the
military side (Head of Military Component); if they disagree the SRSG decides. Immediate
life-saving help may be given first and reported at once (2010 policy paras 30-41; 2022
policy 10.2.7).

::

    submitted --review--> under_review --two decisions--> approved | denied | referred_to_srsg
    referred_to_srsg --srsg-decision--> approved | denied
    approved --complete--> completed
    (not final, not completed) --delivered-by-other--> delivered_by_other
    submitted | under_review | referred_to_srsg | approved --withdraw--> withdrawn
    life-saving: submitted | under_review | referred_to_srsg --complete--> completed
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class RequestStatus(StrEnum):
    submitted = "submitted"
    under_review = "under_review"
    referred_to_srsg = "referred_to_srsg"
    approved = "approved"
    denied = "denied"
    completed = "completed"
    delivered_by_other = "delivered_by_other"
    withdrawn = "withdrawn"


class Capability(StrEnum):
    """What is asked of the force."""

    air_transport = "air_transport"
    ground_transport = "ground_transport"
    engineering = "engineering"
    medical = "medical"
    security_escort = "security_escort"
    logistics = "logistics"
    communications = "communications"
    other = "other"


class Decision(StrEnum):
    approve = "approve"
    deny = "deny"


class Step(StrEnum):
    """What happened to a request; ``recorded`` is its entry into the record (any state)."""

    recorded = "recorded"
    review = "review"
    humanitarian_decision = "humanitarian_decision"
    military_decision = "military_decision"
    srsg_decision = "srsg_decision"
    complete = "complete"
    delivered_by_other = "delivered_by_other"
    withdraw = "withdraw"

    @property
    def path(self) -> str:
        """The step as it appears in URLs: ``/api/assistance_requests/{id}/<path>``."""
        return self.value.replace("_", "-")


S = RequestStatus
#: States a request never leaves.
FINAL = frozenset({S.completed, S.delivered_by_other, S.withdrawn})
#: States in which a request is still open: waiting for a decision or for delivery.
OPEN = frozenset({S.submitted, S.under_review, S.referred_to_srsg, S.approved})

#: Where each step may be taken from (the ``recorded`` step is the database's).
STEP_FROM: dict[Step, frozenset[RequestStatus]] = {
    Step.review: frozenset({S.submitted}),
    Step.humanitarian_decision: frozenset({S.under_review}),
    Step.military_decision: frozenset({S.under_review}),
    Step.srsg_decision: frozenset({S.referred_to_srsg}),
    Step.complete: frozenset({S.approved}),
    Step.delivered_by_other: frozenset(
        {S.submitted, S.under_review, S.referred_to_srsg, S.approved, S.denied}
    ),
    Step.withdraw: frozenset({S.submitted, S.under_review, S.referred_to_srsg, S.approved}),
}
#: Help given first to save lives is completed before (or without) approval.
LIFE_SAVING_COMPLETE_FROM = frozenset({S.submitted, S.under_review, S.referred_to_srsg})

#: The two sides whose agreement approves or denies a request, and who they are.
SIDES: dict[Step, str] = {
    Step.humanitarian_decision: "humanitarian side (DSRSG/RC/HC)",
    Step.military_decision: "military side (HOMC)",
}
#: The three conditions of last resort, as columns of the request.
LAST_RESORT = ("capability_unique", "no_civilian_alternative", "limited_in_time_and_space")


@dataclass(frozen=True)
class State:
    """What the workflow needs to know of a request."""

    status: RequestStatus
    life_saving: bool
    humanitarian_decision: Decision | None = None
    military_decision: Decision | None = None


class IllegalStep(Exception):
    """A step that the request's state does not allow; the message says what would be."""


def state_of(row: Any) -> State:
    """The workflow state of a request row (any object with its columns as attributes or keys)."""
    values: Mapping[str, Any] = row if isinstance(row, Mapping) else row._mapping
    humanitarian, military = values["humanitarian_decision"], values["military_decision"]
    return State(
        status=RequestStatus(values["status"]),
        life_saving=bool(values["life_saving"]),
        humanitarian_decision=Decision(humanitarian) if humanitarian else None,
        military_decision=Decision(military) if military else None,
    )


#: The columns :func:`state_of` reads.
STATE_COLUMNS = ("status", "life_saving", "humanitarian_decision", "military_decision")


def possible_steps(row: Mapping[str, Any]) -> frozenset[str]:
    """The steps a request's state allows now, by name (``service.access.actions``)."""
    return frozenset(step.value for step in steps_from(state_of(row)))


def steps_from(state: State) -> list[Step]:
    """The steps that may be taken now, in workflow order."""
    allowed = []
    for step, origins in STEP_FROM.items():
        may = state.status in origins
        if step is Step.complete and state.life_saving:
            may = may or state.status in LIFE_SAVING_COMPLETE_FROM
        if step is Step.humanitarian_decision and state.humanitarian_decision is not None:
            may = False
        if step is Step.military_decision and state.military_decision is not None:
            may = False
        if may:
            allowed.append(step)
    return allowed


def check(state: State, step: Step) -> None:
    """Raise :class:`IllegalStep` unless ``step`` may be taken in ``state``."""
    if step in steps_from(state):
        return
    now = steps_from(state)
    status = state.status.value
    if step in SIDES and state.status is S.under_review:
        decision = (
            state.humanitarian_decision
            if step is Step.humanitarian_decision
            else state.military_decision
        )
        reason = f"the {SIDES[step]} decision is already recorded ({decision})"
    else:
        origins = set(STEP_FROM.get(step, frozenset()))
        if step is Step.complete:
            origins |= LIFE_SAVING_COMPLETE_FROM if state.life_saving else set()
        where = ", ".join(s.value for s in RequestStatus if s in origins) or "never"
        reason = f"{step.path} is allowed only when the request is {where}"
        if step is Step.complete and not state.life_saving:
            reason += " (or, for life-saving help given first, before approval)"
    if now:
        allowed = f"allowed now: {', '.join(s.path for s in now)}"
    else:
        allowed = "it is final: no step is allowed"
    raise IllegalStep(f"the request is {status}; {reason}; {allowed}")


def after_decisions(
    humanitarian: Decision | None, military: Decision | None
) -> RequestStatus | None:
    """The state two side decisions lead to; ``None`` while one is missing."""
    if humanitarian is None or military is None:
        return None
    if humanitarian is military:
        return S.approved if humanitarian is Decision.approve else S.denied
    return S.referred_to_srsg
