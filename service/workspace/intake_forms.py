"""Intake forms in the browser: the KoboToolbox and ODK Central forms whose submissions civop
takes (docs/field-reports.md), listed, added, given a new token and disabled by admins.

Every page and form calls the same use cases as ``/api/intake-forms`` and ``civop intake-forms``
(``service.field_reports.forms``), which ask :func:`~service.access.actions.authorize`
(``manage_intake_forms``) before reading or writing anything: a forged form posted by someone
who is not an admin is refused (403) and writes nothing. A token is shown once, when it is
issued; the list never shows it nor its hash.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import ValidationError

from service.access.actions import authorize
from service.access.policy import Principal
from service.auth.deps import PrincipalDep
from service.db import SessionDep
from service.enums import Classification
from service.errors import Conflict, InvalidInput
from service.field_reports import forms
from service.field_reports.views import IntakeFormIn
from service.i18n import N_, _
from service.workspace.admin import AdminPage, Answer, form_errors
from service.workspace.forms import FormErrors
from service.workspace.nav import NavEntry

router = APIRouter(
    prefix="/workspace/admin/intake-forms", tags=["Workspace"], include_in_schema=False
)

NAV = [NavEntry(N_("Intake forms"), "/workspace/admin/intake-forms", "manage_intake_forms")]

#: The XLSForm shipped with civop (``civop intake-forms xlsform`` writes it again).
XLSFORM = Path(__file__).resolve().parents[2] / "docs" / "field-reports" / "incident-report.xlsx"
#: The form's fields, in the order the page shows them.
FIELDS = ("form_id", "title", "default_classification", "owner_actor_id", "field_mapping")
CLASSIFICATION_LABELS: dict[Classification, str] = {
    Classification.public: N_("Public: partners may read its reports"),
    Classification.mission: N_("Mission: mission staff only"),
    Classification.restricted: N_("Restricted: cleared staff only"),
}
CLASSIFICATION_NAMES: dict[str, str] = {
    Classification.public.value: N_("Public"),
    Classification.mission.value: N_("Mission"),
    Classification.restricted.value: N_("Restricted"),
}


def _intake_url(request: Request, form_id: str) -> str:
    """Where the form's server posts its submissions."""
    return str(request.url_for("take_submission", form_id=form_id))


def _token_shown(request: Request, form: dict[str, Any], token: str, note: str) -> Answer:
    """A form's token, shown this once, with the address its server posts to."""
    url = _intake_url(request, form["form_id"])
    return Answer(shown_once={"title": form["title"], "token": token, "url": url, "note": note})


async def _forms(request: Request, session: SessionDep, principal: Principal) -> dict[str, Any]:
    listed = await forms.list_forms(session, principal)
    counts = await forms.submission_counts(session, principal)
    owners = await forms.owner_choices(session, principal)
    names = dict(owners)
    rows = [
        {
            "form": form,
            "owner": names.get(form["owner_actor_id"]) if form["owner_actor_id"] else None,
            "classification": _(CLASSIFICATION_NAMES[form["default_classification"]]),
            "submissions": counts.get(form["id"], 0),
            "url": _intake_url(request, form["form_id"]),
        }
        for form in listed
    ]
    return {
        "rows": rows,
        "classifications": [(c.value, _(label)) for c, label in CLASSIFICATION_LABELS.items()],
        "owners": [(str(key), name) for key, name in owners],
        "example_url": _intake_url(request, "FORM_ID"),
    }


BLANK = {
    "form_id": "",
    "title": "",
    "default_classification": Classification.mission.value,
    "owner_actor_id": "",
    "field_mapping": "",
}
PAGE = AdminPage("admin/intake_forms.html", BLANK, _forms)
PAGE.add_route(router, "", "intake_forms_page")


@router.get("/incident-report.xlsx", response_class=FileResponse)
async def xlsform() -> FileResponse:
    """The shipped XLSForm, to upload to KoboToolbox or ODK Central. It holds no data (the
    questions and the incident categories, as docs/field-reports.md shows them): a plain link
    downloads it."""
    return FileResponse(
        XLSFORM,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        filename="incident-report.xlsx",
    )


@router.post("", response_class=HTMLResponse)
async def add_form(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    authorize(principal, "manage_intake_forms")
    values = PAGE.typed(await request.form())
    errors = FormErrors()
    if not values["form_id"].strip():
        errors.add("form_id", _("Enter the form's id in its server."))
    if not values["title"].strip():
        errors.add("title", _("Enter what the form is, as analysts will see it."))
    try:
        mapping = forms.mapping_from_lines(values["field_mapping"])
    except InvalidInput as error:
        errors.add("field_mapping", error.message)
        mapping = {}
    body: IntakeFormIn | None = None
    try:
        body = IntakeFormIn.model_validate(
            {
                "form_id": values["form_id"].strip(),
                "title": values["title"].strip(),
                "default_classification": values["default_classification"],
                "owner_actor_id": values["owner_actor_id"] or None,
                "field_mapping": mapping,
            }
        )
    except ValidationError as error:
        found = form_errors(error, FIELDS)
        for name, message in found.fields.items():
            errors.add(name, message)
    if body is not None and not errors:
        try:
            shown, token = await forms.create_form(session, principal, **body.model_dump())
        except InvalidInput as error:
            errors = form_errors(error, FIELDS)
        except Conflict as error:
            errors.add("form_id", error.message)
        else:
            note = _("The form {title} is added.", title=shown["title"])
            return await PAGE.render(
                request, session, principal, _token_shown(request, shown, token, note)
            )
    answer = Answer(values=values, errors=errors.ordered(FIELDS))
    return await PAGE.render(request, session, principal, answer)


@router.post("/{form_key}/token", response_class=HTMLResponse)
async def new_token(
    form_key: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    authorize(principal, "manage_intake_forms")
    token = await forms.rotate_token(session, principal, form_key)
    form = next(f for f in await forms.list_forms(session, principal) if f["id"] == form_key)
    note = _("The form {title} has a new token: the old one no longer works.", title=form["title"])
    return await PAGE.render(request, session, principal, _token_shown(request, form, token, note))


@router.post("/{form_key}/disable", response_class=HTMLResponse)
async def disable(
    form_key: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    authorize(principal, "manage_intake_forms")
    form = await forms.disable_form(session, principal, form_key)
    done = _("The form {title} takes no more submissions; its reports stay.", title=form["title"])
    return await PAGE.render(request, session, principal, Answer(done=done))
