"""``civop apikey ...``: API keys for machine clients."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from service.cli.common import with_session
from service.i18n import N_, _

key_app = typer.Typer(help=N_("API keys for machine clients"), no_args_is_help=True)


@key_app.command("create", help=N_("Create an API key; it is shown once."))
def apikey_create(
    user: Annotated[str, typer.Option(help=N_("The user the key acts as."))],
    name: Annotated[str, typer.Option(help=N_("What the key is for, e.g. 'qgis-gis-unit'."))],
) -> None:
    from service.auth import service

    key_id, key = with_session(lambda s: service.create_api_key(s, user, name))
    typer.echo(_("key id: {id}", id=key_id))
    typer.echo(_("key:    {key}", key=key))
    typer.echo(_("(store the key now: it is not shown again)"))


@key_app.command("revoke", help=N_("Revoke an API key at once."))
def apikey_revoke(
    key_id: Annotated[uuid.UUID, typer.Argument(help=N_("The key's id (not the key)."))],
) -> None:
    from service.auth import service

    with_session(lambda s: service.revoke_api_key(s, key_id))
    typer.echo(_("key {id} revoked", id=key_id))
