"""Taking a form's submission: the form's token checked, the delivery recognised when it was
seen before (KoboToolbox retries after 60, 600 and 6,000 s), the submission's fields mapped to
an incident's by the form's mapping, and the incident stored as *reported* at the form's
classification (raised to its category's floor) through the same write as every record."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Any

from geojson_pydantic import Point
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from geo.field_reports import SubmissionProblem, location_of, map_fields, read_submission
from service.access.policy import Principal
from service.auth.security import hash_api_key
from service.core.records import create_feature
from service.enums import Role, VerificationState
from service.errors import InvalidInput, Unauthorized
from service.field_reports.models import IntakeForm, IntakeSubmission
from service.i18n import _
from service.incidents.collection import INCIDENTS
from service.incidents.schemas import IncidentProperties

REFUSED = "unknown form or wrong token for it"


@dataclass(frozen=True)
class Received:
    """What the intake answers a delivery: the incident it made, and whether this delivery
    made it (``False`` for a retried delivery of a submission already taken)."""

    incident_id: uuid.UUID | None
    submission_id: str
    created: bool


async def form_by_token(session: AsyncSession, form_id: str, token: str | None) -> IntakeForm:
    """The live form ``form_id`` if ``token`` is its token; one refusal for every other case."""
    form = await session.scalar(select(IntakeForm).where(IntakeForm.form_id == form_id))
    expected = form.token_hash if form is not None else hash_api_key("no form")
    if not token or not hmac.compare_digest(expected, hash_api_key(token)):
        raise Unauthorized(REFUSED)
    if form is None or form.disabled_at is not None:
        raise Unauthorized(REFUSED)
    return form


def writer_of(form: IntakeForm) -> Principal:
    """Who a form writes as: itself, for the partner it belongs to, cleared to store a report
    at its category's floor (never a reader: it is told only the incident's id)."""
    return Principal(
        username=f"form:{form.form_id}",
        role=Role.officer,
        cleared_restricted=True,
        actor_id=form.owner_actor_id,
    )


def _properties(form: IntakeForm, fields: dict[str, Any], server: str, submission_id: str) -> Any:
    values = map_fields(fields, form.field_mapping)
    values.setdefault("source", form.title)
    values.update(
        classification=form.default_classification,
        origin=server,
        external_id=submission_id[:256],
    )
    try:
        return IncidentProperties.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "body"
        source = form.field_mapping.get(name, name)
        where = source if isinstance(source, str) else name
        raise InvalidInput(
            ["body", where],
            _(
                "{name}: {problem} (value {value!r}); check the form's field or the form's "
                "mapping in civop",
                name=name,
                problem=first["msg"],
                value=str(values.get(name))[:80],
            ),
        ) from error


async def receive(session: AsyncSession, form_id: str, token: str | None, payload: Any) -> Received:
    """Take one delivery of a submission to ``form_id``."""
    form = await form_by_token(session, form_id, token)
    try:
        submission = read_submission(payload)
    except SubmissionProblem as problem:
        raise InvalidInput(["body", problem.field], str(problem)) from problem
    if submission.form_id is not None and submission.form_id != form.form_id:
        raise InvalidInput(
            ["body", "_xform_id_string"],
            _(
                "the submission is of form {given!r}, posted to {form!r}: "
                "post each form's submissions to its own address",
                given=submission.form_id,
                form=form.form_id,
            ),
        )
    incident_id = uuid.uuid4()
    kept = await session.scalar(
        insert(IntakeSubmission)
        .values(
            form_id=form.id,
            submission_id=submission.submission_id,
            incident_id=incident_id,
            payload=payload,
        )
        .on_conflict_do_nothing(index_elements=["form_id", "submission_id"])
        .returning(IntakeSubmission.id)
    )
    if kept is None:
        # Delivered before (a retry, or the phone sent it twice): nothing more is created.
        await session.execute(
            update(IntakeSubmission)
            .where(
                IntakeSubmission.form_id == form.id,
                IntakeSubmission.submission_id == submission.submission_id,
            )
            .values(deliveries=IntakeSubmission.deliveries + 1)
        )
        known = await session.scalar(
            select(IntakeSubmission.incident_id).where(
                IntakeSubmission.form_id == form.id,
                IntakeSubmission.submission_id == submission.submission_id,
            )
        )
        await session.commit()
        return Received(known, submission.submission_id, created=False)
    try:
        properties = _properties(
            form, submission.fields, submission.server, submission.submission_id
        )
    except InvalidInput:
        await session.rollback()  # the submission is not kept: a corrected one may follow
        raise
    point = location_of(submission.fields, form.field_mapping.get("location"))
    if point is None:
        await session.rollback()
        raise InvalidInput(
            ["body", "location"],
            _(
                "the submission has no location: add a geopoint question (named location) to "
                "the form, or name it in the form's mapping"
            ),
        )
    fixed = {
        "id": incident_id,
        "verification_state": VerificationState.reported.value,
        "reporting_actor_id": form.owner_actor_id,
    }
    # The submission row and the incident are committed together by the write.
    await create_feature(
        session,
        INCIDENTS,
        writer_of(form),
        properties,
        Point(type="Point", coordinates=point),
        fixed=fixed,
    )
    return Received(incident_id, submission.submission_id, created=True)
