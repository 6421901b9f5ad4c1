"""``/api/jobs``: follow, cancel, retry heavy work, and fetch its result."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from service.access.policy import Principal
from service.auth.deps import PrincipalDep
from service.db import SessionDep
from service.enums import Role
from service.jobs import service
from service.jobs.models import Job, JobState
from service.jobs.schemas import JobOut, JobProgress

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


def job_out(request: Request, job: Job, principal: Principal) -> JobOut:
    """The job as ``principal`` sees it: the link to the result only for its owner."""
    links = {"self": str(request.url_for("get_job", job_id=job.id))}
    import_id = job.params.get("import_job_id")
    if import_id:
        links["import"] = str(request.url_for("get_import", job_id=import_id))
    result = None
    mine = job.owner_id is not None and job.owner_id == principal.user_id
    if mine and job.state == JobState.succeeded and job.result_name and job.expired_at is None:
        result = str(request.url_for("get_job_result", job_id=job.id))
        links["result"] = result
    return JobOut(
        id=job.id,
        number=job.number if principal.at_least(Role.admin) else None,
        kind=job.kind,
        state=job.state,
        progress=JobProgress(**service.progress_of(job)),
        owner=job.owner,
        attempts=job.attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
        error=job.error,
        result=result,
        result_name=job.result_name,
        result_media_type=job.result_media_type,
        result_size=job.result_size,
        links=links,
        actions=service.job_actions(principal, job),
    )


def accepted(request: Request, job: Job, principal: Principal) -> JSONResponse:
    """``202 Accepted`` with the job, and its address in ``Location``."""
    body = job_out(request, job, principal).model_dump(mode="json")
    return JSONResponse(body, 202, headers={"Location": body["links"]["self"]})


@router.get("", response_model=list[JobOut], summary="Your jobs (an admin sees everyone's)")
async def list_jobs(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    state: Annotated[
        Literal["queued", "running", "succeeded", "failed", "cancelled"] | None, Query()
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[JobOut]:
    jobs = await service.list_jobs(session, principal, limit=limit, state=state)
    return [job_out(request, job, principal) for job in jobs]


@router.get("/{job_id}", response_model=JobOut, summary="One job: state, progress, result")
async def get_job(
    job_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> JobOut:
    return job_out(request, await service.get_job(session, principal, job_id), principal)


@router.delete(
    "/{job_id}",
    response_model=JobOut,
    summary="Cancel a queued or running job",
    responses={409: {"description": "The job has already finished."}},
)
async def cancel_job(
    job_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> JobOut:
    return job_out(request, await service.cancel(session, principal, job_id), principal)


@router.post(
    "/{job_id}/retry",
    status_code=202,
    response_model=JobOut,
    summary="Queue a failed or cancelled job again",
    responses={429: {"description": "Too many jobs queued (`Retry-After` given)."}},
)
async def retry_job(
    job_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> Response:
    return accepted(request, await service.retry(session, principal, job_id), principal)


@router.get(
    "/{job_id}/result",
    summary="The file a finished job made (its owner only)",
    response_class=Response,
    responses={
        200: {"description": "The export, report or import report."},
        409: {"description": "The job has not succeeded."},
        410: {"description": "The result was removed after the retention time."},
    },
)
async def get_job_result(
    job_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    found = await service.result(session, principal, job_id)
    return FileResponse(
        found.path,
        media_type=found.media_type,
        filename=found.name,
        headers={"Cache-Control": "private, no-store"},
    )
