"""Alerts in the workspace: the inbox of open alerts (the most severe, then the newest, first;
each names its place), an alert's page to acknowledge, assign, annotate and close it, and the
alert rules, managed with a form per rule kind. Every write goes through
``service.alerts.service``, the same functions as the API; the buttons shown are the actions
the service reports."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from sqlalchemy import select

from service.access.actions import allowed
from service.access.policy import Principal
from service.alerts import service as alerts
from service.alerts.models import HotspotTrend, RuleKind
from service.alerts.schemas import DEFAULTS, REQUIRED, RuleIn, RulePatch, needed
from service.auth.deps import PrincipalDep
from service.db import SessionDep
from service.enums import IncidentCategory
from service.errors import Conflict, Forbidden, InvalidInput
from service.i18n import N_, _
from service.sectors.collection import SECTORS
from service.workspace import pages
from service.workspace.forms import FormErrors, named_choices
from service.workspace.nav import NavEntry

router = APIRouter(tags=["Workspace"], include_in_schema=False)

NAV = [
    NavEntry(N_("Alerts"), "/workspace/alerts", action="read_alert_rules"),
    NavEntry(N_("Alert rules"), "/workspace/alerts/rules", action="read_alert_rules"),
]

STATUS_LABELS = {
    "new": N_("New"),
    "acknowledged": N_("Acknowledged"),
    "closed": N_("Closed"),
}
ACTION_LABELS = {
    "acknowledge": N_("Acknowledge"),
    "close": N_("Close the alert"),
    "assign": N_("Assign"),
    "annotate": N_("Add the note"),
}
KIND_LABELS: dict[RuleKind, str] = {
    RuleKind.incident_near_site: N_("Incident near an IDP site"),
    RuleKind.incident_cluster: N_("Cluster of incidents"),
    RuleKind.armed_group_near_site: N_("Armed group near an IDP site"),
    RuleKind.risk_threshold: N_("Risk above a threshold at a site"),
    RuleKind.hotspot: N_("New or intensifying hot spot"),
}
KIND_HINTS: dict[RuleKind, str] = {
    RuleKind.incident_near_site: N_(
        "Raises an alert when an incident of the given severity or more is reported within the "
        "distance of an IDP site."
    ),
    RuleKind.incident_cluster: N_(
        "Raises an alert when at least the given number of incidents fall in one cell within "
        "the time window."
    ),
    RuleKind.armed_group_near_site: N_(
        "Raises an alert when an armed group is located within the distance of an IDP site."
    ),
    RuleKind.risk_threshold: N_(
        "Checked on a schedule: raises an alert when the risk at a site's cell reaches the "
        "threshold."
    ),
    RuleKind.hotspot: N_(
        "Checked on a schedule: raises an alert when the emerging hot-spot analysis finds a new "
        "or intensifying hot spot."
    ),
}
#: The parameters each kind's form asks for, in order (those the schema requires or defaults,
#: then those the kind reads when given).
KIND_FIELDS: dict[RuleKind, tuple[str, ...]] = {
    RuleKind.incident_near_site: ("radius_km", "min_severity", "categories", "alert_severity"),
    RuleKind.incident_cluster: (
        "min_count", "window_hours", "cell_km", "min_severity", "categories", "alert_severity",
    ),
    RuleKind.armed_group_near_site: ("radius_km", "alert_severity"),
    RuleKind.risk_threshold: (
        "threshold", "resolution", "window_days", "categories", "sector_id", "alert_severity",
    ),
    RuleKind.hotspot: (
        "resolution", "window_days", "windows", "alpha", "z_change", "trends", "categories",
        "sector_id", "alert_severity",
    ),
}  # fmt: skip
#: Each parameter: its label, hint, input kind and limits (those of ``RuleFields``).
PARAMETERS: dict[str, dict[str, Any]] = {
    "radius_km": {"label": N_("Distance (km)"), "hint": N_("Up to 500 km."), "step": "any", "min": 0, "max": 500},
    "min_severity": {"label": N_("Least severity of the incidents"), "hint": N_("1 (low) to 5 (highest)."), "step": "1", "min": 1, "max": 5},
    "min_count": {"label": N_("Least number of incidents"), "hint": "", "step": "1", "min": 1, "max": 100000},
    "window_hours": {"label": N_("Time window (hours)"), "hint": N_("Incidents of the last hours count; up to 8760 (a year)."), "step": "any", "min": 0, "max": 8760},
    "cell_km": {"label": N_("Cell size (km)"), "hint": "", "step": "any", "min": 0, "max": 500},
    "threshold": {"label": N_("Risk threshold"), "hint": N_("The risk at or above which a site's cell raises an alert."), "step": "any", "min": 0, "max": None},
    "resolution": {"label": N_("Cell resolution (H3)"), "hint": N_("Risk: 4 to 10; hot spots: 3 to 9. Higher is finer."), "step": "1", "min": 3, "max": 10},
    "window_days": {"label": N_("Time window (days)"), "hint": N_("Risk: incidents of the last days count; hot spots: the length of each window."), "step": "any", "min": 0, "max": 3650},
    "windows": {"label": N_("Windows compared"), "hint": N_("2 to 12, the current one included."), "step": "1", "min": 2, "max": 12},
    "alpha": {"label": N_("False-discovery rate"), "hint": N_("Between 0 and 1, e.g. 0.05."), "step": "any", "min": 0, "max": 1},
    "z_change": {"label": N_("Rise of z that counts as intensifying"), "hint": "", "step": "any", "min": 0, "max": 10},
    "alert_severity": {"label": N_("Severity of the alerts raised"), "hint": N_("1 (low) to 5 (highest); 3 when left empty."), "step": "1", "min": 1, "max": 5},
}  # fmt: skip
CATEGORY_LABELS: dict[IncidentCategory, str] = {
    IncidentCategory.armed_clash: N_("Armed clash"),
    IncidentCategory.attack_on_civilians: N_("Attack on civilians"),
    IncidentCategory.sexual_violence: N_("Sexual violence"),
    IncidentCategory.abduction: N_("Abduction"),
    IncidentCategory.looting: N_("Looting"),
    IncidentCategory.explosive_hazard: N_("Explosive hazard"),
    IncidentCategory.displacement: N_("Displacement"),
    IncidentCategory.protest_or_riot: N_("Protest or riot"),
    IncidentCategory.threat_or_intimidation: N_("Threat or intimidation"),
    IncidentCategory.attack_on_humanitarians: N_("Attack on humanitarians"),
    IncidentCategory.other: N_("Other"),
}
TREND_LABELS: dict[HotspotTrend, str] = {
    HotspotTrend.new: N_("New hot spots"),
    HotspotTrend.intensifying: N_("Intensifying hot spots"),
}


def _labels(kind: RuleKind | None) -> dict[str, str]:
    labels = {"name": _("Name"), "kind": _("Kind of rule"), "enabled": _("Enabled")}
    labels |= {k: _(v["label"]) for k, v in PARAMETERS.items()}
    labels |= {
        "categories": _("Incident categories"),
        "trends": _("Trends that raise an alert"),
        "sector_id": _("Area watched"),
    }
    return labels


# --- the inbox -----------------------------------------------------------------------------


def _view(feature: dict[str, Any]) -> dict[str, Any]:
    p = feature["properties"]
    return {
        "id": feature["id"],
        "p": p,
        "actions": feature.get("actions", []),
        "status_label": _(STATUS_LABELS.get(p["status"], p["status"])),
    }


@router.get("/workspace/alerts")
async def inbox(request: Request, session: SessionDep, principal: pages.PagePrincipal) -> Response:
    """The open alerts the reader sees, the most severe first, then the newest."""
    if principal is None:
        return pages.shell(request, "alerts/inbox.html")
    found = await alerts.inbox(session, principal)
    return pages.render(
        request,
        "alerts/inbox.html",
        {
            "me": principal,
            "alerts": [_view(f) for f in found],
            "action_labels": ACTION_LABELS,
            "may_manage": allowed(principal, "manage_alert_rules"),
        },
    )


# --- rules ---------------------------------------------------------------------------------


def _may_read_rules(principal: Principal) -> None:
    from service.access.actions import authorize

    authorize(principal, "read_alert_rules")


@router.get("/workspace/alerts/rules")
async def rules(request: Request, session: SessionDep, principal: pages.PagePrincipal) -> Response:
    if principal is None:
        return pages.shell(request, "alerts/rules.html")
    _may_read_rules(principal)
    return await _rules_page(request, session, principal)


async def _rule_form(
    request: Request,
    session: Any,
    principal: Principal,
    kind: RuleKind | None,
    values: dict[str, Any],
    errors: FormErrors | None = None,
    *,
    rule_id: uuid.UUID | None = None,
    status_code: int = 200,
) -> Response:
    from service.access.actions import authorize

    authorize(principal, "manage_alert_rules")
    fields = KIND_FIELDS[kind] if kind else ()
    required = set(REQUIRED[kind]) if kind else set()
    defaults = DEFAULTS.get(kind, {}) if kind else {}
    return pages.render(
        request,
        "alerts/rule_form.html",
        {
            "me": principal,
            "kind": kind,
            "kinds": [(k.value, _(v)) for k, v in KIND_LABELS.items()],
            "kind_hint": _(KIND_HINTS[kind]) if kind else "",
            "kind_label": _(KIND_LABELS[kind]) if kind else "",
            "fields": fields,
            "required": required,
            "defaults": defaults,
            "parameters": PARAMETERS,
            "values": values,
            "errors": errors,
            "labels": _labels(kind),
            "categories": [(c.value, _(v)) for c, v in CATEGORY_LABELS.items()],
            "trends": [(t.value, _(v)) for t, v in TREND_LABELS.items()],
            "sectors": await named_choices(session, principal, SECTORS)
            if "sector_id" in fields
            else [],
            "rule_id": rule_id,
        },
        status_code=status_code,
        headers={
            "HX-Push-Url": f"/workspace/alerts/rules/{rule_id}"
            if rule_id
            else "/workspace/alerts/rules/new" + (f"?kind={kind.value}" if kind else "")
        },
    )


def _kind(text: str | None) -> RuleKind | None:
    try:
        return RuleKind(text) if text else None
    except ValueError:
        return None


@router.get("/workspace/alerts/rules/new")
async def new_rule(
    request: Request,
    session: SessionDep,
    principal: pages.PagePrincipal,
    kind: str | None = None,
) -> Response:
    """The rule form: first the kind of rule, then its parameters."""
    if principal is None:
        return pages.shell(request, "alerts/rule_form.html")
    chosen = _kind(kind)
    values: dict[str, Any] = {"kind": chosen.value if chosen else ""}
    if chosen:
        values |= {"enabled": True, **DEFAULTS.get(chosen, {})}
    errors = None
    if kind and chosen is None:
        errors = FormErrors({"kind": _("Choose the kind of rule.")})
    return await _rule_form(request, session, principal, chosen, values, errors)


def _read_rule_form(form: Any, kind: RuleKind) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form as typed (to show it again) and as the API's body (empty fields left out)."""
    typed: dict[str, Any] = {k: str(v) for k, v in form.items()}
    typed["categories"] = form.getlist("categories")
    typed["trends"] = form.getlist("trends")
    typed["enabled"] = "enabled" in form
    body: dict[str, Any] = {"name": typed.get("name", "").strip() or None, "kind": kind.value}
    for name in KIND_FIELDS[kind]:
        if name in ("categories", "trends"):
            if typed[name]:
                body[name] = typed[name]
        elif str(typed.get(name, "")).strip():
            body[name] = typed[name].strip()
    body["enabled"] = typed["enabled"]
    return typed, body


@router.post("/workspace/alerts/rules")
async def create_rule(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    """Create a rule from the form: the same as ``POST /api/alert_rules``."""
    form = await request.form()
    kind = _kind(str(form.get("kind", "")))
    if kind is None:
        errors = FormErrors({"kind": _("Choose the kind of rule.")})
        return await _rule_form(request, session, principal, None, {}, errors, status_code=422)
    typed, body = _read_rule_form(form, kind)
    fields = ("name", "kind", *KIND_FIELDS[kind])
    try:
        rule = RuleIn.model_validate({k: v for k, v in body.items() if v is not None})
        created = await alerts.create_rule(session, principal, rule)
    except ValidationError as error:
        errors = FormErrors.of(error.errors(), fields, fallback="name")
        for e in error.errors():  # a missing parameter is named in the message
            for name in KIND_FIELDS[kind]:
                if not e.get("loc") and name in str(e.get("msg", "")):
                    errors.fields.pop("name", None)
                    errors.add(name, _("This field is required."))
        return await _rule_form(request, session, principal, kind, typed, errors, status_code=422)
    except InvalidInput as error:
        await session.rollback()
        errors = FormErrors.of([{"loc": error.loc, "msg": error.message}], fields, fallback="name")
        return await _rule_form(request, session, principal, kind, typed, errors, status_code=422)
    return await _rules_page(
        request, session, principal, _("Rule created: {name}.", name=created["name"])
    )


async def _rules_page(
    request: Request, session: Any, principal: Principal, done: str | None = None
) -> Response:
    """The list of rules, with what was just done (if anything)."""
    listed = await alerts.list_rules(session)
    return pages.render(
        request,
        "alerts/rules.html",
        {
            "me": principal,
            "rules": listed,
            "kind_labels": {k.value: _(v) for k, v in KIND_LABELS.items()},
            "may_manage": allowed(principal, "manage_alert_rules"),
            "done": done,
        },
        headers={"HX-Push-Url": "/workspace/alerts/rules"},
    )


@router.get("/workspace/alerts/rules/{rule_id}")
async def edit_rule(
    request: Request, rule_id: uuid.UUID, session: SessionDep, principal: pages.PagePrincipal
) -> Response:
    if principal is None:
        return pages.shell(request, "alerts/rule_form.html")
    rule = await alerts.get_rule(session, rule_id)
    values = {k: v for k, v in rule.items() if v is not None}
    return await _rule_form(
        request, session, principal, RuleKind(rule["kind"]), values, rule_id=rule_id
    )


@router.post("/workspace/alerts/rules/{rule_id}")
async def update_rule(
    request: Request, rule_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Change a rule from the form: the same as ``PATCH /api/alert_rules/{id}``."""
    current = await alerts.get_rule(session, rule_id)
    kind = RuleKind(current["kind"])
    form = await request.form()
    typed, body = _read_rule_form(form, kind)
    typed["kind"] = kind.value
    body.pop("kind")
    # A field emptied on the form is cleared, unless the kind cannot be without it.
    for name in KIND_FIELDS[kind]:
        if name not in needed(kind) and name != "alert_severity":
            body.setdefault(name, None)
    fields = ("name", *KIND_FIELDS[kind])
    try:
        patch = RulePatch.model_validate(body)
        changed = await alerts.update_rule(session, principal, rule_id, patch)
    except ValidationError as error:
        errors = FormErrors.of(error.errors(), fields, fallback="name")
        return await _rule_form(
            request, session, principal, kind, typed, errors, rule_id=rule_id, status_code=422
        )
    except InvalidInput as error:
        await session.rollback()
        errors = FormErrors.of([{"loc": error.loc, "msg": error.message}], fields, fallback="name")
        return await _rule_form(
            request, session, principal, kind, typed, errors, rule_id=rule_id, status_code=422
        )
    return await _rules_page(
        request, session, principal, _("Rule saved: {name}.", name=changed["name"])
    )


@router.post("/workspace/alerts/rules/{rule_id}/delete")
async def delete_rule(
    request: Request, rule_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    rule = await alerts.get_rule(session, rule_id)
    await alerts.delete_rule(session, principal, rule_id)
    return await _rules_page(
        request, session, principal, _("Rule deleted: {name}.", name=rule["name"])
    )


# --- one alert -----------------------------------------------------------------------------


async def _assignees(session: Any, alert_id: uuid.UUID) -> list[str]:
    """The officers and admins an alert may be assigned to: those who may handle it and see it."""
    from service.alerts.access import ALERTS, alert_visible
    from service.auth import service as auth
    from service.auth.models import User

    users = (
        await session.scalars(
            select(User)
            .where(User.disabled.is_(False), User.role.in_(("officer", "admin")))
            .order_by(User.username)
            .limit(500)
        )
    ).all()
    found = []
    for user in users:
        assignee = await auth.principal_of(session, user)
        seen = await session.scalar(
            select(ALERTS.c.id).where(ALERTS.c.id == alert_id, alert_visible(assignee))
        )
        if seen is not None:
            found.append(user.username)
    return found


async def _alert_page(
    request: Request,
    session: Any,
    principal: Principal,
    alert_id: uuid.UUID,
    *,
    status_code: int = 200,
    errors: FormErrors | None = None,
    typed: dict[str, str] | None = None,
    problem: str | None = None,
    done: str | None = None,
) -> Response:
    feature = json.loads(await alerts.get_alert(session, principal, alert_id))
    view = _view(feature)
    actions = view["actions"]
    return pages.render(
        request,
        "alerts/alert.html",
        {
            "me": principal,
            "a": view,
            "notes": await alerts.notes(session, principal, alert_id),
            "assignees": await _assignees(session, alert_id) if "assign" in actions else [],
            "action_labels": ACTION_LABELS,
            "errors": errors,
            "typed": typed or {},
            "problem": problem,
            "problem_status": status_code,
            "done": done,
            "labels": {"note": _("Note"), "assigned_to": _("Assign to")},
        },
        status_code=status_code,
        headers={"HX-Push-Url": f"/workspace/alerts/{alert_id}"},
    )


@router.get("/workspace/alerts/{alert_id}")
async def show(
    request: Request, alert_id: uuid.UUID, session: SessionDep, principal: pages.PagePrincipal
) -> Response:
    if principal is None:
        return pages.shell(request, "alerts/alert.html")
    return await _alert_page(request, session, principal, alert_id)


DONE = {
    "acknowledge": N_("The alert is acknowledged."),
    "close": N_("The alert is closed."),
    "assign": N_("The alert is assigned."),
    "annotate": N_("The note is added."),
}


@router.post("/workspace/alerts/{alert_id}/{action}")
async def handle(
    request: Request, alert_id: uuid.UUID, action: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Acknowledge, close, assign or annotate an alert from its page (the API's functions)."""
    form = await request.form()
    typed = {k: str(v) for k, v in form.items()}
    try:
        if action == "acknowledge":
            await alerts.acknowledge(session, principal, alert_id)
        elif action == "close":
            await alerts.close(session, principal, alert_id)
        elif action == "assign":
            await alerts.assign(session, principal, alert_id, typed.get("assigned_to") or None)
        elif action == "annotate":
            note = typed.get("note", "").strip()
            if not note:
                raise InvalidInput(["body", "note"], _("Write the note."))
            if len(note) > 5000:
                raise InvalidInput(["body", "note"], _("Write at most 5,000 characters."))
            await alerts.annotate(session, principal, alert_id, note)
        else:
            raise InvalidInput(["path", "action"], _("no such action: {action}", action=action))
    except InvalidInput as error:
        await session.rollback()
        errors = FormErrors.of([{"loc": error.loc, "msg": error.message}], ("note", "assigned_to"))
        return await _alert_page(
            request, session, principal, alert_id, status_code=422, errors=errors, typed=typed
        )
    except (Forbidden, Conflict) as refusal:
        await session.rollback()
        return await _alert_page(
            request,
            session,
            principal,
            alert_id,
            status_code=refusal.status_code,
            problem=refusal.message,
        )
    return await _alert_page(request, session, principal, alert_id, done=_(DONE[action]))
