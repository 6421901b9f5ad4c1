"""``civop intake-forms ...``: the KoboToolbox and ODK Central forms whose submissions civop
takes (docs/field-reports.md); the same service functions as ``/api/intake-forms``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli.common import cli_principal, with_session
from service.i18n import N_, _

intake_app = typer.Typer(help=N_("Intake forms (KoboToolbox, ODK Central)"), no_args_is_help=True)

UserOption = Annotated[str | None, typer.Option(help=N_("Act as this user (an admin)."))]
FormArgument = Annotated[uuid.UUID, typer.Argument(help=N_("The form's id in civop."))]


@intake_app.command("add", help=N_("Register a form; its token is shown once."))
def add(
    form_id: Annotated[str, typer.Argument(help=N_("KoboToolbox's asset uid or ODK's xmlFormId."))],
    title: Annotated[str, typer.Option(help=N_("What the form is, as analysts see it."))],
    classification: Annotated[str, typer.Option(help=N_("public, mission or restricted."))] = (
        "mission"
    ),
    owner: Annotated[
        uuid.UUID | None, typer.Option(help=N_("The partner (actor id) the form belongs to."))
    ] = None,
    mapping: Annotated[
        str, typer.Option(help=N_("Field mapping as JSON, as an import's (docs/imports.md)."))
    ] = "{}",
    user: UserOption = None,
) -> None:
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
    typer.echo(_("form:  {id} ({form_id})", id=shown["id"], form_id=form_id))
    typer.echo(_("token: {token}", token=token))
    typer.echo(_("(store the token now: it is not shown again)"))


@intake_app.command("list", help=N_("The registered forms."))
def list_forms(user: UserOption = None) -> None:
    from service.field_reports import forms

    async def work(session: Any) -> list[dict[str, Any]]:
        return await forms.list_forms(session, await cli_principal(session, user))

    for form in with_session(work):
        state = _("disabled") if form["disabled_at"] else _("taking submissions")
        typer.echo(
            f"{form['id']}  {form['form_id']}  {form['title']!r}  "
            f"{form['default_classification']}  {state}"
        )


@intake_app.command("token", help=N_("Issue a new token for a form (the old one stops working)."))
def token(form: FormArgument, user: UserOption = None) -> None:
    from service.field_reports import forms

    async def work(session: Any) -> str:
        return await forms.rotate_token(session, await cli_principal(session, user), form)

    typer.echo(_("token: {token}", token=with_session(work)))
    typer.echo(_("(store the token now: it is not shown again)"))


@intake_app.command("disable", help=N_("Stop taking a form's submissions (its reports stay)."))
def disable(form: FormArgument, user: UserOption = None) -> None:
    from service.field_reports import forms

    async def work(session: Any) -> dict[str, Any]:
        return await forms.disable_form(session, await cli_principal(session, user), form)

    with_session(work)
    typer.echo(_("form {id} disabled", id=form))


@intake_app.command(
    "xlsform",
    help=N_("Write civop's incident report form (XLSForm) for KoboToolbox or ODK Central."),
)
def xlsform(
    path: Annotated[Path, typer.Argument(help=N_("The .xlsx file to write."))],
) -> None:
    from service.field_reports import xlsform as form

    typer.echo(_("written {file}", file=form.write(path)))
