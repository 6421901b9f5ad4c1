"""``civop webhook ...``: the addresses new alerts are POSTed to, as admins set them in the
browser (``service.alerts.webhooks``)."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from service.cli.common import cli_principal, with_session

webhook_app = typer.Typer(help="Alert webhooks", no_args_is_help=True)


@webhook_app.command("list")
def webhook_list() -> None:
    """List the webhooks admins added (not those of CIVOP_ALERT_WEBHOOK_URLS)."""
    from service.alerts import webhooks

    async def listed(session: AsyncSession) -> list[tuple[uuid.UUID, str, str]]:
        found = await webhooks.listed(session, await cli_principal(session, None))
        return [(w.id, w.name, w.url) for w in found]

    for webhook_id, name, url in with_session(listed):
        typer.echo(f"{webhook_id}\t{name}\t{url}")


@webhook_app.command("add")
def webhook_add(
    url: str,
    name: Annotated[str, typer.Option(help="Who receives the alerts.")],
    language: Annotated[
        str | None,
        typer.Option(help="The language of the alerts' title and description (fr, ar...)."),
    ] = None,
) -> None:
    """Send every new alert to URL from now on."""
    from service.alerts import webhooks

    async def add(session: AsyncSession) -> uuid.UUID:
        added = await webhooks.add(
            session, await cli_principal(session, None), name=name, url=url, language=language
        )
        return added.id

    typer.echo(f"webhook {with_session(add)} added")


@webhook_app.command("test")
def webhook_test(webhook_id: uuid.UUID) -> None:
    """POST a test message to a webhook and say what it answered."""
    from service.alerts import webhooks

    async def test(session: AsyncSession) -> webhooks.Tried:
        return await webhooks.test(session, await cli_principal(session, None), webhook_id)

    tried = with_session(test)
    typer.echo(f"{'received' if tried.ok else 'not received'}: {tried.outcome}")
    if not tried.ok:
        raise typer.Exit(1)


@webhook_app.command("remove")
def webhook_remove(webhook_id: uuid.UUID) -> None:
    """Send no new alert to a webhook."""
    from service.alerts import webhooks

    async def remove(session: AsyncSession) -> None:
        await webhooks.remove(session, await cli_principal(session, None), webhook_id)

    with_session(remove)
    typer.echo(f"webhook {webhook_id} removed")
