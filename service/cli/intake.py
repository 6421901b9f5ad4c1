"""``civop intake-forms ...``: the KoboToolbox and ODK Central forms whose submissions civop
takes (docs/field-reports.md); the same service functions as ``/api/intake-forms``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli.common import cli_principal, with_session

intake_app = typer.Typer(help="Intake forms (KoboToolbox, ODK Central)", no_args_is_help=True)

UserOption = Annotated[str | None, typer.Option(help="Act as this user (an admin).")]


@intake_app.command("add")
def add(
    form_id: Annotated[str, typer.Argument(help="KoboToolbox's asset uid or ODK's xmlFormId.")],
    title: Annotated[str, typer.Option(help="What the form is, as analysts see it.")],
    classification: Annotated[str, typer.Option(help="public, mission or restricted.")] = (
        "mission"
    ),
    owner: Annotated[
        uuid.UUID | None, typer.Option(help="The partner (actor id) the form belongs to.")
    ] = None,
    mapping: Annotated[
        str, typer.Option(help="Field mapping as JSON, as an import's (docs/imports.md).")
    ] = "{}",
    user: UserOption = None,
) -> None:
    """Register a form; its token is shown once."""
    from service.enums import Classification
    from service.field_reports import forms

    async def work(session: Any) -> tuple[dict[str, Any], str]:
        principal = await cli_principal(session, user)
        return await forms.create_form(
            session,
            principal,
            form_id=form_id,
            title=title,
            default_classification=Classification(classification),
            owner_actor_id=owner,
            field_mapping=json.loads(mapping),
        )

    shown, token = with_session(work)
    typer.echo(
        f"form:  {shown['id']} ({form_id})\ntoken: {token}\n(store it now: it is not shown again)"
    )


@intake_app.command("list")
def list_forms(user: UserOption = None) -> None:
    """The registered forms."""
    from service.field_reports import forms

    async def work(session: Any) -> list[dict[str, Any]]:
        return await forms.list_forms(session, await cli_principal(session, user))

    for form in with_session(work):
        state = "disabled" if form["disabled_at"] else "taking submissions"
        typer.echo(
            f"{form['id']}  {form['form_id']}  {form['title']!r}  "
            f"{form['default_classification']}  {state}"
        )


@intake_app.command("token")
def token(form: uuid.UUID, user: UserOption = None) -> None:
    """Issue a new token for a form (the old one stops working)."""
    from service.field_reports import forms

    async def work(session: Any) -> str:
        return await forms.rotate_token(session, await cli_principal(session, user), form)

    typer.echo(f"token: {with_session(work)}\n(store it now: it is not shown again)")


@intake_app.command("disable")
def disable(form: uuid.UUID, user: UserOption = None) -> None:
    """Stop taking a form's submissions (its reports stay)."""
    from service.field_reports import forms

    async def work(session: Any) -> dict[str, Any]:
        return await forms.disable_form(session, await cli_principal(session, user), form)

    with_session(work)
    typer.echo(f"form {form} disabled")


@intake_app.command("xlsform")
def xlsform(path: Path) -> None:
    """Write civop's incident report form (XLSForm) for KoboToolbox or ODK Central."""
    from service.field_reports import xlsform as form

    typer.echo(f"written {form.write(path)}")
