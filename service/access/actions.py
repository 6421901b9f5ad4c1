"""Who may do what: one table of actions and the one decision over it, :func:`authorize`.

Every write path asks :func:`authorize` before it changes anything (records of any collection,
a project's status, a site's population figures, an import, an alert or an alert rule, a step
of a request for civil assistance), and every record and collection answer lists the actions
its reader may take (:func:`record_actions`, :func:`collection_actions`), so that a page shows
only the buttons that will work. What a principal may *see* is decided by
``service.access.sql.view``; this module decides what they may *do* with what they see.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from service.access.policy import DECISION_OFFICES, REQUEST_STEPS, Principal
from service.enums import Classification, Office, Role
from service.errors import Forbidden
from service.i18n import N_, _, format_list

#: Officers and admins change records.
WRITERS = frozenset({Role.officer, Role.admin})
#: Analysts and above read staff information (who wrote a record) and alert rules.
STAFF = frozenset({Role.analyst, Role.officer, Role.admin})
#: Roles that take a step only on their own actor's records (requests for civil assistance).
OWN_RECORDS_ONLY = frozenset({Role.partner})
#: Every role.
EVERYONE = frozenset(Role)
#: Admins run the mission's accounts, keys, webhooks and read the audit trail.
ADMINS = frozenset({Role.admin})

CHANGE_RECORDS = N_("your role may not change records; officers and admins may")
VERIFIERS = N_("reports are judged by analysts, officers and admins")


#: The roles as a refusal names them.
ROLE_NAMES: dict[Role, str] = {
    Role.partner: N_("partners"),
    Role.analyst: N_("analysts"),
    Role.officer: N_("officers"),
    Role.admin: N_("admins"),
}


def _roles(roles: frozenset[Role]) -> str:
    """``officers and admins``: the roles of a rule, as a refusal names them (in the current
    language)."""
    return format_list(_(ROLE_NAMES[r]) for r in sorted(roles, key=lambda r: f"{r.value}s"))


@dataclass(frozen=True)
class Rule:
    """Who may take one action.

    ``roles`` may take it; ``refusal`` is what the others are told (an English text marked
    with ``N_``, translated when it is said, its ``{step}``, ``{roles}`` and ``{office}`` filled
    then: see :func:`refusal`). Roles in
    ``own_records_only`` take it only on their own records: those of the actor they work for,
    or (``owned_by`` ``"user"``) those they made themselves (a job).
    ``whole_mission_for`` names collections on which only principals not limited to sectors
    may take it (importing areas of responsibility redraws them)."""

    roles: frozenset[Role]
    refusal: str
    own_records_only: frozenset[Role] = frozenset()
    owned_by: Literal["actor", "user"] = "actor"
    #: What the roles in ``own_records_only`` are told on another's record.
    not_theirs: str = N_("partners act on their own actor's requests only")
    whole_mission_for: frozenset[str] = frozenset()
    #: The action changes the record itself: the principal must see it in full and it must lie
    #: within the sectors they are limited to.
    on_record: bool = True
    #: The office whose decision the action records: its holders take it whatever their role,
    #: holders of another office never.
    office: Office | None = None


#: The offices as a refusal names them.
OFFICE_NAMES: dict[Office, str] = {
    Office.dsrsg_rc_hc: N_("the DSRSG/RC/HC"),
    Office.homc: N_("the Head of Military Component"),
    Office.srsg: N_("the SRSG"),
}


def _step_rule(step: str) -> Rule:
    roles = REQUEST_STEPS[step]
    office = DECISION_OFFICES.get(step)
    if step == "submit":
        refusal = N_("requests are submitted by {roles}")
    elif office is None:
        refusal = N_("{step} is recorded by {roles}")
    else:
        refusal = N_("{step} is recorded by {roles}, or by {office}'s office")
    return Rule(roles, refusal, own_records_only=roles & OWN_RECORDS_ONLY, office=office)


#: A job is cancelled by the user who started it or an admin, retried by the user who started it
#: only (it runs again as them, within their limits).
_JOB_OWNER = N_("only the user who started a job can retry it")


#: Every action, by name. Records of any collection are created, edited and deleted; a project
#: moves through its statuses (``transition``); an IDP site's population figures are added,
#: corrected and withdrawn by who may edit the site (``edit``). Requests for civil assistance
#: follow their workflow, one action per step (``service.access.policy.REQUEST_STEPS``).
ACTIONS: dict[str, Rule] = {
    "create": Rule(WRITERS, CHANGE_RECORDS, on_record=False),
    "edit": Rule(WRITERS, CHANGE_RECORDS),
    "delete": Rule(WRITERS, CHANGE_RECORDS),
    "transition": Rule(WRITERS, CHANGE_RECORDS),
    "import": Rule(
        WRITERS,
        CHANGE_RECORDS,
        whole_mission_for=frozenset({"sectors"}),
        on_record=False,
    ),
    "read_staff_fields": Rule(STAFF, N_("this needs the analyst role or higher"), on_record=False),
    "read_alert_rules": Rule(STAFF, N_("this needs the analyst role or higher"), on_record=False),
    "manage_alert_rules": Rule(
        WRITERS, N_("officers and admins manage alert rules"), on_record=False
    ),
    "handle_alert": Rule(
        WRITERS, N_("officers and admins acknowledge, assign, annotate and close alerts")
    ),
    **{step: _step_rule(step) for step in REQUEST_STEPS},
    "manage_users": Rule(ADMINS, N_("only admins manage users"), on_record=False),
    "manage_api_keys": Rule(ADMINS, N_("only admins manage API keys"), on_record=False),
    "manage_webhooks": Rule(ADMINS, N_("only admins manage alert webhooks"), on_record=False),
    "read_audit": Rule(ADMINS, N_("only admins read the audit trail"), on_record=False),
    # Field reports (service.field_reports): JOC and JMAC analysts judge them as staff do.
    "verify": Rule(STAFF, VERIFIERS),
    "discredit": Rule(STAFF, VERIFIERS),
    "merge_duplicate": Rule(STAFF, VERIFIERS),
    "dismiss_duplicate": Rule(STAFF, VERIFIERS),
    "manage_intake_forms": Rule(ADMINS, N_("only admins manage intake forms"), on_record=False),
    "cancel_job": Rule(
        EVERYONE,
        N_("only the user who started a job, or an admin, can cancel it"),
        own_records_only=EVERYONE - {Role.admin},
        owned_by="user",
        not_theirs=N_("only the user who started a job, or an admin, can cancel it"),
        on_record=False,
    ),
    "retry_job": Rule(
        EVERYONE,
        _JOB_OWNER,
        own_records_only=EVERYONE,
        owned_by="user",
        not_theirs=_JOB_OWNER,
        on_record=False,
    ),
}

#: The actions each collection's records offer (besides ``edit`` and ``delete``), in the order
#: a page shows them.
RECORD_ACTIONS: dict[str, tuple[str, ...]] = {
    "projects": ("edit", "delete", "transition"),
    "assistance_requests": ("edit", "delete", *(s for s in REQUEST_STEPS if s != "submit")),
    "incidents": ("edit", "delete", "verify", "discredit"),
}
DEFAULT_RECORD_ACTIONS = ("edit", "delete")


def refusal(action: str) -> str:
    """What a principal who may not take ``action`` is told, in the current language."""
    rule = ACTIONS[action]
    return _(
        rule.refusal,
        step=action.replace("_", "-"),
        roles=_roles(rule.roles),
        office=_(OFFICE_NAMES[rule.office]) if rule.office is not None else "",
    )


def authorize(
    principal: Principal,
    action: str,
    *,
    classification: str | Classification | None = None,
    owner: uuid.UUID | None = None,
    collection: str | None = None,
) -> None:
    """Refuse (:class:`~service.errors.Forbidden`, saying why) unless ``principal`` may take
    ``action``.

    ``classification`` is that of the record written (the writer must be cleared for it);
    ``owner`` the actor the record belongs to, or for a job the user who started it (for roles
    acting on their own records only);
    ``collection`` the collection acted on. Whether the principal sees the record in full and
    whether it lies within their sectors is asked of the database by the write itself
    (``service.core.records``) and by :func:`record_actions`."""
    rule = ACTIONS[action]
    by_office = rule.office is not None and principal.office is rule.office
    if principal.role not in rule.roles and not by_office:
        raise Forbidden(refusal(action))
    if rule.office is not None and principal.office not in (None, rule.office):
        raise Forbidden(
            _(
                "{action} is {office}'s; your account decides for {theirs}",
                action=action.replace("_", "-"),
                office=_(OFFICE_NAMES[rule.office]),
                theirs=_(OFFICE_NAMES[principal.office]),
            )
        )
    own = principal.user_id if rule.owned_by == "user" else principal.actor_id
    if principal.role in rule.own_records_only and (own is None or own != owner):
        if rule.owned_by == "user":
            raise Forbidden(_(rule.not_theirs))
        raise Forbidden(
            _("{action}: {refusal}", action=action.replace("_", "-"), refusal=_(rule.not_theirs))
        )
    if classification is not None and Classification(classification) not in principal.cleared_for:
        raise Forbidden(
            _(
                "you are not cleared to write {classification} records",
                classification=Classification(classification),
            )
        )
    if collection in rule.whole_mission_for and principal.sector_scope is not None:
        raise Forbidden(_("users limited to sectors may not import areas of responsibility"))


def allowed(
    principal: Principal,
    action: str,
    *,
    classification: str | Classification | None = None,
    owner: uuid.UUID | None = None,
    collection: str | None = None,
) -> bool:
    """Whether :func:`authorize` would let ``principal`` take ``action``."""
    try:
        authorize(
            principal, action, classification=classification, owner=owner, collection=collection
        )
    except Forbidden:
        return False
    return True


def sees_staff_fields(principal: Principal) -> bool:
    """Whether ``principal`` sees who wrote records (and why they withdrew them)."""
    return allowed(principal, "read_staff_fields")


def collection_actions(principal: Principal, collection: str) -> list[str]:
    """What ``principal`` may do with a collection as a whole: create records, import them."""
    action = "submit" if collection == "assistance_requests" else "create"
    found = [action] if allowed(principal, action, owner=principal.actor_id) else []
    if allowed(principal, "import", collection=collection):
        found.append("import")
    return found


def offered(principal: Principal, collection: str) -> bool:
    """Whether ``principal``'s role may take any action on records of ``collection`` at all
    (if not, no record's answer needs to ask the database more)."""
    return any(
        principal.role in ACTIONS[action].roles
        or (ACTIONS[action].office is not None and ACTIONS[action].office is principal.office)
        for action in RECORD_ACTIONS.get(collection, DEFAULT_RECORD_ACTIONS)
    )


def record_actions(
    principal: Principal,
    collection: str,
    *,
    exact: bool,
    within_scope: bool,
    owner: uuid.UUID | None = None,
    possible: frozenset[str] | None = None,
) -> list[str]:
    """What ``principal`` may do with one record they see: ``exact`` when they see it in full,
    ``within_scope`` when it lies within the sectors they are limited to, ``owner`` the actor it
    belongs to; ``possible`` limits the actions to those the record's state allows (a request's
    workflow)."""
    if not exact or not within_scope:
        return []
    return [
        action
        for action in RECORD_ACTIONS.get(collection, DEFAULT_RECORD_ACTIONS)
        if (possible is None or action in possible or action in DEFAULT_RECORD_ACTIONS)
        and allowed(principal, action, owner=owner)
    ]
