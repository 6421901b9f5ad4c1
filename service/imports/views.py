"""Routes for imports: upload a file (or preview it), follow the job, roll it back."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from geo.formats.registry import FORMATS, format_class
from service.access.policy import Principal
from service.auth.deps import PrincipalDep
from service.config import get_settings
from service.db import SessionDep
from service.enums import Classification, Role
from service.errors import InvalidInput
from service.i18n import _
from service.idempotency import IdempotentRoute
from service.imports import service
from service.imports.models import ImportJob, JobStatus
from service.imports.request import import_request
from service.imports.schemas import FormatOut, JobOut, PreviewOut, ProgressOut, said
from service.jobs import service as jobs
from service.jobs import views as jobs_views
from service.jobs.models import Job

router = APIRouter(prefix="/api/imports", tags=["imports"], route_class=IdempotentRoute)

_FIELDS: dict[str, dict[str, Any]] = {
    "file": {"type": "string", "format": "binary", "description": "The file (zip a shapefile)."},
    "collection": {"type": "string", "description": "Where the records go, e.g. incidents."},
    "format": {"type": "string", "description": "Only when detection gets it wrong."},
    "layer": {
        "type": "string",
        "description": "The layer of a GeoPackage, the sheet of a spreadsheet, or the folder of "
        "a KML (all folders at once when none is given).",
    },
    "mapping": {
        "type": "string",
        "description": 'JSON object, collection field -> file field or HXL tag (e.g. {"occurred_at": "date"}), '
        'one value for every record ({"site_type": {"value": "planned_camp"}}) or a column '
        'with a table of values ({"category": {"column": "Type", "values": {"Attaque": '
        '"attack_on_civilians"}}}).',
    },
    "source_crs": {
        "type": "string",
        "description": "CRS of a file that does not say, e.g. EPSG:32635.",
    },
    "encoding": {
        "type": "string",
        "description": "Text encoding of a CSV, only when detection gets it wrong, e.g. cp1252.",
    },
    "classification": {
        "type": "string",
        "enum": [c.value for c in Classification],
        "description": "Classification of the imported records (default mission).",
    },
    "origin": {"type": "string", "description": "System the file's ids belong to."},
    "dry_run": {"type": "boolean", "description": "Preview: check everything, write nothing."},
    "wait": {"type": "boolean", "description": "Answer when the import has finished."},
}
_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "collection"],
                    "properties": _FIELDS,
                }
            }
        },
    }
}


def job_out(job: ImportJob, principal: Principal) -> JobOut:
    out = JobOut.model_validate(job)
    if not principal.at_least(Role.admin):
        out.number = None
    percent = None
    if job.rows_total:
        percent = round(min(100.0, 100.0 * job.rows_read / job.rows_total), 1)
    if job.status == JobStatus.succeeded:
        percent = 100.0
    out.progress = ProgressOut(rows_read=job.rows_read, rows_total=job.rows_total, percent=percent)
    return out


def _text(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return None
    value = str(value).strip()
    return value or None


def _flag(form: Any, name: str) -> bool:
    value = _text(form, name)
    if value is None:
        return False
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(["body", name], _("{name} must be true or false", name=name))


def _import_request(form: Any) -> service.ImportRequest:
    return import_request(
        _text(form, "collection"),
        **{name: _text(form, name) for name in _REQUEST_FIELDS},
    )


#: Form fields that say what is imported (besides the collection).
_REQUEST_FIELDS = (
    "format",
    "layer",
    "mapping",
    "source_crs",
    "encoding",
    "classification",
    "origin",
)


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1024 * 1024):
        yield chunk


def _problem_detail(job: ImportJob) -> list[dict[str, Any]]:
    return [
        {
            "loc": ["body", "file", p["row"], p["field"]],
            "msg": said(p),
            "type": "value_error" if p["severity"] == "error" else "warning",
        }
        for p in job.problems
    ]


@router.post(
    "",
    summary="Import a file (or preview it with dry_run)",
    status_code=202,
    responses={
        200: {"model": PreviewOut, "description": "The preview (dry_run)."},
        201: {"model": JobOut, "description": "Imported (wait=true, a small file)."},
        202: {
            "model": JobOut,
            "description": "Accepted: a worker imports the file; follow the import at "
            "Location (and the job in the `Link` header). A large file's preview is a job too.",
        },
        429: {"description": "Too many jobs queued (`Retry-After` given)."},
        413: {"description": "File or zip too large."},
        415: {"description": "Not a format civop reads."},
        422: {"description": "The file cannot be imported; every problem with row and field."},
    },
    openapi_extra=_UPLOAD_DOC,
)
async def create_import(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    """Officers and admins upload a file into a collection."""
    settings = get_settings()
    service.check_writer(principal)  # before reading a byte of the upload
    limit = settings.import_max_upload_mb * 1024**2
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise service.PayloadTooLarge(
            f"the file is larger than {settings.import_max_upload_mb} MiB "
            "(CIVOP_IMPORT_MAX_UPLOAD_MB); split it or use the command line"
        )
    form = await request.form(max_files=1, max_fields=len(_FIELDS))
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise InvalidInput(["body", "file"], _("send the file as the multipart field 'file'"))
    import_request = _import_request(form)
    service.check_importer(principal, import_request)
    dry_run, wait = _flag(form, "dry_run"), _flag(form, "wait")
    upload = await service.receive(_chunks(file), file.filename or "upload", settings)
    detached = False
    # Small files may be previewed or imported while the request waits; anything else is
    # read, checked and merged by a worker process (``service.jobs``).
    inline = upload.size <= settings.jobs_import_inline_mb * 1024**2
    try:
        # A large file is opened by the worker too (opening some formats reads all of them).
        opened = await service.open_upload(upload, import_request, settings) if inline else None
        if dry_run and not inline:
            preview = await jobs.submit_upload(
                session, principal, "import_preview", upload, import_request
            )
            detached = True
            return jobs_views.accepted(request, preview, principal)
        if dry_run and opened is not None:
            report = await service.preview(session, opened, principal, import_request, settings)
            return JSONResponse(PreviewOut.model_validate(report).model_dump(mode="json"))
        if wait and opened is not None:
            job = await service.create_job(session, upload, opened, principal, import_request)
            job = await service.run(session, job, opened, principal, import_request, settings)
            body = job_out(job, principal).model_dump(mode="json")
            if job.status != JobStatus.succeeded:
                return JSONResponse({"detail": _problem_detail(job), "job": body}, 422)
            return JSONResponse(body, 201, headers=_location(request, job))
        # The job record and the worker's job are committed together: with an Idempotency-Key
        # in the request's transaction, with the key (committed before the answer, so before
        # the import runs); otherwise in a transaction of their own (on the primary). The
        # upload waits for the worker in the job's folder.
        keyed = getattr(request.state, "idempotency", None) is not None
        async with contextlib.AsyncExitStack() as stack:
            own = (
                session
                if keyed
                else await stack.enter_async_context(request.app.state.sessionmaker())
            )
            if opened is None:
                job = await service.create_queued_job(own, upload, principal, import_request)
            else:
                job = await service.create_job(
                    own, upload, opened, principal, import_request, queued=True
                )
            work = await jobs.submit_upload(
                own, principal, "import", upload, import_request, import_job=job
            )
        detached = True
        headers = {**_location(request, job), "Link": f'<{_job_url(request, work)}>; rel="job"'}
        return JSONResponse(job_out(job, principal).model_dump(mode="json"), 202, headers=headers)
    finally:
        if not detached:
            upload.discard()


def _job_url(request: Request, job: Job) -> str:
    return str(request.url_for("get_job", job_id=job.id))


def _location(request: Request, job: ImportJob) -> dict[str, str]:
    return {"Location": str(request.url_for("get_import", job_id=job.id))}


@router.get("/formats", response_model=list[FormatOut], summary="Formats civop reads and writes")
async def formats(principal: PrincipalDep) -> list[FormatOut]:
    """Every registered format plugin."""
    out = []
    for name in FORMATS:
        cls = format_class(name)
        out.append(
            FormatOut(
                name=name,
                title=cls.title,
                extensions=list(cls.extensions),
                read=cls.can_read,
                write=cls.can_write,
                collection=cls.preset.collection,
            )
        )
    return out


@router.get("", response_model=list[JobOut], summary="Recent imports (yours; an admin sees all)")
async def list_imports(
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[JobOut]:
    return [job_out(job, principal) for job in await service.list_jobs(session, principal, limit)]


@router.get("/{job_id}", response_model=JobOut, summary="One import: status, progress, problems")
async def get_import(job_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> JobOut:
    return job_out(await service.get_job(session, principal, job_id), principal)


@router.post(
    "/{job_id}/rollback",
    response_model=JobOut,
    summary="Undo an import: created records go, changed ones get their previous values",
    responses={202: {"description": "A large rollback: follow the job at `Location`."}},
)
async def rollback_import(
    job_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    settings = get_settings()
    job = await service.get_job(session, principal, job_id)
    if job.created + job.updated > settings.jobs_rollback_inline_rows:
        work = await jobs.submit(
            session, principal, "import_rollback", {"import_job_id": str(job.id)}
        )
        return jobs_views.accepted(request, work, principal)
    undone = await service.rollback(session, principal, job_id, settings)
    return JSONResponse(job_out(undone, principal).model_dump(mode="json"))
