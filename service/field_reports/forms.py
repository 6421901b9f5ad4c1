"""The intake forms: each KoboToolbox or ODK Central form whose submissions civop takes, with
its own token, the classification its reports get, the partner it belongs to and how its
fields fill an incident's. Admins manage them (``manage_intake_forms``)."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from geo.field_reports import INCIDENT_FIELDS
from service.access.policy import Principal
from service.access.sql import read_table, row_filter
from service.actors.models import Actor
from service.auth.security import hash_api_key
from service.core.records import act_as
from service.enums import Classification
from service.errors import Conflict, InvalidInput, NotFound
from service.field_reports.models import IntakeForm, IntakeSubmission
from service.i18n import _

#: What a form's answer says of it (never its token's hash).
SHOWN = (
    "id",
    "form_id",
    "title",
    "default_classification",
    "owner_actor_id",
    "field_mapping",
    "created_at",
    "created_by",
    "disabled_at",
)
#: Mapping keys besides the incident's fields: where the location is read from.
LOCATION_KEYS = ("location",)


def new_token() -> str:
    """A form's token: 256 random bits, shown once; civop keeps its SHA-256."""
    return secrets.token_urlsafe(32)


def check_mapping(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A form's field mapping in the import's terms (a form field's name, ``{"value": ...}`` or
    ``{"column": ..., "values": {...}}``), refused with what to fix."""
    if not isinstance(mapping, Mapping):
        raise InvalidInput(["body", "field_mapping"], _("field_mapping must be an object"))
    known = (*INCIDENT_FIELDS, *LOCATION_KEYS)
    for target, spec in mapping.items():
        where = ["body", "field_mapping", target]
        if target not in known or target == "external_id":
            allowed = ", ".join(k for k in known if k != "external_id")
            raise InvalidInput(
                where,
                _(
                    "{target!r} is no incident field a form fills; use: {allowed}",
                    target=target,
                    allowed=allowed,
                ),
            )
        if isinstance(spec, str) and spec:
            continue
        if isinstance(spec, Mapping) and set(spec) == {"value"} and target not in LOCATION_KEYS:
            continue
        if (
            isinstance(spec, Mapping)
            and "column" in spec
            and set(spec) <= {"column", "values"}
            and isinstance(spec["column"], str)
            and isinstance(spec.get("values", {}), Mapping)
        ):
            continue
        raise InvalidInput(
            where,
            _(
                "give a form field's name, {value} or {column}",
                value='{"value": ...}',
                column='{"column": ..., "values": {...}}',
            ),
        )
    return dict(mapping)


def _shown(form: IntakeForm) -> dict[str, Any]:
    return {name: getattr(form, name) for name in SHOWN}


async def _check_owner(
    session: AsyncSession, principal: Principal, owner_actor_id: uuid.UUID | None
) -> None:
    if owner_actor_id is None:
        return
    actors: Table = Actor.__table__  # type: ignore[assignment]
    found = await session.scalar(
        select(actors.c.id).where(actors.c.id == owner_actor_id, row_filter(actors, principal))
    )
    if found is None:
        raise InvalidInput(
            ["body", "owner_actor_id"],
            _("owner_actor_id names no actor: {actor}", actor=owner_actor_id),
        )


async def create_form(
    session: AsyncSession,
    principal: Principal,
    *,
    form_id: str,
    title: str,
    default_classification: Classification = Classification.mission,
    owner_actor_id: uuid.UUID | None = None,
    field_mapping: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], str]:
    """Register a form; returns it and its token (shown this once)."""
    read_table(IntakeForm.__table__, principal)  # type: ignore[arg-type]
    mapping = check_mapping(field_mapping or {})
    await _check_owner(session, principal, owner_actor_id)
    token = new_token()
    form = IntakeForm(
        form_id=form_id,
        title=title,
        token_hash=hash_api_key(token),
        default_classification=Classification(default_classification).value,
        owner_actor_id=owner_actor_id,
        field_mapping=mapping,
    )
    await act_as(session, principal)
    session.add(form)
    try:
        await session.flush()
    except IntegrityError as error:
        await session.rollback()
        raise Conflict(
            _("a form with the id {form_id!r} is registered already", form_id=form_id)
        ) from error
    await session.refresh(form)
    shown = _shown(form)
    await session.commit()
    return shown, token


async def list_forms(session: AsyncSession, principal: Principal) -> list[dict[str, Any]]:
    """Every registered form, newest first (without tokens)."""
    read_table(IntakeForm.__table__, principal)  # type: ignore[arg-type]
    forms = await session.scalars(select(IntakeForm).order_by(IntakeForm.created_at.desc()))
    return [_shown(f) for f in forms]


async def _form(session: AsyncSession, form_key: uuid.UUID) -> IntakeForm:
    form = await session.get(IntakeForm, form_key)
    if form is None:
        raise NotFound(_("no such intake form: {form}", form=form_key))
    return form


async def rotate_token(session: AsyncSession, principal: Principal, form_key: uuid.UUID) -> str:
    """A new token for a form; the old one stops working at once."""
    read_table(IntakeForm.__table__, principal)  # type: ignore[arg-type]
    await _form(session, form_key)
    token = new_token()
    await session.execute(
        update(IntakeForm).where(IntakeForm.id == form_key).values(token_hash=hash_api_key(token))
    )
    await session.commit()
    return token


async def disable_form(
    session: AsyncSession, principal: Principal, form_key: uuid.UUID
) -> dict[str, Any]:
    """Stop taking a form's submissions (its reports stay)."""
    read_table(IntakeForm.__table__, principal)  # type: ignore[arg-type]
    await _form(session, form_key)
    await session.execute(
        update(IntakeForm)
        .where(IntakeForm.id == form_key, IntakeForm.disabled_at.is_(None))
        .values(disabled_at=func.now())
    )
    await session.commit()
    form = await _form(session, form_key)
    await session.refresh(form)
    return _shown(form)


async def submission_counts(session: AsyncSession, principal: Principal) -> dict[uuid.UUID, int]:
    """How many submissions each form has delivered (a figure per form, no submission's
    content): for the forms' administration."""
    read_table(IntakeForm.__table__, principal)  # type: ignore[arg-type]
    rows = await session.execute(
        select(IntakeSubmission.form_id, func.count()).group_by(IntakeSubmission.form_id)
    )
    return {form_key: int(count) for form_key, count in rows.tuples()}


async def owner_choices(session: AsyncSession, principal: Principal) -> list[tuple[uuid.UUID, str]]:
    """The actors a form may belong to, as the admin sees them: (id, name), by name."""
    read_table(IntakeForm.__table__, principal)  # type: ignore[arg-type]
    actors: Table = Actor.__table__  # type: ignore[assignment]
    rows = await session.execute(
        select(actors.c.id, actors.c.name)
        .where(actors.c.deleted_at.is_(None), row_filter(actors, principal))
        .order_by(actors.c.name)
    )
    return [(row.id, row.name) for row in rows]


def mapping_from_lines(text: str) -> dict[str, Any]:
    """A field mapping written a line each, ``civop field = form field`` (or ``= {"value":
    ...}``, ``= {"column": ..., "values": {...}}`` in JSON), checked as :func:`check_mapping`
    checks the API's. Blank lines and lines starting with ``#`` are skipped."""
    mapping: dict[str, Any] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        target, equals, source = (part.strip() for part in line.partition("="))
        if not equals or not target or not source:
            raise InvalidInput(
                ["body", "field_mapping"],
                _(
                    "line {line}: write civop field = form field, e.g. {example}",
                    line=number,
                    example="occurred_at = date_incident",
                ),
            )
        if target in mapping:
            raise InvalidInput(
                ["body", "field_mapping"],
                _("line {line}: {target} is mapped twice", line=number, target=target),
            )
        spec: Any = source
        if source.startswith("{"):
            try:
                spec = json.loads(source)
            except ValueError as error:
                raise InvalidInput(
                    ["body", "field_mapping"],
                    _("line {line}: the value is not JSON: {error}", line=number, error=error),
                ) from error
        mapping[target] = spec
    return check_mapping(mapping)


def mapping_as_lines(mapping: Mapping[str, Any]) -> str:
    """A field mapping as :func:`mapping_from_lines` reads it."""
    return "\n".join(
        f"{target} = {spec if isinstance(spec, str) else json.dumps(spec, ensure_ascii=False)}"
        for target, spec in mapping.items()
    )
