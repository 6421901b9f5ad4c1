"""``civop apikey ...``: API keys for machine clients."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from service.cli.common import with_session

key_app = typer.Typer(help="API keys for machine clients", no_args_is_help=True)


@key_app.command("create")
def apikey_create(
    user: Annotated[str, typer.Option(help="The user the key acts as.")],
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'qgis-gis-unit'.")],
) -> None:
    """Create an API key; it is shown once."""
    from service.auth import service

    key_id, key = with_session(lambda s: service.create_api_key(s, user, name))
    typer.echo(f"key id: {key_id}\nkey:    {key}\n(store it now: it is not shown again)")


@key_app.command("revoke")
def apikey_revoke(key_id: uuid.UUID) -> None:
    """Revoke an API key at once."""
    from service.auth import service

    with_session(lambda s: service.revoke_api_key(s, key_id))
    typer.echo(f"key {key_id} revoked")
