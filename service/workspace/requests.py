"""Requests for civil assistance in the workspace: each role's queue of what awaits its
decision (with the last-resort conditions), the request's page with the steps its reader may
take now, and the submission form. Every write goes through ``service.requests.service``, the
same functions as the API; the buttons shown are the actions the service reports."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from geojson_pydantic import Point
from pydantic import ValidationError

from service.access.actions import allowed, authorize, collection_actions
from service.access.policy import Principal
from service.actors.collection import ACTORS
from service.auth.deps import PrincipalDep
from service.core.records import get_feature, update_feature
from service.core.routes import announce
from service.core.schemas import partial
from service.db import SessionDep
from service.enums import Classification, Office
from service.errors import CivopError, Conflict, Forbidden, InvalidInput, NotFound
from service.i18n import N_, _
from service.requests import service as requests
from service.requests.collection import ASSISTANCE_REQUESTS
from service.requests.schemas import (
    CompletionIn,
    DecisionIn,
    DeliveredByOtherIn,
    RequestSubmission,
    ReviewIn,
    WithdrawalIn,
)
from service.requests.workflow import LAST_RESORT, Capability, Decision, RequestStatus, Step
from service.workspace import pages
from service.workspace.forms import FormErrors, from_local_input, local_input, named_choices
from service.workspace.nav import NavEntry

router = APIRouter(tags=["Workspace"], include_in_schema=False)

#: The workflow's steps as the pages name them: the button, and the form's heading.
STEP_LABELS: dict[Step, str] = {
    Step.review: N_("Start the review"),
    Step.humanitarian_decision: N_("Record the DSRSG/RC/HC's decision"),
    Step.military_decision: N_("Record the HOMC's decision"),
    Step.srsg_decision: N_("Record the SRSG's decision"),
    Step.complete: N_("Record that the support was delivered"),
    Step.delivered_by_other: N_("Record delivery by another actor"),
    Step.withdraw: N_("Withdraw the request"),
}
STATUS_LABELS: dict[RequestStatus, str] = {
    RequestStatus.submitted: N_("Submitted"),
    RequestStatus.under_review: N_("Under review"),
    RequestStatus.referred_to_srsg: N_("Referred to the SRSG"),
    RequestStatus.approved: N_("Approved"),
    RequestStatus.denied: N_("Denied"),
    RequestStatus.completed: N_("Completed"),
    RequestStatus.delivered_by_other: N_("Delivered by another actor"),
    RequestStatus.withdrawn: N_("Withdrawn"),
}
CAPABILITY_LABELS: dict[Capability, str] = {
    Capability.air_transport: N_("Air transport"),
    Capability.ground_transport: N_("Ground transport"),
    Capability.engineering: N_("Engineering"),
    Capability.medical: N_("Medical"),
    Capability.security_escort: N_("Security escort"),
    Capability.logistics: N_("Logistics"),
    Capability.communications: N_("Communications"),
    Capability.other: N_("Other"),
}
CLASSIFICATION_LABELS: dict[Classification, str] = {
    Classification.public: N_("Public: partners may read it"),
    Classification.mission: N_("Mission: mission staff only"),
    Classification.restricted: N_("Restricted: cleared staff only"),
}
#: The last-resort conditions (2010 policy para 37; 2022 policy 10.2.7) in the users' words.
LAST_RESORT_LABELS: dict[str, str] = {
    "capability_unique": N_("The capability is unique to the force"),
    "no_civilian_alternative": N_("No civilian alternative is available in time"),
    "limited_in_time_and_space": N_("The support is limited in time and space"),
}
OFFICE_LABELS: dict[Office, str] = {
    Office.dsrsg_rc_hc: N_("DSRSG/RC/HC"),
    Office.homc: N_("Head of Military Component"),
    Office.srsg: N_("SRSG"),
}
DECISION_LABELS: dict[Decision, str] = {
    Decision.approve: N_("Approve"),
    Decision.deny: N_("Deny"),
}
#: The steps as a request's history tells them.
HISTORY_LABELS: dict[Step, str] = {
    Step.recorded: N_("Recorded"),
    Step.review: N_("Review started"),
    Step.humanitarian_decision: N_("The DSRSG/RC/HC's decision"),
    Step.military_decision: N_("The HOMC's decision"),
    Step.srsg_decision: N_("The SRSG's decision"),
    Step.complete: N_("Support delivered"),
    Step.delivered_by_other: N_("Delivered by another actor"),
    Step.withdraw: N_("Withdrawn"),
}
#: Who a request in each state waits for, in the users' words.
AWAITS: dict[Step, str] = {
    Step.review: N_("an officer's review"),
    Step.humanitarian_decision: N_("the DSRSG/RC/HC's decision"),
    Step.military_decision: N_("the HOMC's decision"),
    Step.srsg_decision: N_("the SRSG's decision"),
    Step.complete: N_("delivery"),
}
#: Each step's form body (the same as the API's).
BODIES: dict[Step, type[Any]] = {
    Step.review: ReviewIn,
    Step.humanitarian_decision: DecisionIn,
    Step.military_decision: DecisionIn,
    Step.srsg_decision: DecisionIn,
    Step.complete: CompletionIn,
    Step.delivered_by_other: DeliveredByOtherIn,
    Step.withdraw: WithdrawalIn,
}
#: Fields of the step forms that hold a time in the mission's local time.
TIME_FIELDS = ("decided_at", "completed_at", "delivered_at")


class RequestsEntry(NavEntry):
    """Shown to whoever may take any step of a request (submit one, review, decide...)."""

    def shown_to(self, principal: Principal) -> bool:
        return any(
            allowed(principal, step, owner=principal.actor_id)
            for step in ("submit", *(s.value for s in Step if s is not Step.recorded))
        )


NAV = [RequestsEntry(N_("Requests for assistance"), "/workspace/requests")]
#: Every step is taken on the request's page (the record page links its buttons there).
PAGES = {("assistance_requests", step.value): "/workspace/requests/{id}" for step in BODIES}


def _step_of(path: str) -> Step:
    for step in BODIES:
        if step.path == path:
            return step
    raise InvalidInput(["path", "step"], _("no such step: {path}", path=path))


def _common(principal: Principal) -> dict[str, Any]:
    return {
        "me": principal,
        "step_labels": STEP_LABELS,
        "status_labels": STATUS_LABELS,
        "capability_labels": CAPABILITY_LABELS,
        "last_resort": LAST_RESORT_LABELS,
        "awaits": AWAITS,
        "Step": Step,
    }


@router.get("/workspace/requests")
async def queue(request: Request, session: SessionDep, principal: pages.PagePrincipal) -> Response:
    """The requests awaiting the reader's decision, then the others (a partner: its own)."""
    if principal is None:
        return pages.shell(request, "requests/queue.html")
    listed = await requests.board(session, principal)
    return pages.render(
        request,
        "requests/queue.html",
        {
            **_common(principal),
            "waiting": [r for r in listed if r.awaits_you],
            "others": [r for r in listed if not r.awaits_you],
            "may_submit": "submit" in collection_actions(principal, ASSISTANCE_REQUESTS.name),
            "office": OFFICE_LABELS[principal.office] if principal.office else None,
        },
    )


# --- one request ---------------------------------------------------------------------------


async def _detail(
    request: Request,
    session: Any,
    principal: Principal,
    record_id: uuid.UUID,
    *,
    status_code: int = 200,
    errors: FormErrors | None = None,
    failed: Step | None = None,
    typed: dict[str, str] | None = None,
    problem: str | None = None,
    done: str | None = None,
    editing: bool = False,
) -> Response:
    feature = json.loads(await get_feature(session, ASSISTANCE_REQUESTS, principal, record_id))
    history = await requests.history(session, principal, record_id)
    # The steps the service reports for the record: the workflow's, those the reader may take,
    # on a record they see in full and within their sectors.
    offered = set(feature.get("actions", []))
    steps = [s for s in BODIES if s.value in offered]
    mine = requests.awaits(principal)
    actor = await _actor_name(session, principal, feature["properties"].get("requesting_actor_id"))
    context = {
        **_common(principal),
        "feature": feature,
        "p": feature["properties"],
        "record_id": record_id,
        "actor": actor,
        "history": history,
        "status": RequestStatus(history.status),
        "primary": [s for s in steps if s in mine],
        "secondary": [s for s in steps if s not in mine],
        "allowed_now": [STEP_LABELS[_step_of(p)] for p in history.next_steps],
        "errors": errors,
        "failed": failed,
        "typed": typed or {},
        "problem": problem,
        "problem_status": status_code,
        "done": done,
        "decided_by": _signature(principal),
        "decision_options": [(d.value, _(label)) for d, label in DECISION_LABELS.items()],
        "decisions": _decisions(feature["properties"]),
        "summary_labels": _summary_labels,
        "history_labels": HISTORY_LABELS,
        "decision_labels": DECISION_LABELS,
        "may_edit": "edit" in offered,
        "editing": editing,
        "edit_values": typed if editing else _edit_values(feature["properties"]),
        "edit_errors": errors if editing else None,
        "edit_labels": _edit_labels(),
        "capabilities": [(c.value, _(label)) for c, label in CAPABILITY_LABELS.items()],
    }
    return pages.render(
        request,
        "requests/request.html",
        context,
        status_code=status_code,
        headers={"HX-Push-Url": f"/workspace/requests/{record_id}"},
    )


def _summary_labels(prefix: str) -> dict[str, str]:
    """The step forms' fields as an error summary names them."""
    labels = {
        "decision": _("Decision"),
        "decided_by": _("Decided by"),
        "reason": _("Reason"),
        "note": _("Note"),
        "actor_name": _("Who delivered it"),
        "decided_at": _("When it was decided"),
        "completed_at": _("When it was delivered"),
        "delivered_at": _("When it was delivered"),
    }
    return {f"{prefix}{k}": v for k, v in labels.items()}


def _signature(principal: Principal) -> str:
    """What a decision form proposes as who decided: the office holder's account and office."""
    if principal.office is None:
        return ""
    return f"{principal.username}, {_(OFFICE_LABELS[principal.office])}"


def _decisions(p: dict[str, Any]) -> list[dict[str, Any]]:
    """The decisions recorded so far, side by side."""
    found = []
    for side, label in (
        ("humanitarian", N_("DSRSG/RC/HC")),
        ("military", N_("Head of Military Component")),
        ("srsg", N_("SRSG")),
    ):
        if p.get(f"{side}_decision"):
            found.append(
                {
                    "side": _(label),
                    "decision": _(DECISION_LABELS[Decision(p[f"{side}_decision"])]),
                    "by": p.get(f"{side}_decided_by"),
                    "at": p.get(f"{side}_decided_at"),
                    "reason": p.get(f"{side}_reason"),
                }
            )
    return found


async def _actor_name(session: Any, principal: Principal, actor_id: str | None) -> str | None:
    """The requesting actor's name as the reader may see it."""
    if not actor_id:
        return None
    try:
        actor = json.loads(await get_feature(session, ACTORS, principal, uuid.UUID(actor_id)))
    except CivopError:
        return None
    name = actor["properties"].get("name")
    return str(name) if name else None


@router.get("/workspace/requests/new")
async def new_request(
    request: Request, session: SessionDep, principal: pages.PagePrincipal
) -> Response:
    if principal is None:
        return pages.shell(request, "requests/new.html")
    return await _submission_form(request, session, principal, {}, None)


async def _submission_form(
    request: Request,
    session: Any,
    principal: Principal,
    typed: dict[str, Any],
    errors: FormErrors | None,
    status_code: int = 200,
) -> Response:
    if "submit" not in collection_actions(principal, ASSISTANCE_REQUESTS.name):
        raise Forbidden(_("your role may not submit requests for civil assistance"))
    actors = (
        [] if principal.actor_id else await named_choices(session, principal, ACTORS, limit=2000)
    )
    return pages.render(
        request,
        "requests/new.html",
        {
            **_common(principal),
            "typed": typed,
            "errors": errors,
            "actors": actors,
            "capabilities": [(c.value, _(label)) for c, label in CAPABILITY_LABELS.items()],
            "classifications": [
                (c.value, _(CLASSIFICATION_LABELS[c]))
                for c in Classification
                if c in _submittable(principal)
            ],
            "labels": {
                "title": _("Title"),
                "need": _("The need"),
                "requesting_actor_id": _("Requesting actor"),
                "capability": _("Capability asked for"),
                "needed_from": _("Needed from"),
                "needed_until": _("Needed until"),
                "geometry": _("Where"),
                "latitude": _("Latitude"),
                "longitude": _("Longitude"),
                "classification": _("Classification"),
                "justification": _("Justification"),
            },
        },
        status_code=status_code,
        headers={"HX-Push-Url": "/workspace/requests/new"},
    )


def _submittable(principal: Principal) -> set[Classification]:
    found = set(principal.cleared_for)
    if principal.actor_id is not None:
        found |= {Classification.public, Classification.mission}
    return found


SUBMISSION_FIELDS = (
    "title",
    "need",
    "requesting_actor_id",
    "capability",
    "needed_from",
    "needed_until",
    "geometry",
    "latitude",
    "longitude",
    "classification",
    "justification",
    "capability_unique",
    "no_civilian_alternative",
    "limited_in_time_and_space",
    "life_saving",
)


@router.post("/workspace/requests")
async def submit(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    """Submit a request from the form: the same submission as ``POST /api/assistance_requests``."""
    form = await request.form()
    typed = {k: str(v) for k, v in form.items()}
    errors = FormErrors()
    properties: dict[str, Any] = {
        k: typed[k]
        for k in ("title", "need", "capability", "justification", "classification")
        if typed.get(k, "").strip()
    }
    if typed.get("requesting_actor_id"):
        properties["requesting_actor_id"] = typed["requesting_actor_id"]
    for name in (*LAST_RESORT, "life_saving"):
        properties[name] = name in form
    for name in ("needed_from", "needed_until"):
        try:
            moment = from_local_input(typed.get(name, ""))
        except ValueError:
            errors.add(name, _("Enter a date and time."))
            continue
        if moment is not None:
            properties[name] = moment
    geometry = None
    try:
        lat, lon = float(typed.get("latitude", "")), float(typed.get("longitude", ""))
        geometry = Point(type="Point", coordinates=(lon, lat))
    except ValueError:
        errors.add("latitude", _("Enter the latitude and longitude in decimal degrees."))
    try:
        body = RequestSubmission.model_validate(properties)
    except ValidationError as error:
        found = FormErrors.of(error.errors(), SUBMISSION_FIELDS, fallback="title")
        for name, message in found.fields.items():
            errors.add(name, message)
        body = None
    if errors or body is None:
        return await _submission_form(request, session, principal, typed, errors, 422)
    try:
        record_id, _feature = await requests.submit(session, principal, body, geometry)
    except InvalidInput as error:
        errors = FormErrors.of(
            [{"loc": error.loc, "msg": error.message}], SUBMISSION_FIELDS, fallback="title"
        )
        return await _submission_form(request, session, principal, typed, errors, 422)
    return await _detail(
        request,
        session,
        principal,
        record_id,
        done=_("The request was submitted."),
        status_code=200,
    )


@router.get("/workspace/requests/{record_id}")
async def show(
    request: Request, record_id: uuid.UUID, session: SessionDep, principal: pages.PagePrincipal
) -> Response:
    if principal is None:
        return pages.shell(request, "requests/request.html")
    return await _detail(request, session, principal, record_id)


# --- a request's own fields, corrected by who may edit it -----------------------------------

#: The fields the correction form shows (the workflow's state has its own steps).
EDIT_TEXTS = ("title", "need", "capability", "justification")
EDIT_TIMES = ("needed_from", "needed_until")
EDIT_FLAGS = (*LAST_RESORT, "life_saving")
EDIT_FIELDS = (*EDIT_TEXTS[:3], *EDIT_TIMES, *EDIT_FLAGS, "justification")
#: A change of the request's properties, as ``PATCH /api/assistance_requests/{id}`` takes it.
RequestPatch = partial(ASSISTANCE_REQUESTS.properties)


def _edit_labels() -> dict[str, str]:
    return {
        "title": _("Title"),
        "need": _("The need"),
        "capability": _("Capability asked for"),
        "needed_from": _("Needed from"),
        "needed_until": _("Needed until"),
        "justification": _("Justification"),
    }


def _edit_values(p: dict[str, Any]) -> dict[str, str]:
    """A stored request as the values of its correction form (ticked boxes are present)."""
    values = {name: str(p.get(name) or "") for name in EDIT_TEXTS}
    values |= {name: local_input(p.get(name)) for name in EDIT_TIMES}
    values |= {name: "true" for name in EDIT_FLAGS if p.get(name)}
    return values


@router.post("/workspace/requests/{record_id}/edit")
async def edit(
    request: Request, record_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Correct the request's own fields: the same change as ``PATCH
    /api/assistance_requests/{id}``, with its checks (role, clearance, sectors)."""
    authorize(principal, "edit")  # refused before the form is read, as the record pages
    form = await request.form()
    typed = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    errors = FormErrors()
    values: dict[str, Any] = {name: typed.get(name, "").strip() for name in EDIT_TEXTS[:3]}
    values["justification"] = typed.get("justification", "").strip() or None
    values |= {name: name in form for name in EDIT_FLAGS}
    for name in EDIT_TIMES:
        try:
            values[name] = from_local_input(typed.get(name, ""))
        except ValueError:
            errors.add(name, _("Enter a date and time."))
    if values["needed_from"] is None and "needed_from" not in errors.fields:
        errors.add("needed_from", _("This field is required."))
    start, end = values.get("needed_from"), values.get("needed_until")
    if start is not None and end is not None and end < start:
        # The rule of the request's properties (and of the table's check), shown at its field.
        errors.add("needed_until", _("The end of the need must be at or after its start."))
    values = {k: v for k, v in values.items() if k not in errors.fields}
    changes = None
    try:
        changes = RequestPatch.model_validate(values)
    except ValidationError as error:
        for name, message in FormErrors.of(error.errors(), EDIT_FIELDS, fallback="title").fields.items():  # fmt: skip
            errors.add(name, message)
    if errors or changes is None:
        return await _detail(
            request, session, principal, record_id, status_code=422,
            errors=errors.ordered(EDIT_FIELDS), typed=typed, editing=True,
        )  # fmt: skip
    try:
        await update_feature(
            session, ASSISTANCE_REQUESTS, principal, record_id, changes, None, replace=False
        )
    except InvalidInput as error:
        await session.rollback()
        found = FormErrors.of([{"loc": error.loc, "msg": error.message}], EDIT_FIELDS, "title")
        return await _detail(
            request, session, principal, record_id, status_code=422, errors=found, typed=typed,
            editing=True,
        )  # fmt: skip
    except (Forbidden, Conflict, NotFound) as refusal:
        await session.rollback()
        return await _detail(
            request, session, principal, record_id, status_code=refusal.status_code,
            problem=refusal.message,
        )  # fmt: skip
    announce(request, ASSISTANCE_REQUESTS, principal)
    return await _detail(
        request, session, principal, record_id, done=_("The request was corrected.")
    )


@router.post("/workspace/requests/{record_id}/{step_path}")
async def take_step(
    request: Request,
    record_id: uuid.UUID,
    step_path: str,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """Take one step from its form: the same step as ``POST /api/assistance_requests/{id}/...``.
    A refusal (403) or a step the state no longer allows (409) shows the request as it is now,
    with why and the steps allowed."""
    step = _step_of(step_path)
    form = await request.form()
    typed = {k: str(v) for k, v in form.items()}
    # Each step's form names its fields after the step: several forms share a page.
    prefix = f"{step.value}__"
    values: dict[str, Any] = {
        k.removeprefix(prefix): v for k, v in typed.items() if k.startswith(prefix) and v.strip()
    }
    errors = FormErrors()
    for name in TIME_FIELDS:
        if name in values:
            try:
                values[name] = from_local_input(values[name])
            except ValueError:
                errors.add(name, _("Enter a date and time."))
    fields = tuple(BODIES[step].model_fields)
    body = None
    if not errors:
        try:
            body = BODIES[step].model_validate(values)
        except ValidationError as error:
            errors = FormErrors.of(error.errors(), fields, fallback=fields[0])
    if body is not None:
        try:
            await requests.take_step(session, principal, record_id, step, body)
        except InvalidInput as error:
            errors = FormErrors.of(
                [{"loc": error.loc, "msg": error.message}], fields, fallback=fields[0]
            )
        except (Forbidden, Conflict) as refusal:
            await session.rollback()
            return await _detail(
                request,
                session,
                principal,
                record_id,
                status_code=refusal.status_code,
                problem=refusal.message,
                failed=step,
            )
        else:
            return await _detail(
                request,
                session,
                principal,
                record_id,
                done=_("Recorded: {step}.", step=_(STEP_LABELS[step])),
            )
    await session.rollback()
    named = FormErrors({f"{prefix}{k}": v for k, v in errors.fields.items()})
    return await _detail(
        request, session, principal, record_id, status_code=422, errors=named, failed=step,
        typed=typed,
    )  # fmt: skip
