"""The ``civop`` command line: database, demo, serving, users, API keys, imports, exports and
reports, one module per command group. Each command is a thin adapter over the service function
the HTTP API calls too: the same checks, the same refusals."""

from __future__ import annotations

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

__all__ = ["ROOT", "app"]

app = typer.Typer(help="civop: the civilian operational picture service", no_args_is_help=True)
app.add_typer(database.db_app, name="db")
app.add_typer(users.user_app, name="user")
app.add_typer(keys.key_app, name="apikey")
app.add_typer(webhooks.webhook_app, name="webhook")
app.add_typer(reports.report_app, name="report")
app.add_typer(basemap.app, name="basemap")
app.add_typer(intake.intake_app, name="intake-forms")
app.command("backup")(database.backup_database)
app.command("restore")(database.restore_database)
app.command("demo")(demo.demo)
app.command("serve")(serving.serve)
app.command("worker")(serving.worker)
app.command("import")(imports.import_file)
app.command("export")(exports.export_file)
