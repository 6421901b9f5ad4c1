"""What each kind of job does, in the child process a worker starts for it.

Each handler gets the job's context (its principal rebuilt from the database, a session, the
folder to write its result in) and returns the result file, or raises ``CivopError`` with a
reason the user can act on. Handlers call the same service functions the API calls inline, so
the access rules apply exactly as they do there.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.access.policy import Principal
from service.config import Settings
from service.core.params import query_from_params
from service.errors import CivopError
from service.i18n import in_language

Progress = Callable[[int, int | None], Awaitable[None]]


@dataclass
class Context:
    job_id: uuid.UUID
    params: dict[str, Any]
    principal: Principal
    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    #: An empty folder for the result while it is written (renamed into place on success).
    partial: Path
    #: The job's own folder (an import's upload is kept there).
    home: Path
    progress: Progress


@dataclass
class Output:
    path: Path
    name: str
    media_type: str


Handler = Callable[[Context], Awaitable[Output]]


# --- exports -----------------------------------------------------------------------------------


async def export(context: Context) -> Output:
    from service.collections.registry import COLLECTIONS
    from service.exports import service

    collection = COLLECTIONS[context.params["collection"]]
    query = query_from_params(context.params["query"])
    async with context.sessionmaker() as session:
        total = await service.count_at_most(session, collection, context.principal, query, 10**12)
        await context.progress(0, total)
        with in_language(context.params.get("language") or "en"):
            exported = await service.export(
                session,
                collection,
                context.principal,
                query,
                context.params["format"],
                str(context.partial),
                progress=lambda done: context.progress(done, total),
            )
    await context.progress(total, total)
    return Output(exported.path, exported.filename, exported.media_type)


# --- reports -----------------------------------------------------------------------------------


async def report(context: Context) -> Output:
    from service.reports.files import Format, file_name, rendered
    from service.reports.service import ReportQuery, build_report

    params = context.params
    bbox = params.get("bbox")
    query = ReportQuery(
        kind=params["report"],
        sector=uuid.UUID(params["sector"]) if params.get("sector") else None,
        bbox=(bbox[0], bbox[1], bbox[2], bbox[3]) if bbox else None,
        start=datetime.fromisoformat(params["start"]) if params.get("start") else None,
        end=datetime.fromisoformat(params["end"]) if params.get("end") else None,
        verified_only=bool(params.get("verified_only", True)),
    )
    # The report in the language it was asked in (lang=, else the user's): its texts, dates
    # and numbers; built and rendered inside it.
    with in_language(params.get("language") or "en"):
        async with context.sessionmaker() as session:
            built = await build_report(session, context.principal, query)
        await context.progress(50, 100)
        fmt: Format = "pdf" if params.get("format") == "pdf" else "html"
        content, media_type = await rendered(built, fmt)
    name = file_name(built, fmt)
    path = context.partial / name
    path.write_bytes(content)
    return Output(path, name, media_type)


# --- imports -----------------------------------------------------------------------------------


def _import_request(params: dict[str, Any]) -> Any:
    from service.enums import Classification
    from service.imports.service import ImportRequest

    given = dict(params["request"])
    if given.get("classification"):
        given["classification"] = Classification(given["classification"])
    return ImportRequest(**given)


def upload_of(context: Context) -> Any:
    """The upload kept in the job's folder (read in place; unpacked into a fresh folder)."""
    from service.imports.service import Upload

    stored = context.home / "upload"
    path = next(stored.iterdir())
    work = context.home / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    upload = context.params["upload"]
    return Upload(path, upload["name"], upload["size"], upload["sha256"], work)


async def _opened(context: Context) -> tuple[Any, Any, Any]:
    from service.imports import service

    request = _import_request(context.params)
    upload = upload_of(context)
    opened = await service.open_upload(upload, request, context.settings)
    return request, upload, opened


def _json_output(context: Context, name: str, body: Any) -> Output:
    path = context.partial / name
    path.write_text(json.dumps(body, indent=1, default=str), encoding="utf-8")
    return Output(path, name, "application/json")


async def import_file(context: Context) -> Output:
    from service.imports import service
    from service.imports.models import ImportJob, JobStatus
    from service.imports.views import job_out

    request, upload, opened = await _opened(context)
    import_id = uuid.UUID(context.params["import_job_id"])
    async with context.sessionmaker() as session:
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == import_id)
            .values(
                **service.opened_values(opened, request),
                status=JobStatus.running,
                started_at=func.now(),
                heartbeat_at=func.now(),
            )
        )
        await session.commit()
        job = await session.scalar(select(ImportJob).where(ImportJob.id == import_id))
        assert job is not None
        writer = service.ProgressWriter(context.sessionmaker, import_id)
        total = opened.layer.info.count

        async def progress(rows: int) -> None:
            await writer(rows)
            await context.progress(rows, total)

        try:
            job = await service.run(
                session, job, opened, context.principal, request, context.settings, progress
            )
        except CivopError:
            raise
        finally:
            upload.discard()
        body = job_out(job, context.principal).model_dump(mode="json")
    if job.status != JobStatus.succeeded:
        raise CivopError(job.message or "the import failed; see its problems")
    shutil.rmtree(context.home / "upload", ignore_errors=True)
    return _json_output(context, f"import-{job.id}.json", body)


async def import_preview(context: Context) -> Output:
    from service.imports import service
    from service.imports.schemas import PreviewOut

    request, upload, opened = await _opened(context)
    try:
        async with context.sessionmaker() as session:
            report = await service.preview(
                session, opened, context.principal, request, context.settings
            )
    finally:
        upload.discard()
        shutil.rmtree(context.home / "upload", ignore_errors=True)
    body = PreviewOut.model_validate(report).model_dump(mode="json")
    return _json_output(context, "import-preview.json", body)


async def import_rollback(context: Context) -> Output:
    from service.imports import service
    from service.imports.views import job_out

    import_id = uuid.UUID(context.params["import_job_id"])
    async with context.sessionmaker() as session:
        job = await service.rollback(session, context.principal, import_id, context.settings)
        body = job_out(job, context.principal).model_dump(mode="json")
    return _json_output(context, f"import-{job.id}-rollback.json", body)


# --- analyses ----------------------------------------------------------------------------------


def _area_query(given: dict[str, Any]) -> Any:
    """An analysis's area query, as ``service.analysis.views.area_params`` wrote it, back."""
    from service.analysis.views import AreaQuery

    interval = given.get("interval")
    bbox = given.get("bbox")
    return AreaQuery(
        sector=uuid.UUID(given["sector"]) if given.get("sector") else None,
        bbox=(bbox[0], bbox[1], bbox[2], bbox[3]) if bbox else None,
        interval=(
            tuple(datetime.fromisoformat(t) if t else None for t in interval) if interval else None
        ),
        categories=given.get("categories"),
    )


AnalysisLayer = Callable[[AsyncSession, Principal, Any], Awaitable[str]]


async def _analysis(
    context: Context,
    name: str,
    layer: AnalysisLayer,
    *,
    require_area: bool = True,
    default_days: float = 90.0,
) -> Output:
    """An analysis the API handed over for its size: the same scope and the same service
    function as the route, the GeoJSON it would have answered written to ``name``.geojson."""
    area = _area_query(context.params["area"])
    async with context.sessionmaker() as session:
        scope = await area.scope(
            session, context.principal, require_area=require_area, default_days=default_days
        )
        body = await layer(session, context.principal, scope)
    path = context.partial / f"{name}.geojson"
    path.write_text(body, encoding="utf-8")
    return Output(path, f"{name}.geojson", "application/geo+json")


def _weighted(values: dict[str, Any]) -> dict[str, Any]:
    """Parameters read back from JSON: the severity weights as the tuple they were."""
    return {**values, "severity_weights": tuple(values["severity_weights"])}


async def emerging_hotspots(context: Context) -> Output:
    from service.analysis import service

    options = service.EmergingOptions(**context.params["options"])
    return await _analysis(
        context,
        "emerging-hotspots",
        lambda session, principal, scope: service.emerging_layer(
            session, principal, scope, options
        ),
        default_days=30.0,
    )


async def hotspots(context: Context) -> Output:
    from service.analysis import service

    options = service.HotspotOptions(**context.params["options"])
    return await _analysis(
        context,
        "hotspots",
        lambda session, principal, scope: service.hotspot_layer(session, principal, scope, options),
    )


async def risk(context: Context) -> Output:
    from geo.analysis.risk import RiskParameters
    from service.analysis import service

    parameters = RiskParameters(**_weighted(context.params["parameters"]))
    include_empty = bool(context.params["include_empty"])
    return await _analysis(
        context,
        "risk",
        lambda session, principal, scope: service.risk_layer(
            session, principal, scope, parameters, include_empty
        ),
    )


async def exposure(context: Context) -> Output:
    from geo.analysis.exposure import ExposureParameters
    from service.analysis import service

    parameters = ExposureParameters(**_weighted(context.params["parameters"]))
    limit = context.params.get("limit")
    return await _analysis(
        context,
        "exposure",
        lambda session, principal, scope: service.exposure_layer(
            session, principal, scope, parameters, limit
        ),
        require_area=False,
    )


# --- prints of the map ---------------------------------------------------------------------------


async def print_map(context: Context) -> Output:
    from service.prints.service import PrintRequest, make_print

    request = PrintRequest.model_validate(context.params)
    async with context.sessionmaker() as session:
        await context.progress(10, 100)
        path = await make_print(
            session, context.principal, request, context.settings, context.partial
        )
    media_type = "application/pdf" if request.format == "pdf" else "image/png"
    return Output(path, path.name, media_type)


HANDLERS: dict[str, Handler] = {
    "print": print_map,
    "exposure": exposure,
    "emerging_hotspots": emerging_hotspots,
    "hotspots": hotspots,
    "risk": risk,
    "export": export,
    "report": report,
    "import": import_file,
    "import_preview": import_preview,
    "import_rollback": import_rollback,
}
