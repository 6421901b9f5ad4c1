"""Projects in the workspace: drawn as a point or an area, moved through their statuses (the
workflow and history of ``service.projects.service``): only the statuses the project may go to
next are offered, and a refusal names them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import Request, Response

from service.access.policy import Principal
from service.auth.deps import PrincipalDep
from service.core.routes import announce
from service.db import SessionDep
from service.enums import ProjectKind, ProjectStatus
from service.errors import Conflict, Forbidden, NotFound
from service.i18n import N_, _
from service.projects import service
from service.projects.collection import PROJECTS
from service.projects.schemas import ProjectStatusChange
from service.workspace.drawing import DrawnArea, Field, drawn_router, read_record, refusal
from service.workspace.forms import FormErrors
from service.workspace.nav import NavEntry
from service.workspace.pages import fragment

KINDS = (
    (ProjectKind.quick_impact_project.value, N_("Quick impact project")),
    (ProjectKind.civil_assistance.value, N_("Civil assistance")),
    (ProjectKind.community_support.value, N_("Community support")),
)
STATUSES = (
    (ProjectStatus.proposed.value, N_("Proposed")),
    (ProjectStatus.approved.value, N_("Approved")),
    (ProjectStatus.ongoing.value, N_("Ongoing")),
    (ProjectStatus.completed.value, N_("Completed")),
    (ProjectStatus.cancelled.value, N_("Cancelled")),
)


async def _status(
    session: SessionDep, principal: Principal, record: Mapping[str, Any]
) -> dict[str, Any]:
    """The project's status history and where it may go now, for principals who see it in
    full."""
    empty = {"status_errors": FormErrors(), "status_notice": None, "status_failed": False,
             "reason": "", "statuses": dict(STATUSES)}  # fmt: skip
    try:
        found = await service.history(session, principal, uuid.UUID(record["id"]))
    except Forbidden:
        return {"history": None, "next_statuses": [], "status_choices": [], **empty}
    next_statuses = [s.value for s in found.next_statuses]
    return {
        **empty,
        "history": found.model_dump(mode="json")["history"],
        "next_statuses": next_statuses,
        "status_choices": [(v, _(label)) for v, label in STATUSES if v in next_statuses],
    }


AREA = DrawnArea(
    collection=PROJECTS,
    path="projects",
    title=N_("Projects"),
    one=N_("Project"),
    create_label=N_("Draw a new project"),
    label_title=N_("Title"),
    coordinates_label=N_("Location or area of the project"),
    label="title",
    shapes="area",
    fields=(
        Field("title", N_("Title")),
        Field("kind", N_("Kind of project"), "select", KINDS),
        Field("start_date", N_("Start date"), "date"),
        Field("end_date", N_("End date"), "date"),
        Field("budget_usd", N_("Budget (US dollars)"), "number"),
        Field("beneficiaries", N_("Beneficiaries"), "number"),
        Field("description", N_("Description"), "textarea"),
    ),
    listed=(("kind", N_("Kind")), ("status", N_("Status")), ("start_date", N_("Start date"))),
    shown_options={"status": STATUSES},
    sections=("projects/status.html",),
    section_context=_status,
)

router = drawn_router(AREA)
NAV = [NavEntry(N_("Projects"), AREA.base, action="create", collection=PROJECTS.name)]


@router.post("/{project_id:uuid}/status")
async def change_status(
    request: Request, project_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    form = await request.form()
    chosen = str(form.get("status") or "")
    reason = str(form.get("reason") or "").strip() or None
    problems = FormErrors()
    notice: str | None = None
    status_code = 200
    if chosen not in {s.value for s in ProjectStatus}:
        problems.add("status", _("Choose the new status"))
        status_code = 422
    else:
        try:
            change = ProjectStatusChange(status=ProjectStatus(chosen), reason=reason)
            await service.change_status(session, principal, project_id, change)
            announce(request, PROJECTS, principal)
            notice = _("Status changed")
        except Conflict as error:
            status_code = 409
            notice = refusal(error)
        except (Forbidden, NotFound) as error:
            status_code = error.status_code
            notice = refusal(error)
    record = await read_record(session, AREA, principal, project_id)
    context = await _status(session, principal, record)
    if status_code == 409:
        allowed = ", ".join(
            _(label) for value, label in STATUSES if value in context["next_statuses"]
        )
        notice = _(
            "The project cannot go to {status}: from {current} it may go to {allowed}.",
            status=_(dict(STATUSES).get(chosen, chosen)),
            current=_(dict(STATUSES).get(record["properties"]["status"], "")),
            allowed=allowed or _("no other status (it is final)"),
        )
    context |= {
        "area": AREA,
        "record": record,
        "status_errors": problems,
        "status_notice": notice,
        "status_failed": status_code != 200,
        "reason": (reason or "") if status_code != 200 else "",  # kept to try again
    }
    return fragment(request, "projects/status.html", context, status_code=status_code)
