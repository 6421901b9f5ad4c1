"""The export dialog: a collection, a format, and filters (or what the map shows: its view and
filters, passed by the map's "Export this view" link), written by the job worker as the user,
with a download link when it is done.

The filters are read by the list query the API's export route reads (``list_query``), and the
export is the job the API queues for a large export (``service.exports`` in the worker), so
the file holds exactly what the API would give the same user.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData, QueryParams

from service.auth.deps import PrincipalDep
from service.collections.registry import COLLECTIONS, Collection
from service.core.params import list_query, query_params
from service.db import SessionDep
from service.errors import InvalidInput, NotFound
from service.i18n import N_, _
from service.imports.targets import target_schema
from service.jobs import service as jobs
from service.jobs.models import ACTIVE
from service.workspace import pages
from service.workspace.nav import NavEntry

router = APIRouter(tags=["Workspace"], include_in_schema=False)

NAV = [NavEntry(N_("Export a collection"), "/workspace/exports")]

#: The formats offered, in the order shown: the export service's names and what people call them.
FORMATS = [
    ("gpkg", N_("GeoPackage (QGIS, ArcGIS)")),
    ("shapefile", N_("Shapefile, zipped")),
    ("geojson", N_("GeoJSON")),
    ("kml", N_("KML (Google Earth)")),
    ("csv", N_("CSV with an HXL hashtag row")),
]
FORMAT_NAMES = [name for name, _label in FORMATS]
#: Whole-number filters offered as boxes up to this many values.
MOST_BOXES = 10


def _filters(collection: Collection, chosen: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The collection's list filters as groups of boxes, the chosen values ticked."""
    fields = {f.name: f for f in target_schema(collection.name).fields}
    groups = []
    for name in collection.filters:
        field = fields[name]
        if field.choices:
            values = list(field.choices)
        elif field.kind == "integer" and field.minimum is not None and field.maximum is not None:
            low, high = int(field.minimum), int(field.maximum)
            values = [str(v) for v in range(low, high + 1)] if high - low < MOST_BOXES else []
        else:
            values = []
        ticked = chosen.get(name)
        groups.append(
            {
                "name": name,
                "values": [(v, ticked is None or v in ticked) for v in values],
                "text": ",".join(ticked or []) if not values else "",
            }
        )
    return groups


def _period(value: str | None) -> tuple[str, str]:
    """The dates of a ``datetime`` interval as the date inputs show them."""
    if not value or "/" not in value:
        return "", ""
    start, _sep, end = value.partition("/")
    return (start[:10] if len(start) >= 10 else ""), (end[:10] if len(end) >= 10 else "")


def _form(
    request: Request,
    values: dict[str, Any],
    errors: list[dict[str, str]],
    status_code: int = 200,
) -> HTMLResponse:
    collection = COLLECTIONS.get(values.get("collection") or "incidents", COLLECTIONS["incidents"])
    return pages.fragment(
        request,
        "exports/form.html",
        _form_context(collection, values, errors),
        status_code=status_code,
    )


def _form_context(
    collection: Collection, values: dict[str, Any], errors: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "collections": [(name, c.title) for name, c in COLLECTIONS.items()],
        "collection": collection,
        "formats": FORMATS,
        "values": values,
        "filters": _filters(collection, values.get("filters", {})),
        "has_time": collection.time is not None,
        "errors": errors,
    }


def _values_of_query(params: QueryParams) -> dict[str, Any]:
    """What the map's link (or a reload of the dialog) asks for."""
    start, end = _period(params.get("datetime"))
    collection = COLLECTIONS.get(params.get("collection") or "incidents", COLLECTIONS["incidents"])
    filters = {
        name: [v for v in (params.get(name) or "").split(",") if v]
        for name in collection.filters
        if params.get(name)
    }
    return {
        "collection": collection.name,
        "format": params.get("format") if params.get("format") in FORMAT_NAMES else "gpkg",
        "bbox": params.get("bbox") or "",
        "from": params.get("from") or start,
        "to": params.get("to") or end,
        "filters": filters,
        "from_map": params.get("view") == "map",
    }


def _values_of_form(form: FormData) -> dict[str, Any]:
    collection = COLLECTIONS.get(str(form.get("collection") or ""), COLLECTIONS["incidents"])
    filters: dict[str, list[str]] = {}
    for name in collection.filters:
        boxes = [str(v) for v in form.getlist(name) if str(v)]
        typed = str(form.get(f"{name}-text") or "").strip()
        if typed:
            boxes += [v.strip() for v in typed.split(",") if v.strip()]
        if boxes or form.get(f"{name}-offered"):
            filters[name] = boxes
    fmt = str(form.get("format") or "")
    return {
        "collection": collection.name,
        "format": fmt,
        "bbox": str(form.get("bbox") or "").strip(),
        "from": str(form.get("from") or "").strip(),
        "to": str(form.get("to") or "").strip(),
        "filters": filters,
        "from_map": bool(form.get("from_map")),
    }


@router.get("/workspace/exports", response_class=HTMLResponse)
async def exports_page(request: Request, principal: pages.PagePrincipal) -> Response:
    """The dialog, filled from the address (the map's view, when it comes from the map)."""
    if principal is None:
        return pages.shell(request, "exports/index.html")
    values = _values_of_query(request.query_params)
    collection = COLLECTIONS[values["collection"]]
    return pages.render(request, "exports/index.html", _form_context(collection, values, []))


@router.get("/workspace/exports/form", response_class=HTMLResponse)
async def export_form(request: Request, principal: PrincipalDep) -> Response:
    """The dialog again for another collection (its own filters)."""
    values = _values_of_query(request.query_params)
    values["filters"] = {}
    return _form(request, values, [])


@router.post("/workspace/exports", response_class=HTMLResponse)
async def start_export(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    """Check the filters as the API does and queue the export in the worker."""
    form = await request.form(max_files=0, max_fields=500)
    values = _values_of_form(form)
    collection = COLLECTIONS[values["collection"]]
    errors = []
    if values["format"] not in FORMAT_NAMES:
        errors.append({"field": "export-format-gpkg", "message": _("Choose a format.")})
    period = None
    if values["from"] or values["to"]:
        period = f"{values['from'] or '..'}/{values['to'] or '..'}"
    try:
        query = list_query(
            collection.properties,
            collection.filters,
            bbox=values["bbox"] or None,
            datetime=period if collection.time else None,
            filters={
                name: ",".join(chosen) if chosen else None
                for name, chosen in values["filters"].items()
            },
        )
    except InvalidInput as error:
        field = str(error.loc[-1])
        target = {"datetime": "export-from", "bbox": "export-bbox"}.get(field)
        errors.append({"field": target or f"export-{field}", "message": error.message})
    for name, chosen in values["filters"].items():
        if not chosen:
            errors.append(
                {
                    "field": f"export-{name}",
                    "message": _("Tick at least one value of {name}.", name=name),
                }
            )
    if errors:
        return _form(request, values, errors, 422)
    job = await jobs.submit(
        session,
        principal,
        "export",
        {"collection": collection.name, "format": values["format"], "query": query_params(query)},
    )
    return pages.fragment(
        request, "exports/job.html", {"job": job, "collection": collection, "active": True}
    )


@router.get("/workspace/exports/jobs/{job_id}", response_class=HTMLResponse)
async def export_job(
    job_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    """The export's state; the download link once the worker has written the file."""
    job = await jobs.get_job(session, principal, job_id)
    if job.kind != "export" or job.owner_id != principal.user_id:
        raise NotFound(_("no such export (or it is not yours)"))
    collection = COLLECTIONS[job.params["collection"]]
    return pages.fragment(
        request,
        "exports/job.html",
        {"job": job, "collection": collection, "active": job.state in ACTIVE},
    )
