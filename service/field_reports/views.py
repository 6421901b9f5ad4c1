"""Routes of field reports: the intake a form's server posts to, the forms' administration, and
the judgements of reports (verify, discredit, likely duplicates, merge, dismiss)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from service.auth.deps import PrincipalDep
from service.db import SessionDep
from service.enums import Classification, VerificationState
from service.errors import InvalidInput
from service.field_reports import forms, intake, judgements
from service.i18n import _, format_number

router = APIRouter(tags=["Field reports"])

#: A submission is a few kilobytes; a body larger than this is no submission.
MAX_BODY = 1_000_000


def _token(authorization: str | None, form_token: str | None) -> str | None:
    """The form's token: ``X-Civop-Form-Token``, ``Authorization: Bearer``, or the password of
    ``Authorization: Basic`` (KoboToolbox's REST services send Basic or custom headers)."""
    if form_token:
        return form_token
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


@router.post(
    "/api/intake/{form_id}",
    summary="Take a form's submission (KoboToolbox REST service, ODK Central webhook)",
    description="Post one submission as JSON: KoboToolbox's REST service JSON, or an ODK Central "
    "webhook event (`submission.create`, its data as JSON or XML). Authenticated by the form's "
    "own token (`X-Civop-Form-Token`, `Authorization: Bearer`, or the password of Basic). The "
    "report is stored as a *reported* incident; a submission delivered again creates nothing "
    "(200, the same incident id). See docs/field-reports.md.",
    status_code=201,
    responses={
        200: {"description": "Delivered before: nothing created."},
        401: {"description": "No such form, a disabled form, or a wrong token for it."},
    },
)
async def take_submission(
    form_id: str,
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Header()] = None,
    x_civop_form_token: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    token = _token(authorization, x_civop_form_token)
    # The token is checked before the body is read.
    await intake.form_by_token(session, form_id, token)
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidInput(
            ["body"], _("a submission is at most {most} bytes", most=format_number(MAX_BODY))
        )
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise InvalidInput(["body"], _("the body is not JSON: {error}", error=error)) from error
    received = await intake.receive(session, form_id, token, payload)
    return JSONResponse(
        {
            "incident_id": str(received.incident_id) if received.incident_id else None,
            "submission_id": received.submission_id,
            "created": received.created,
        },
        status_code=201 if received.created else 200,
    )


class IntakeFormIn(BaseModel):
    form_id: str = Field(
        min_length=1,
        max_length=200,
        description="The form's id in its server: KoboToolbox's asset uid, ODK's xmlFormId.",
    )
    title: str = Field(min_length=1, max_length=500)
    default_classification: Classification = Classification.mission
    owner_actor_id: uuid.UUID | None = Field(
        None, description="The partner the form belongs to: its reports are theirs to see."
    )
    field_mapping: dict[str, Any] = Field(
        default_factory=dict,
        description='Incident field -> form field, `{"value": ...}` or `{"column": ..., '
        '"values": {...}}`, as an import\'s mapping; `location` names the geopoint.',
    )


@router.post("/api/intake-forms", summary="Register an intake form (admins)", status_code=201)
async def register_form(
    body: IntakeFormIn, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    shown, token = await forms.create_form(session, principal, **body.model_dump())
    return {**shown, "token": token}


@router.get("/api/intake-forms", summary="The intake forms (admins)")
async def intake_forms(session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    return await forms.list_forms(session, principal)


@router.post("/api/intake-forms/{form_key}/token", summary="Issue a new token for a form")
async def new_form_token(
    form_key: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> dict[str, str]:
    return {"token": await forms.rotate_token(session, principal, form_key)}


@router.post("/api/intake-forms/{form_key}/disable", summary="Stop taking a form's submissions")
async def disable_form(
    form_key: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return await forms.disable_form(session, principal, form_key)


class JudgementIn(BaseModel):
    reason: str | None = Field(
        None, max_length=2000, description="Why (required to discredit a report)."
    )


class MergeIn(BaseModel):
    duplicate_id: uuid.UUID = Field(description="The report merged into this incident.")


class DismissIn(BaseModel):
    reason: str | None = Field(None, max_length=2000)


def _feature(feature: str) -> Response:
    return Response(feature, media_type="application/geo+json")


def _judgement_route(action: str, state: VerificationState, summary: str) -> None:
    """``POST /api/incidents/{incident_id}/<action>``: the report judged ``state``, with the
    body's reason; the answer is the report as its feature."""

    async def judge(
        incident_id: uuid.UUID, body: JudgementIn, session: SessionDep, principal: PrincipalDep
    ) -> Response:
        return _feature(await judgements.judge(session, principal, incident_id, state, body.reason))

    router.add_api_route(
        f"/api/incidents/{{incident_id}}/{action}",
        judge,
        methods=["POST"],
        name=action,
        summary=summary,
        response_class=Response,
    )


_judgement_route(
    "verify", VerificationState.verified, "Verify a report (analysts, officers, admins)"
)
_judgement_route(
    "discredit",
    VerificationState.discredited,
    "Discredit a report, saying why (analysts, officers, admins)",
)


@router.get(
    "/api/incidents/{incident_id}/duplicates",
    summary="Likely duplicates of a report, with their score and reasons",
)
async def likely_duplicates(
    incident_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    found = await judgements.candidates(session, principal, incident_id)
    return {"incident_id": str(incident_id), "candidates": found}


@router.post(
    "/api/incidents/{incident_id}/merge",
    summary="Merge a duplicate report into this incident, which keeps every source",
    response_class=Response,
)
async def merge(
    incident_id: uuid.UUID, body: MergeIn, session: SessionDep, principal: PrincipalDep
) -> Response:
    return _feature(await judgements.merge(session, principal, incident_id, body.duplicate_id))


@router.post(
    "/api/incidents/{incident_id}/duplicates/{candidate_id}/dismiss",
    summary="Judge a candidate not to be a duplicate of this report",
    status_code=204,
)
async def dismiss(
    incident_id: uuid.UUID,
    candidate_id: uuid.UUID,
    body: DismissIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    await judgements.dismiss(session, principal, incident_id, candidate_id, body.reason)
    return Response(status_code=204)


@router.get(
    "/api/incidents/{incident_id}/sources",
    summary="Every source of an incident, its own and its merged duplicates', with grading",
)
async def incident_sources(
    incident_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return {
        "incident_id": str(incident_id),
        "sources": await judgements.sources(session, principal, incident_id),
    }
