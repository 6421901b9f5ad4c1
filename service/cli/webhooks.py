"""``civop webhook ...``: the addresses new alerts are POSTed to, as admins set them in the
browser (``service.alerts.webhooks``)."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from service.cli.common import cli_principal, with_session
from service.i18n import N_, _

webhook_app = typer.Typer(help=N_("Alert webhooks"), no_args_is_help=True)
WebhookArgument = Annotated[uuid.UUID, typer.Argument(help=N_("The webhook's id."))]


@webhook_app.command(
    "list", help=N_("List the webhooks admins added (not those of CIVOP_ALERT_WEBHOOK_URLS).")
)
def webhook_list() -> None:
    from service.alerts import webhooks

    async def listed(session: AsyncSession) -> list[tuple[uuid.UUID, str, str]]:
        found = await webhooks.listed(session, await cli_principal(session, None))
        return [(w.id, w.name, w.url) for w in found]

    # One webhook a line, tab-separated: id, name, address.
    for webhook_id, name, url in with_session(listed):
        typer.echo(f"{webhook_id}\t{name}\t{url}")


@webhook_app.command("add", help=N_("Send every new alert to URL from now on."))
def webhook_add(
    url: Annotated[str, typer.Argument(help=N_("The address the alerts are POSTed to."))],
    name: Annotated[str, typer.Option(help=N_("Who receives the alerts."))],
    language: Annotated[
        str | None,
        typer.Option(help=N_("The language of the alerts' title and description (fr, ar...).")),
    ] = None,
) -> None:
    from service.alerts import webhooks

    async def add(session: AsyncSession) -> uuid.UUID:
        added = await webhooks.add(
            session, await cli_principal(session, None), name=name, url=url, language=language
        )
        return added.id

    typer.echo(_("webhook {id} added", id=with_session(add)))


@webhook_app.command("test", help=N_("POST a test message to a webhook and say what it answered."))
def webhook_test(webhook_id: WebhookArgument) -> None:
    from service.alerts import webhooks

    async def test(session: AsyncSession) -> webhooks.Tried:
        return await webhooks.test(session, await cli_principal(session, None), webhook_id)

    tried = with_session(test)
    if tried.ok:
        typer.echo(_("received: {outcome}", outcome=tried.outcome))
    else:
        typer.echo(_("not received: {outcome}", outcome=tried.outcome))
    if not tried.ok:
        raise typer.Exit(1)


@webhook_app.command("remove", help=N_("Send no new alert to a webhook."))
def webhook_remove(webhook_id: WebhookArgument) -> None:
    from service.alerts import webhooks

    async def remove(session: AsyncSession) -> None:
        await webhooks.remove(session, await cli_principal(session, None), webhook_id)

    with_session(remove)
    typer.echo(_("webhook {id} removed", id=webhook_id))
