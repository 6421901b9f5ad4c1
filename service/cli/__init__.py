"""The ``civop`` command line: database, demo, serving, users, API keys, imports, exports and
reports, one module per command group. Each command is a thin adapter over the service function
the HTTP API calls too: the same checks, the same refusals. It speaks its user's language
(``service.cli.language``)."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli import (
    basemap,
    database,
    demo,
    exports,
    imports,
    intake,
    keys,
    reports,
    serving,
    users,
    webhooks,
)
from service.cli.common import ROOT
from service.cli.language import CivopGroup, choose_language
from service.i18n import N_

__all__ = ["ROOT", "app"]

app = typer.Typer(
    cls=CivopGroup,
    help=N_("civop: the civilian operational picture service"),
    no_args_is_help=True,
)


@app.callback()
def language(
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help=N_(
                "The language civop speaks: en, fr or ar (default: the shell's, from "
                "LANGUAGE, LC_ALL, LC_MESSAGES or LANG)."
            ),
            is_eager=True,
            callback=choose_language,
        ),
    ] = None,
) -> None:
    """``--lang``, read by its callback before the other options (the app's help is the one
    given to the Typer above, not this)."""


app.add_typer(database.db_app, name="db")
app.add_typer(users.user_app, name="user")
app.add_typer(keys.key_app, name="apikey")
app.add_typer(webhooks.webhook_app, name="webhook")
app.add_typer(reports.report_app, name="report")
app.add_typer(basemap.app, name="basemap")
app.add_typer(intake.intake_app, name="intake-forms")
app.command("backup", help=database.BACKUP_HELP)(database.backup_database)
app.command("restore", help=database.RESTORE_HELP)(database.restore_database)
app.command("demo", help=demo.HELP)(demo.demo)
app.command("serve", help=serving.SERVE_HELP)(serving.serve)
app.command("worker", help=serving.WORKER_HELP)(serving.worker)
app.command("import", help=imports.HELP)(imports.import_file)
app.command("export", help=exports.HELP)(exports.export_file)
