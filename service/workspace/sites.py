"""IDP sites in the workspace: drawn as a point or an outline, their population recorded and
corrected (the population history of ``service.sites.service``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import Request, Response
from pydantic import ValidationError

from service.access.policy import Principal
from service.auth.deps import PrincipalDep
from service.db import SessionDep
from service.enums import SiteStatus, SiteType
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.i18n import N_, _
from service.sites import service
from service.sites.collection import IDP_SITES
from service.sites.schemas import PopulationFigureIn
from service.workspace.drawing import DrawnArea, Field, drawn_router, read_record, refusal
from service.workspace.forms import FormErrors
from service.workspace.nav import NavEntry
from service.workspace.pages import fragment

SITE_TYPES = (
    (SiteType.planned_camp.value, N_("Planned camp")),
    (SiteType.collective_centre.value, N_("Collective centre")),
    (SiteType.spontaneous_settlement.value, N_("Spontaneous settlement")),
    (SiteType.host_community.value, N_("Host community")),
)
SITE_STATUSES = ((SiteStatus.open.value, N_("Open")), (SiteStatus.closed.value, N_("Closed")))

#: A population figure's form.
FIGURE_FIELDS = {
    "observed_on": N_("Date counted"),
    "individuals": N_("Individuals"),
    "households": N_("Households"),
    "source": N_("Source"),
}


async def _population(
    session: SessionDep, principal: Principal, record: Mapping[str, Any]
) -> dict[str, Any]:
    """The site's population history, for principals who see the site in full."""
    empty = {"figure_values": {}, "figure_errors": FormErrors(), "figure_id": None,
             "figure_notice": None, "figure_failed": False, "figure_labels": FIGURE_FIELDS}  # fmt: skip
    try:
        figures = await service.population_history(session, principal, uuid.UUID(record["id"]))
    except Forbidden:
        return {"figures": None, **empty}
    return {"figures": [f.model_dump(mode="json") for f in figures], **empty}


AREA = DrawnArea(
    collection=IDP_SITES,
    path="sites",
    title=N_("IDP sites"),
    one=N_("IDP site"),
    create_label=N_("Draw a new IDP site"),
    label_title=N_("Name"),
    coordinates_label=N_("Location or outline of the site"),
    label="name",
    shapes="point_or_area",
    fields=(
        Field("name", N_("Name")),
        Field("site_type", N_("Type of site"), "select", SITE_TYPES),
        Field("status", N_("Status"), "select", SITE_STATUSES),
        Field("description", N_("Description"), "textarea"),
    ),
    listed=(
        ("site_type", N_("Type of site")),
        ("status", N_("Status")),
        ("population_individuals", N_("Population")),
    ),
    sections=("sites/population.html",),
    section_context=_population,
)

router = drawn_router(AREA)
NAV = [NavEntry(N_("IDP sites"), AREA.base, action="create", collection=IDP_SITES.name)]


def _figure_problems(error: ValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    for each in error.errors():
        name = str(each["loc"][0]) if each.get("loc") else ""
        label = _(FIGURE_FIELDS.get(name, name))
        kind = str(each.get("type"))
        if kind == "missing":
            text = _("Enter {label}", label=label[:1].lower() + label[1:])
        elif kind == "greater_than_equal":
            text = _("{label} must be 0 or more", label=label)
        elif kind.startswith("int"):
            text = _("{label} must be a whole number", label=label)
        elif kind.startswith("date"):
            text = _("{label} must be a real date", label=label)
        else:
            text = f"{label}: {_(str(each.get('msg')))}"
        problems.setdefault(name, text)
    return problems


async def _section(
    request: Request,
    session: SessionDep,
    principal: Principal,
    site_id: uuid.UUID,
    *,
    values: Mapping[str, str] | None = None,
    problems: Mapping[str, str] | None = None,
    figure_id: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    record = await read_record(session, AREA, principal, site_id)
    return fragment(
        request,
        "sites/population.html",
        {
            "area": AREA,
            "record": record,
            **await _population(session, principal, record),
            "figure_values": values or {},
            "figure_errors": FormErrors(dict(problems or {})),
            "figure_id": figure_id,
            "figure_notice": notice,
            "figure_failed": status_code != 200,
        },
        status_code=status_code,
    )


async def _figure(
    request: Request,
) -> tuple[dict[str, str], PopulationFigureIn | None, dict[str, str]]:
    form = await request.form()
    values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    data = {k: v for k, v in values.items() if k in FIGURE_FIELDS and v}
    try:
        return values, PopulationFigureIn.model_validate(data), {}
    except ValidationError as error:
        return values, None, _figure_problems(error)


def _service_problem(error: InvalidInput) -> dict[str, str]:
    name = next((str(p) for p in reversed(error.loc) if str(p) in FIGURE_FIELDS), "")
    return {name: _(error.message)}


async def _write_figure(
    request: Request,
    session: SessionDep,
    principal: Principal,
    site_id: uuid.UUID,
    figure_id: uuid.UUID | None,
) -> Response:
    """Record a new figure (``figure_id`` None) or correct one; the section answers."""
    values, figure, problems = await _figure(request)
    which = "new" if figure_id is None else str(figure_id)
    notice: str | None = None
    status_code = 200
    if figure is None:
        status_code = 422
    else:
        try:
            if figure_id is None:
                await service.add_population(session, principal, site_id, figure)
                notice = _("Figure recorded")
            else:
                await service.correct_population(session, principal, site_id, figure_id, figure)
                notice = _("Figure corrected")
            request.app.state.changes.announce("idp_sites")
            request.app.state.reads.wrote(principal.username)
            return await _section(request, session, principal, site_id, notice=notice)
        except InvalidInput as error:
            problems, status_code = _service_problem(error), 422
        except (Forbidden, Conflict, NotFound) as error:
            notice, status_code = refusal(error), error.status_code
    return await _section(
        request,
        session,
        principal,
        site_id,
        values=values,
        problems=problems,
        figure_id=which,
        notice=notice,
        status_code=status_code,
    )


@router.post("/{site_id:uuid}/population")
async def add_figure(
    request: Request, site_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    return await _write_figure(request, session, principal, site_id, None)


@router.post("/{site_id:uuid}/population/{figure_id:uuid}")
async def correct_figure(
    request: Request,
    site_id: uuid.UUID,
    figure_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    return await _write_figure(request, session, principal, site_id, figure_id)


#: The longest reason for withdrawing a figure, as the API takes it.
REASON_MAX = 1000


@router.post("/{site_id:uuid}/population/{figure_id:uuid}/withdraw")
async def withdraw_figure(
    request: Request,
    site_id: uuid.UUID,
    figure_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """Withdraw a wrong figure, saying why (the reason is required, as the API's)."""
    form = await request.form()
    reason = str(form.get("reason") or "").strip()
    which = f"withdraw-{figure_id}"
    problem: str | None = None
    if not reason:
        problem = _("Enter why the figure is withdrawn")
    elif len(reason) > REASON_MAX:
        problem = _("The reason must be {limit} characters or fewer", limit=REASON_MAX)
    if problem is not None:
        return await _section(
            request, session, principal, site_id, values={"reason": reason},
            problems={"reason": problem}, figure_id=which, status_code=422,
        )  # fmt: skip
    try:
        await service.withdraw_population(session, principal, site_id, figure_id, reason)
    except (Forbidden, Conflict, NotFound) as error:
        return await _section(
            request, session, principal, site_id, figure_id=which, notice=refusal(error),
            status_code=error.status_code,
        )  # fmt: skip
    request.app.state.changes.announce("idp_sites")
    request.app.state.reads.wrote(principal.username)
    return await _section(request, session, principal, site_id, notice=_("Figure withdrawn"))
