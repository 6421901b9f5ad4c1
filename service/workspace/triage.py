"""The triage queue, for JOC and JMAC analysts: the field reports not yet judged, newest first;
for each, its likely duplicates with their score and reasons, and the judgements the service
allows the reader (verify, discredit, merge into an incident, dismiss a candidate). Every read
and write is the one of the API (``service.field_reports.judgements``, ``service.core.records``):
the page shows nothing the reader may not see and no button that would be refused."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import FormData

from service.access.actions import allowed
from service.access.policy import Principal
from service.auth.deps import PrincipalDep
from service.core import records
from service.core.params import ListQuery
from service.db import SessionDep
from service.enums import VerificationState
from service.errors import Forbidden, InvalidInput
from service.field_reports import judgements
from service.i18n import N_, _, format_percent
from service.incidents.collection import INCIDENTS
from service.viewer.styles import label as value_label
from service.workspace import pages
from service.workspace.forms import FormErrors
from service.workspace.incidents import incident_row
from service.workspace.nav import NavEntry
from service.workspace.times import local_text

router = APIRouter(include_in_schema=False)

NAV = [NavEntry(N_("Reports to triage"), "/workspace/triage", "verify")]
#: A record page's verify and discredit buttons open the report's triage.
PAGES = {
    ("incidents", "verify"): "/workspace/triage/{id}",
    ("incidents", "discredit"): "/workspace/triage/{id}",
}
LABELS = {
    "verify_reason": N_("Why it is verified"),
    "discredit_reason": N_("Why it is discredited"),
}


def _reason_text(reason: dict[str, Any]) -> str:
    """One reason of a likely duplicate, in the reader's words."""
    code, value = reason["code"], reason.get("value")
    if code == "same_category":
        return _("Same category")
    if code == "other_category":
        return _("Another category")
    if code == "distance_km":
        return _("{km} km apart", km=value)
    if code == "hours_apart":
        return _("{hours} hours apart", hours=value)
    if code == "text_similarity":
        return _("Descriptions {percent} alike", percent=format_percent(float(value or 0)))
    return str(code)


def _may_triage(principal: Principal) -> None:
    if not allowed(principal, "verify"):
        raise Forbidden(_("reports are judged by analysts, officers and admins"))


def _only_reports(v: Any) -> Any:
    """Reports not merged into another incident (those are judged with it)."""
    return v.table.c.duplicate_of_id.is_(None)


@router.get("/workspace/triage")
async def queue(request: Request, principal: pages.PagePrincipal, session: SessionDep) -> Response:
    if principal is None:
        return pages.shell(request, "triage/queue.html")
    _may_triage(principal)
    query = ListQuery(
        limit=100,
        filters={"verification_state": [VerificationState.reported.value]},
        where=(_only_reports,),
    )
    page = await records.list_features(session, INCIDENTS, principal, query)
    rows = []
    for text in page.features:
        feature = json.loads(text)
        p = feature.get("properties") or {}
        rows.append({**incident_row(feature), "source": p.get("source") or ""})
    return pages.render(request, "triage/queue.html", {"rows": rows})


async def _report_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    record_id: uuid.UUID,
    *,
    errors: FormErrors | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    feature = json.loads(await records.get_feature(session, INCIDENTS, principal, record_id))
    p = feature.get("properties") or {}
    actions = feature.get("actions", [])
    found = await judgements.candidates(session, principal, record_id)
    candidates = [
        {
            "id": c["incident_id"],
            "category": _(value_label(c["category"])),
            "occurred": local_text(c["occurred_at"]),
            "description": c["description"] or "",
            "source": c["source"] or "",
            "percent": format_percent(c["score"]),
            "reasons": [_reason_text(r) for r in c["reasons"]],
        }
        for c in found
    ]
    context = {
        "record_id": record_id,
        "report": {
            "category": _(value_label(str(p.get("category", "")))),
            "occurred": local_text(p.get("occurred_at")),
            "severity": p.get("severity", ""),
            "description": p.get("description") or "",
            "source": p.get("source") or "",
            "state": p.get("verification_state"),
            "coordinates": (feature.get("geometry") or {}).get("coordinates"),
        },
        "may_verify": "verify" in actions,
        "may_discredit": "discredit" in actions,
        # The record's actions are empty unless the reader sees it in full, within their areas.
        "may_merge": allowed(principal, "merge_duplicate") and bool(actions),
        "may_dismiss": allowed(principal, "dismiss_duplicate") and bool(actions),
        "candidates": candidates,
        "errors": errors or FormErrors(),
        "labels": {name: _(text) for name, text in LABELS.items()},
        "values": typed or {},
    }
    return pages.render(request, "triage/report.html", context, status_code=422 if errors else 200)


@router.get("/workspace/triage/{record_id}")
async def report(
    request: Request, record_id: uuid.UUID, principal: pages.PagePrincipal, session: SessionDep
) -> Response:
    if principal is None:
        return pages.shell(request, "triage/report.html", {"record_id": record_id})
    _may_triage(principal)
    return await _report_page(request, session, principal, record_id)


def _done(request: Request, title: str, text: str, record_id: uuid.UUID | str) -> Response:
    return pages.fragment(
        request, "triage/done.html", {"title": title, "text": text, "record_id": record_id}
    )


@dataclass(frozen=True)
class Judgement:
    """What a judgement of the triage page does and says; the reason is typed in
    ``<action>_reason``."""

    state: VerificationState
    title: str
    text: str
    #: What to say when no reason is given; empty: the reason may be left out.
    reason_missing: str = ""


JUDGEMENTS = {
    "verify": Judgement(
        VerificationState.verified,
        N_("Report verified"),
        N_("It now counts in the analyses and reports."),
    ),
    "discredit": Judgement(
        VerificationState.discredited,
        N_("Report discredited"),
        N_("It stays on record and counts nowhere."),
        reason_missing=N_("Say why the report is discredited."),
    ),
}


async def _judge(
    request: Request, session: SessionDep, principal: Principal, record_id: uuid.UUID, action: str
) -> Response:
    """The report judged as the form asks (``action``: a key of ``JUDGEMENTS``)."""
    judgement = JUDGEMENTS[action]
    field = f"{action}_reason"
    form = await request.form()
    reason = str(form.get(field, "")).strip()
    if judgement.reason_missing and not reason:
        errors = FormErrors()
        errors.add(field, _(judgement.reason_missing))
        return await _report_page(
            request, session, principal, record_id, errors=errors, typed={field: reason}
        )
    await judgements.judge(session, principal, record_id, judgement.state, reason)
    return _done(request, _(judgement.title), _(judgement.text), record_id)


@router.post("/workspace/triage/{record_id}/verify")
async def verify(
    request: Request, record_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Response:
    return await _judge(request, session, principal, record_id, "verify")


@router.post("/workspace/triage/{record_id}/discredit")
async def discredit(
    request: Request, record_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Response:
    return await _judge(request, session, principal, record_id, "discredit")


#: What the triage page says of a field that does not hold an incident's id.
NOT_AN_INCIDENT = {
    "kept_id": N_("kept_id must be an incident's id"),
    "candidate_id": N_("candidate_id must be an incident's id"),
}


def _incident_id(form: FormData, field: str) -> uuid.UUID:
    """The incident the form names in ``field`` (a key of ``NOT_AN_INCIDENT``)."""
    try:
        return uuid.UUID(str(form.get(field, "")))
    except ValueError as error:
        raise InvalidInput(["body", field], _(NOT_AN_INCIDENT[field])) from error


@router.post("/workspace/triage/{record_id}/merge")
async def merge(
    request: Request, record_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Response:
    kept = _incident_id(await request.form(), "kept_id")
    await judgements.merge(session, principal, kept, record_id)
    return _done(
        request,
        _("Report merged"),
        _("The incident kept lists this report's source with its own."),
        kept,
    )


@router.post("/workspace/triage/{record_id}/dismiss")
async def dismiss(
    request: Request, record_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Response:
    candidate = _incident_id(await request.form(), "candidate_id")
    await judgements.dismiss(session, principal, record_id, candidate, None)
    return await _report_page(request, session, principal, record_id)
