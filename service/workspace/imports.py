"""The import wizard: drop a file, read its preview (format, layers, CRS, the mapping and how
each field was matched, every problem with its row and field, what would be new, changed or
unchanged), change the mapping and check again, import it, follow the import, roll it back.

Every step is the import service's (``service.imports``) and runs in the job worker: the page
only sends the file (kept as a draft, ``service.imports.drafts``) and the mapping, and shows
what the worker answers.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData, UploadFile

from service.access.actions import allowed
from service.access.policy import Principal
from service.auth.deps import PrincipalDep
from service.collections.registry import COLLECTIONS
from service.config import get_settings
from service.db import SessionDep
from service.enums import Classification
from service.errors import Conflict, InvalidInput, NotFound
from service.i18n import N_, _
from service.imports import drafts
from service.imports import service as imports
from service.imports.models import ImportJob, JobStatus
from service.imports.request import ImportRequest, import_request, parse_mapping
from service.imports.targets import NOT_IMPORTED, target_schema
from service.jobs import service as jobs
from service.jobs.models import ACTIVE, Job, JobState
from service.workspace import pages
from service.workspace.nav import NavEntry

router = APIRouter(tags=["Workspace"], include_in_schema=False)

NAV = [NavEntry(N_("Import a file"), "/workspace/imports", "import")]

#: How the preview says a field was matched, in the user's words.
MATCHED_BY = {
    "mapping": N_("chosen by you"),
    "constant": N_("one value for every record"),
    "value map": N_("a column with translated values"),
    "name": N_("same name"),
    "synonym": N_("a common synonym"),
    "hxl": N_("HXL hashtag"),
    "format": N_("known to the format"),
}
CRS_FROM = {
    "given": N_("given by you"),
    "file": N_("read from the file"),
    "format": N_("WGS 84 by definition of the format"),
}
STATUS = {
    "queued": N_("Waiting for the worker"),
    "running": N_("Importing"),
    "succeeded": N_("Imported"),
    "failed": N_("Not imported"),
    "rolled_back": N_("Rolled back"),
}
#: What a select offers besides the file's columns.
NOT_TAKEN = "@none"
CONSTANT = "@value"
#: Fields a file locates its records with, when it has no geometry of its own.
LOCATION = ("longitude", "latitude", "wkt")
#: Form fields that say what is imported, carried from step to step.
REQUEST_FIELDS = ("collection", "format", "layer", "source_crs", "encoding", "classification")


def importable_collections(principal: Principal) -> list[tuple[str, str]]:
    """(name, title) of the collections ``principal`` may import into."""
    return [
        (name, c.title)
        for name, c in COLLECTIONS.items()
        if allowed(principal, "import", collection=name)
    ]


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return None
    return str(value).strip() or None


def _request(form: FormData, mapping: dict[str, Any] | None) -> ImportRequest:
    values = {name: _text(form, name) for name in REQUEST_FIELDS if name != "collection"}
    return import_request(
        _text(form, "collection"),
        mapping=json.dumps(mapping) if mapping else None,
        **values,
    )


def _request_fields(request: ImportRequest) -> dict[str, str]:
    """The request as the hidden fields of the next step's form."""
    fields = {
        "collection": request.collection,
        "format": request.format or "",
        "layer": request.layer or "",
        "source_crs": request.source_crs or "",
        "encoding": request.encoding or "",
        "classification": str(request.classification) if request.classification else "",
    }
    return fields


def _error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _upload_form(
    request: Request,
    principal: Principal,
    errors: list[dict[str, str]] | None = None,
    status_code: int = 200,
    form: FormData | None = None,
) -> HTMLResponse:
    """The upload form; with errors, it takes the place of the form the user sent (what they
    chose is kept), and the step below it is emptied."""
    answer = pages.fragment(
        request,
        "imports/upload_form.html",
        {
            "collections": importable_collections(principal),
            "classifications": [c.value for c in Classification if c in principal.cleared_for],
            "errors": errors or [],
            "values": {name: _text(form, name) or "" for name in REQUEST_FIELDS} if form else {},
        },
        status_code=status_code,
    )
    if errors:
        answer.headers["HX-Retarget"] = "#import-upload"
        answer.headers["HX-Reswap"] = "outerHTML"
    return answer


@router.get("/workspace/imports", response_class=HTMLResponse)
async def imports_page(
    request: Request, session: SessionDep, principal: pages.PagePrincipal
) -> Response:
    """The wizard's first step, and the user's imports."""
    if principal is None:
        return pages.shell(request, "imports/index.html")
    imports.check_writer(principal)
    found = await imports.list_jobs(session, principal, 50)
    return pages.render(
        request,
        "imports/index.html",
        {
            "collections": importable_collections(principal),
            "classifications": [c.value for c in Classification if c in principal.cleared_for],
            "errors": [],
            "values": {},
            "imports": found,
            "status": STATUS,
        },
    )


async def _chunks(upload: UploadFile) -> Any:
    while chunk := await upload.read(1024 * 1024):
        yield chunk


@router.post("/workspace/imports/preview", response_class=HTMLResponse)
async def upload_file(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    """Keep the file as a draft and queue its first preview."""
    settings = get_settings()
    imports.check_writer(principal)  # before reading a byte of the upload
    form = await request.form(max_files=1, max_fields=len(REQUEST_FIELDS) + 2)
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return _upload_form(
            request,
            principal,
            [_error("import-file", _("Choose the file to import, or drop it on the page."))],
            422,
            form,
        )
    try:
        wanted = _request(form, None)
    except InvalidInput as error:
        return _upload_form(
            request, principal, [_error(f"import-{error.loc[-1]}", error.message)], 422, form
        )
    imports.check_importer(principal, wanted)
    try:
        draft = await drafts.create(_chunks(file), file.filename, principal, settings)
    except InvalidInput as error:
        return _upload_form(request, principal, [_error("import-file", error.message)], 422, form)
    job = await drafts.submit_preview(session, principal, draft, wanted, settings)
    return _waiting(request, draft, job, wanted)


def _waiting(
    request: Request, draft: drafts.Draft, job: Job, wanted: ImportRequest
) -> HTMLResponse:
    return pages.fragment(
        request,
        "imports/checking.html",
        {"draft": draft, "job": job, "mapping": json.dumps(wanted.mapping or {})},
    )


@router.get("/workspace/imports/drafts/{draft_id}/previews/{job_id}", response_class=HTMLResponse)
async def preview_step(
    draft_id: uuid.UUID,
    job_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """The preview once the worker has made it (the page asks until then)."""
    settings = get_settings()
    draft = drafts.get(principal, draft_id, settings)
    job = await jobs.get_job(session, principal, job_id)
    if job.kind != "import_preview" or job.owner_id != principal.user_id:
        raise imports_not_found()
    wanted = _from_params(job.params["request"])
    if job.state in ACTIVE:
        return _waiting(request, draft, job, wanted)
    if job.state != JobState.succeeded:
        # Refused before a record was read (a mapping, a layer, a CRS): said at the mapping
        # when there is one to fix, else at the file (its options are with it).
        last = _last_preview(draft)
        where = "import-mapping" if last else "import-file"
        return _preview(
            request,
            draft,
            last,
            wanted,
            [_error(where, job.error or _("The file could not be checked."))],
        )
    found = await jobs.result(session, principal, job_id)
    report: dict[str, Any] = json.loads(found.path.read_text(encoding="utf-8"))
    (draft.folder / "preview.json").write_text(json.dumps(report), encoding="utf-8")
    return _preview(request, draft, report, wanted, [])


def imports_not_found() -> Exception:
    return NotFound(_("no such preview (or it is not yours)"))


def _from_params(given: dict[str, Any]) -> ImportRequest:
    values = dict(given)
    if values.get("classification"):
        values["classification"] = Classification(values["classification"])
    return ImportRequest(**values)


def _last_preview(draft: drafts.Draft) -> dict[str, Any] | None:
    path = draft.folder / "preview.json"
    if not path.exists():
        return None
    found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return found


def _columns(report: dict[str, Any]) -> list[str]:
    """The file's fields, as the preview names them."""
    mapping = report["mapping"]
    constants = mapping.get("constants", {})
    columns: list[str] = []
    for target, source in mapping.get("fields", {}).items():
        if source and target not in constants and source not in columns:
            columns.append(source)
    for name in mapping.get("not_imported", []):
        if name not in columns:
            columns.append(name)
    return columns


def _rows(report: dict[str, Any], wanted: ImportRequest) -> list[dict[str, Any]]:
    """One row of the mapping table per field of the collection."""
    mapping = report["mapping"]
    fields = mapping.get("fields", {})
    constants = mapping.get("constants", {})
    value_maps = mapping.get("value_maps", {})
    how = mapping.get("matched_by", {})
    targets: list[tuple[str, bool, tuple[str, ...], bool]] = []
    if mapping.get("location") != "layer":
        targets += [(name, False, (), False) for name in LOCATION]
    for target in target_schema(wanted.collection).fields:
        if target.kind == "geometry" or target.name in NOT_IMPORTED:
            continue
        targets.append((target.name, True, target.choices, target.required))
    described = COLLECTIONS[wanted.collection].properties.model_fields
    rows = []
    for name, constant_ok, choices, required in targets:
        info = described.get(name)
        if name in constants:
            chosen = CONSTANT
        elif fields.get(name):
            chosen = fields[name]
        else:
            chosen = NOT_TAKEN
        values = value_maps.get(name, {}).get("values", {})
        rows.append(
            {
                "name": name,
                "chosen": chosen,
                "constant_ok": constant_ok,
                "constant": constants.get(name, ""),
                "values": "\n".join(f"{k} = {v}" for k, v in values.items()),
                "how": MATCHED_BY.get(how.get(name, ""), ""),
                "choices": choices,
                "required": required,
                "description": (info.description or "") if info is not None else "",
            }
        )
    return rows


def _preview(
    request: Request,
    draft: drafts.Draft,
    report: dict[str, Any] | None,
    wanted: ImportRequest,
    errors: list[dict[str, str]],
    status_code: int = 200,
) -> HTMLResponse:
    return pages.fragment(
        request,
        "imports/preview.html",
        {
            "draft": draft,
            "report": report,
            "rows": _rows(report, wanted) if report else [],
            "columns": _columns(report) if report else [],
            "request_fields": _request_fields(wanted),
            "mapping": json.dumps(wanted.mapping or {}),
            "errors": errors,
            "crs_from": CRS_FROM,
            "not_taken": NOT_TAKEN,
            "constant": CONSTANT,
        },
        status_code=status_code,
    )


def _value_map(text: str, field: str) -> dict[str, str]:
    """``file value = civop value`` lines as a table of values."""
    table: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        left, sep, right = line.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise InvalidInput(
                ["body", f"values-{field}"],
                _(
                    "Line {number} of the values for {field} is not 'value in the file = "
                    "value in civop'; write one such pair per line.",
                    number=number,
                    field=field,
                ),
            )
        table[left.strip()] = right.strip()
    return table


def _given_mapping(form: FormData) -> dict[str, Any] | None:
    """The mapping the previous step used, checked as the API checks one."""
    return parse_mapping(_text(form, "mapping"))


def mapping_of(form: FormData) -> dict[str, Any]:
    """The mapping the preview's form asks for: the mapping given before, with every field
    the user changed (a column, none, one value for all, translated values)."""
    given: dict[str, Any] = _given_mapping(form) or {}
    names = [str(k).removeprefix("source-") for k in form if str(k).startswith("source-")]
    for name in names:
        source = _text(form, f"source-{name}") or NOT_TAKEN
        was = _text(form, f"was-{name}") or NOT_TAKEN
        constant = _text(form, f"value-{name}")
        values = _value_map(_text(form, f"values-{name}") or "", name)
        if source == CONSTANT:
            if constant is None:
                raise InvalidInput(
                    ["body", f"value-{name}"],
                    _("Give the value every record gets for {field}.", field=name),
                )
            given[name] = {"value": constant}
        elif source == NOT_TAKEN:
            if was != NOT_TAKEN or name in given:
                given[name] = None
        elif values:
            given[name] = {"column": source, "values": values}
        elif source != was or name in given:
            given[name] = source
    return given


@router.post("/workspace/imports/drafts/{draft_id}/preview", response_class=HTMLResponse)
async def preview_again(
    draft_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Check the draft again with the mapping (and layer, CRS) of the preview's form."""
    settings = get_settings()
    imports.check_writer(principal)
    draft = drafts.get(principal, draft_id, settings)
    form = await request.form(max_files=0, max_fields=2000)
    try:
        wanted = _request(form, mapping_of(form))
    except InvalidInput as error:
        try:
            kept = _given_mapping(form)
        except InvalidInput:
            kept = None
        previous = _request(form, kept)
        return _preview(
            request,
            draft,
            _last_preview(draft),
            previous,
            [_error(f"import-{error.loc[-1]}", error.message)],
            422,
        )
    job = await drafts.submit_preview(session, principal, draft, wanted, settings)
    return _waiting(request, draft, job, wanted)


@router.post("/workspace/imports/drafts/{draft_id}/import", response_class=HTMLResponse)
async def import_draft(
    draft_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Import the draft as it was last previewed; the page goes to the import's own page."""
    settings = get_settings()
    imports.check_writer(principal)
    draft = drafts.get(principal, draft_id, settings)
    form = await request.form(max_files=0, max_fields=20)
    wanted = _request(form, _given_mapping(form))
    job, _work = await drafts.submit_import(session, principal, draft, wanted, settings)
    target = f"/workspace/imports/{job.id}"
    return HTMLResponse("", headers={"HX-Redirect": target, **pages.FRAGMENT_HEADERS})


async def _rollback_job(session: Any, principal: Principal, job: ImportJob) -> Job | None:
    """The latest rollback job of the import, if the user started one."""
    for work in await jobs.list_jobs(session, principal, limit=100):
        if work.kind == "import_rollback" and work.params.get("import_job_id") == str(job.id):
            return work
    return None


async def _job_context(session: Any, principal: Principal, job: ImportJob) -> dict[str, Any]:
    rollback = await _rollback_job(session, principal, job)
    rolling_back = rollback is not None and rollback.state in ACTIVE
    percent = None
    if job.rows_total:
        percent = round(min(100.0, 100.0 * job.rows_read / job.rows_total))
    if job.status == JobStatus.succeeded:
        percent = 100
    return {
        "job": job,
        "status": STATUS,
        "percent": percent,
        "rolling_back": rolling_back,
        "rollback_failed": rollback.error
        if rollback is not None and rollback.state == JobState.failed
        else None,
        "can_roll_back": job.status == JobStatus.succeeded
        and not rolling_back
        and allowed(principal, "import"),
        "active": job.status in (JobStatus.queued, JobStatus.running) or rolling_back,
    }


@router.get("/workspace/imports/{job_id}", response_class=HTMLResponse)
async def import_page(
    job_id: uuid.UUID, request: Request, session: SessionDep, principal: pages.PagePrincipal
) -> Response:
    """One import: its state while it runs, what it did, its problems; roll it back."""
    if principal is None:
        return pages.shell(request, "imports/job.html")
    job = await imports.get_job(session, principal, job_id)
    return pages.render(request, "imports/job.html", await _job_context(session, principal, job))


@router.get("/workspace/imports/{job_id}/status", response_class=HTMLResponse)
async def import_status(
    job_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    job = await imports.get_job(session, principal, job_id)
    context = await _job_context(session, principal, job)
    return pages.fragment(request, "imports/status.html", context)


@router.post("/workspace/imports/{job_id}/rollback", response_class=HTMLResponse)
async def rollback(
    job_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Queue the import's rollback in the worker."""
    imports.check_writer(principal)
    job = await imports.get_job(session, principal, job_id)
    if job.status != JobStatus.succeeded:
        raise Conflict(
            _(
                "only a finished import can be rolled back; this one is {status}",
                status=job.status,
            )
        )
    await jobs.submit(session, principal, "import_rollback", {"import_job_id": str(job.id)})
    job = await imports.get_job(session, principal, job_id)
    context = await _job_context(session, principal, job)
    return pages.fragment(request, "imports/status.html", context)
