"""Records drawn on a map in the workspace: IDP sites, projects, patrol routes and bases.

One :class:`DrawnArea` per collection says which fields its form shows and which shapes may be
drawn; :func:`drawn_router` makes its pages: the list, the form of a new record, a record's own
page (its fields and its geometry corrected, the record deleted). Every read and write goes
through the same service functions as the JSON API (``service.core.records``), so the access
rules, the validation and the audit are theirs; the buttons shown are the actions the service
reports for the record.

A geometry is drawn on the map (Leaflet-Geoman) or typed, one ``longitude, latitude`` per line,
in the coordinates field the drawing fills: the map is a help, the field is what is sent.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from geojson_pydantic.geometries import parse_geometry_obj
from pydantic import BaseModel, ValidationError

from service.access.actions import CHANGE_RECORDS, authorize, collection_actions
from service.access.policy import Principal
from service.auth.deps import PrincipalDep
from service.config import get_settings
from service.core import records
from service.core.collection import Collection
from service.core.params import ListQuery
from service.core.routes import announce
from service.db import SessionDep
from service.enums import Classification
from service.errors import CivopError, Conflict, Forbidden, InvalidInput, NotFound
from service.i18n import N_, _
from service.workspace.forms import FormErrors
from service.workspace.pages import PagePrincipal, fragment, render, shell
from service.workspace.times import from_local_input, local_input, local_text
from service.workspace.views import problem_text

#: The form field that holds the geometry.
COORDINATES = "coordinates"

Shapes = Literal["point", "point_or_area", "area", "line"]
Kind = Literal["text", "textarea", "number", "select", "date", "datetime"]


@dataclass(frozen=True)
class Field:
    """One field of a record's form: its property, label (``N_``), kind and hint."""

    name: str
    label: str
    kind: Kind = "text"
    options: tuple[tuple[str, str], ...] = ()
    hint: str | None = None


CLASSIFICATIONS: tuple[tuple[str, str], ...] = (
    (Classification.public.value, N_("Public (partners see it)")),
    (Classification.mission.value, N_("Mission")),
    (Classification.restricted.value, N_("Restricted (cleared staff)")),
)


@dataclass(frozen=True)
class DrawnArea:
    """A collection whose records are drawn in the workspace."""

    collection: Collection
    #: URL folder under /workspace.
    path: str
    #: Texts (``N_``): the list's heading, one record, the button that makes a new one, the
    #: column of the label, the coordinates field.
    title: str
    one: str
    create_label: str
    label_title: str
    coordinates_label: str
    #: The property that names a record in lists and headings.
    label: str
    shapes: Shapes
    fields: tuple[Field, ...]
    #: Columns shown in the list besides the label: (property, heading ``N_``).
    listed: tuple[tuple[str, str], ...] = ()
    #: Labels of enumerated columns shown but not in the form (a project's status).
    shown_options: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: Extra sections of a record's page (templates included after the fields).
    sections: tuple[str, ...] = ()
    #: A drawn route is checked for conflicts as it changes (``POST <base>/check``).
    checks_route: bool = False
    #: Context the extra sections need, read for one record.
    section_context: Callable[..., Awaitable[dict[str, Any]]] | None = field(default=None)

    @property
    def base(self) -> str:
        return f"/workspace/{self.path}"

    def labels(self) -> dict[str, str]:
        """Each field's label, in the user's language (the error summary names them)."""
        return {n: _(label) for n, label in _labels(self).items()} | {
            COORDINATES: _(self.coordinates_label)
        }

    def required(self, name: str) -> bool:
        return self.collection.properties.model_fields[name].is_required()

    def choices(self, each: Field) -> list[tuple[str, str]]:
        return [(value, _(label)) for value, label in each.options]

    def shown(self, name: str, value: object) -> str:
        """A value as a list or a summary shows it: enumerations by their label."""
        options = {f.name: f.options for f in self.fields} | dict(self.shown_options)
        if isinstance(value, bool):
            value = "true" if value else "false"
        for option, label in options.get(name, ()):
            if option == value:
                return _(label)
        kinds = {f.name: f.kind for f in self.fields}
        if kinds.get(name) == "datetime" or name.endswith("_at"):
            return local_text(value if isinstance(value, str) else None)
        return "" if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# Coordinates: the text of the field <-> a GeoJSON geometry
# ---------------------------------------------------------------------------------------------

SHAPE_HINTS: dict[str, str] = {
    "point": N_("One line: longitude, latitude (decimal degrees)."),
    "point_or_area": N_(
        "One line for a point, or three or more for an outline: longitude, latitude "
        "(decimal degrees), one point per line. Draw it on the map or type it."
    ),
    "area": N_(
        "One line for a point, or three or more for an area: longitude, latitude (decimal "
        "degrees), one point per line. Draw it on the map or type it."
    ),
    "line": N_(
        "Two or more lines, in the order the route follows: longitude, latitude (decimal "
        "degrees), one point per line. Draw it on the map or type it."
    ),
}


class FieldProblem(Exception):
    """A field's value is wrong: what to do, in the user's terms."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def parse_coordinates(text: str, shapes: Shapes) -> dict[str, Any]:
    """The GeoJSON geometry the lines of ``text`` describe (see :data:`SHAPE_HINTS`)."""
    points: list[list[float]] = []
    for number, line in enumerate(text.strip().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.replace(",", " ").split()
        try:
            lon, lat = (float(p) for p in parts)
        except ValueError:
            raise FieldProblem(
                COORDINATES,
                _(
                    "Line {number} must be a longitude and a latitude in decimal degrees, "
                    "such as 25.41, 4.37",
                    number=number,
                ),
            ) from None
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise FieldProblem(COORDINATES, _("Line {number} is not a place", number=number))
        points.append([lon, lat])
    if not points:
        if shapes == "line":
            raise FieldProblem(COORDINATES, _("Draw the route on the map or type its points"))
        raise FieldProblem(COORDINATES, _("Draw the place on the map or type its coordinates"))
    if shapes == "point":
        if len(points) != 1:
            raise FieldProblem(COORDINATES, _("Give one point: longitude, latitude"))
        return {"type": "Point", "coordinates": points[0]}
    if shapes == "line":
        if len(points) < 2:
            raise FieldProblem(COORDINATES, _("A route needs two points or more"))
        return {"type": "LineString", "coordinates": points}
    if len(points) == 1:
        return {"type": "Point", "coordinates": points[0]}
    if points[0] == points[-1]:
        points.pop()
    if len(points) < 3:
        raise FieldProblem(
            COORDINATES, _("Give one point for a place, or three points or more for an outline")
        )
    return {"type": "Polygon", "coordinates": [[*points, points[0]]]}


def coordinates_text(geometry: Mapping[str, Any] | None) -> str:
    """The coordinates field's text for a stored geometry (its outer ring, for an area)."""
    if not geometry:
        return ""
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind == "Point":
        points = [coordinates]
    elif kind == "LineString":
        points = list(coordinates or [])
    elif kind == "Polygon":
        points = list((coordinates or [[]])[0])[:-1]
    elif kind == "MultiPolygon" and coordinates and len(coordinates) == 1:
        points = list(coordinates[0][0])[:-1]
    else:
        return ""  # several parts: kept as they are unless redrawn
    return "\n".join(f"{p[0]:.6f}, {p[1]:.6f}" for p in points if p)


# ---------------------------------------------------------------------------------------------
# The form: its values <-> the collection's properties
# ---------------------------------------------------------------------------------------------


def _form_value(each: Field, raw: str) -> object:
    if each.kind == "datetime":
        try:
            moment = from_local_input(raw)
        except ValueError:
            raise FieldProblem(
                each.name, _("{label} must be a date and a time", label=_(each.label))
            ) from None
        return moment.isoformat() if moment else None
    return raw


ERROR_TEXTS: dict[str, str] = {
    "missing": N_("Enter {label}"),
    "enum": N_("Choose {label}"),
    "literal_error": N_("Choose {label}"),
    "int_parsing": N_("{label} must be a whole number"),
    "int_from_float": N_("{label} must be a whole number"),
    "decimal_parsing": N_("{label} must be a number"),
    "float_parsing": N_("{label} must be a number"),
    "greater_than_equal": N_("{label} must be 0 or more"),
    "string_too_short": N_("Enter {label}"),
    "string_too_long": N_("{label} must be {max_length} characters or fewer"),
    "date_from_datetime_parsing": N_("{label} must be a real date"),
    "date_parsing": N_("{label} must be a real date"),
    "datetime_from_date_parsing": N_("{label} must be a date and a time"),
    "decimal_max_places": N_("{label} must have at most {decimal_places} decimals"),
}

#: Rules across fields (model validators), by the message the API gives: the field it is
#: shown next to and what to do.
CROSS_FIELD: dict[str, tuple[str, str]] = {
    "end_date is before start_date": ("end_date", N_("The end date must be on or after the start date")),
    "end_at is before start_at": ("end_at", N_("The end must be at or after the start")),
}  # fmt: skip


def _labels(area: DrawnArea) -> dict[str, str]:
    return {f.name: f.label for f in area.fields} | {"classification": N_("Who may see it")}


def _problems_of(area: DrawnArea, error: ValidationError) -> dict[str, str]:
    """Validation errors of the properties, in the user's terms, by field."""
    labels = _labels(area)
    kinds = {f.name: f.kind for f in area.fields} | {"classification": "select"}
    problems: dict[str, str] = {}
    for each in error.errors():
        loc = [str(p) for p in each.get("loc", ())]
        name = loc[0] if loc else ""
        message = str(each.get("msg", ""))
        if not name:
            for rule, (target, text) in CROSS_FIELD.items():
                if rule in message:
                    problems.setdefault(target, _(text))
                    break
            else:
                problems.setdefault("", _(message))
            continue
        label = _(labels.get(name, name))
        kind = str(each.get("type"))
        template = ERROR_TEXTS.get(kind)
        if template and not template.startswith("{label}"):
            label = label[:1].lower() + label[1:]  # within a sentence
        if kind == "missing" and kinds.get(name) == "select":
            template = ERROR_TEXTS["enum"]
        context = {k: v for k, v in (each.get("ctx") or {}).items() if k != "error"}
        text = _(template, label=label, **context) if template else f"{label}: {_(message)}"
        problems.setdefault(name, text[:1].upper() + text[1:])
    return problems


def read_form(
    area: DrawnArea, form: Mapping[str, Any], *, creating: bool
) -> tuple[dict[str, str], BaseModel | None, Any, FormErrors]:
    """The form's values as sent, the properties and geometry they give, and the problems
    found (field -> what to do; ``""`` for the form as a whole)."""
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    problems = FormErrors()
    data: dict[str, Any] = {}
    model = area.collection.properties
    for each in [*area.fields, Field("classification", "", "select")]:
        raw = values.get(each.name, "").strip()
        if not raw:
            if not creating and not model.model_fields[each.name].is_required():
                data[each.name] = None  # emptied: the value is removed
            continue
        try:
            data[each.name] = _form_value(each, raw)
        except FieldProblem as problem:
            problems.add(problem.name, problem.message)
    properties: BaseModel | None = None
    try:
        properties = model.model_validate(data)
    except ValidationError as error:
        for name, message in _problems_of(area, error).items():
            problems.add(name, message)
    geometry: Any = None
    try:
        geometry = parse_geometry_obj(parse_coordinates(values.get(COORDINATES, ""), area.shapes))
    except FieldProblem as problem:
        problems.add(problem.name, problem.message)
    # In the order of the form, as the error summary lists them.
    order = [f.name for f in area.fields] + ["classification", COORDINATES, ""]
    problems.fields = {n: problems.fields[n] for n in order if n in problems.fields}
    return values, properties, geometry, problems


def problem_of_service(area: DrawnArea, error: InvalidInput) -> FormErrors:
    """A 422 of the service, next to the field it names."""
    loc = [str(p) for p in error.loc]
    message = _(error.message)
    message = message[:1].upper() + message[1:]
    names = {f.name for f in area.fields} | {"classification"}
    name = next((p for p in reversed(loc) if p in names), COORDINATES if "geometry" in loc else "")
    return FormErrors({name: message})


# ---------------------------------------------------------------------------------------------
# Reading records as the principal sees them
# ---------------------------------------------------------------------------------------------


async def read_record(
    session: SessionDep, area: DrawnArea, principal: Principal, record_id: uuid.UUID
) -> dict[str, Any]:
    """One record as the principal may see it, with the actions they may take on it."""
    found: dict[str, Any] = json.loads(
        await records.get_feature(session, area.collection, principal, record_id)
    )
    return found


async def list_records(
    session: SessionDep, area: DrawnArea, principal: Principal, limit: int = 200
) -> list[dict[str, Any]]:
    """The newest records the principal sees."""
    page = await records.list_features(session, area.collection, principal, ListQuery(limit=limit))
    return [json.loads(f) for f in page.features]


def form_values(area: DrawnArea, record: Mapping[str, Any]) -> dict[str, str]:
    """A stored record as the values of its form."""
    properties = record.get("properties") or {}
    values: dict[str, str] = {}
    for each in [*area.fields, Field("classification", "", "select")]:
        value = properties.get(each.name)
        if each.kind == "datetime":
            values[each.name] = local_input(value)
        elif isinstance(value, bool):
            values[each.name] = "true" if value else "false"
        else:
            values[each.name] = "" if value is None else str(value)
    values[COORDINATES] = coordinates_text(record.get("geometry"))
    return values


def classifications(principal: Principal) -> list[tuple[str, str]]:
    """The classifications the principal may write."""
    return [(value, label) for value, label in CLASSIFICATIONS if value in principal.cleared_for]


#: Geoman's texts (its buttons, tooltips and actions), in the user's language.
DRAW_TEXTS: dict[str, dict[str, str]] = {
    "tooltips": {
        "placeMarker": N_("Click to place the point"),
        "firstVertex": N_("Click to place the first point"),
        "continueLine": N_("Click to place the next point"),
        "finishLine": N_("Click the last point again to finish"),
        "finishPoly": N_("Click the first point to close the outline"),
    },
    "actions": {
        "finish": N_("Finish"),
        "cancel": N_("Cancel"),
        "removeLastVertex": N_("Remove the last point"),
    },
    "buttonTitles": {
        "drawMarkerButton": N_("Draw a point"),
        "drawPolyButton": N_("Draw an outline"),
        "drawLineButton": N_("Draw a route"),
        "editButton": N_("Move the points of the shape"),
        "dragButton": N_("Move the whole shape"),
        "deleteButton": N_("Remove the shape"),
    },
}


def map_settings(area: DrawnArea, *, editable: bool) -> str:
    """What the drawing map needs: the mission's box, the shapes that may be drawn, whether
    the shape may change, Geoman's texts and the map's own."""
    texts = {group: {k: _(v) for k, v in items.items()} for group, items in DRAW_TEXTS.items()}
    return json.dumps(
        {
            "bbox": list(get_settings().mission_bbox),
            "shapes": area.shapes,
            "editable": editable,
            "geoman": texts,
            "conflict": _("Conflict"),
        }
    )


def refusal(error: CivopError) -> str:
    """What the user is told when the service refuses (403, 404, 409), next to the form."""
    heading, text = problem_text(error)
    return f"{heading}. {text}"


# ---------------------------------------------------------------------------------------------
# The pages
# ---------------------------------------------------------------------------------------------


def full_load(request: Request) -> Response | None:
    """A link followed inside the workspace swaps only the content: a page that draws needs its
    scripts, so the browser is sent to load it whole (``None``: it is loading whole)."""
    if request.headers.get("hx-boosted") == "true":
        return Response(status_code=200, headers={"HX-Redirect": str(request.url)})
    return None


def go_to(url: str) -> Response:
    """After a write: the browser shows ``url`` (a whole page, with its scripts)."""
    return Response(status_code=200, headers={"HX-Redirect": url})


def drawn_router(area: DrawnArea) -> APIRouter:
    """The pages of a drawn collection: the list, a new record, a record's page, and the posts
    of their forms."""
    router = APIRouter(prefix=area.base, include_in_schema=False)

    def context(**values: Any) -> dict[str, Any]:
        return {"area": area, "coordinates_hint": SHAPE_HINTS[area.shapes], **values}

    def form(
        request: Request,
        principal: Principal,
        values: Mapping[str, str],
        errors: FormErrors | None = None,
        *,
        record: Mapping[str, Any] | None = None,
        notice: str | None = None,
        saved: bool = False,
        status_code: int = 200,
    ) -> Response:
        return fragment(
            request,
            "drawing/form.html",
            context(
                values=values,
                errors=errors or FormErrors(),
                record=record,
                classifications=classifications(principal),
                map_settings=map_settings(area, editable=True),
                notice=notice,
                saved=saved,
            ),
            status_code=status_code,
        )

    @router.get("")
    async def list_page(
        request: Request, session: SessionDep, principal: PagePrincipal
    ) -> Response:
        if principal is None:
            return shell(request, "drawing/list.html", context())
        found = await list_records(session, area, principal)
        may_create = "create" in collection_actions(principal, area.collection.name)
        return render(request, "drawing/list.html", context(records=found, may_create=may_create))

    @router.get("/new")
    async def new_page(request: Request, principal: PagePrincipal) -> Response:
        if principal is None:
            return shell(request, "drawing/new.html", context())
        if (reload := full_load(request)) is not None:
            return reload
        if "create" not in collection_actions(principal, area.collection.name):
            raise Forbidden(_(CHANGE_RECORDS))
        return render(
            request,
            "drawing/new.html",
            context(
                values={"classification": Classification.mission.value},
                errors=FormErrors(),
                record=None,
                classifications=classifications(principal),
                map_settings=map_settings(area, editable=True),
                notice=None,
                saved=False,
            ),
        )

    @router.post("")
    async def create(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
        authorize(principal, "create")  # refused before the form is read, as the API
        values, properties, geometry, errors = read_form(area, await request.form(), creating=True)
        if errors or properties is None:
            return form(request, principal, values, errors, status_code=422)
        try:
            record_id, _feature = await records.create_feature(
                session, area.collection, principal, properties, geometry
            )
        except InvalidInput as error:
            errors = problem_of_service(area, error)
            return form(request, principal, values, errors, status_code=422)
        except (Forbidden, Conflict) as error:
            notice = refusal(error)
            return form(request, principal, values, notice=notice, status_code=error.status_code)
        announce(request, area.collection, principal)
        return go_to(f"{area.base}/{record_id}")

    @router.get("/{record_id:uuid}")
    async def record_page(
        request: Request, record_id: uuid.UUID, session: SessionDep, principal: PagePrincipal
    ) -> Response:
        if principal is None:
            return shell(request, "drawing/record.html", context())
        if (reload := full_load(request)) is not None:
            return reload
        record = await read_record(session, area, principal, record_id)
        sections: dict[str, Any] = {}
        if area.section_context is not None:
            sections = await area.section_context(session, principal, record)
        editable = "edit" in record["actions"]
        return render(
            request,
            "drawing/record.html",
            context(
                record=record,
                values=form_values(area, record),
                errors=FormErrors(),
                classifications=classifications(principal),
                map_settings=map_settings(area, editable=editable),
                notice=None,
                saved=False,
                **sections,
            ),
        )

    @router.post("/{record_id:uuid}")
    async def update(
        request: Request, record_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
    ) -> Response:
        authorize(principal, "edit")
        values, properties, geometry, errors = read_form(area, await request.form(), creating=False)
        record = await read_record(session, area, principal, record_id)
        if errors or properties is None:
            return form(request, principal, values, errors, record=record, status_code=422)
        try:
            await records.update_feature(
                session, area.collection, principal, record_id, properties, geometry, replace=False
            )
        except InvalidInput as error:
            errors = problem_of_service(area, error)
            return form(request, principal, values, errors, record=record, status_code=422)
        except (Forbidden, Conflict, NotFound) as error:
            notice = refusal(error)
            return form(
                request, principal, values, record=record, notice=notice,
                status_code=error.status_code,
            )  # fmt: skip
        announce(request, area.collection, principal)
        record = await read_record(session, area, principal, record_id)
        return form(request, principal, form_values(area, record), record=record, saved=True)

    @router.post("/{record_id:uuid}/delete")
    async def delete(
        request: Request, record_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
    ) -> Response:
        await records.delete_feature(session, area.collection, principal, record_id)
        announce(request, area.collection, principal)
        return go_to(area.base)

    return router
