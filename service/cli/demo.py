"""``civop demo``: the fictional demo mission."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import typer

from service.cli.common import reporting_errors
from service.config import get_settings
from service.db import create_engine
from service.i18n import N_, _, format_list, format_number

HELP = N_(
    "Load the fictional demo mission and its alert rules (deterministic for a seed and a "
    "reference date)."
)


def demo(
    incidents: Annotated[int, typer.Option(help=N_("Number of incidents to generate."))] = 20_000,
    seed: Annotated[
        int, typer.Option(help=N_("Random seed: the same seed gives the same scenario."))
    ] = 7,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help=N_("Only when there are no incidents."))
    ] = False,
    reference_date: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help=N_("Last day of the mission's 24 months, YYYY-MM-DD (default: yesterday, UTC)."),
        ),
    ] = None,
) -> None:
    from service.demo.load import load_demo

    async def run() -> dict[str, int]:
        engine = create_engine(get_settings())
        try:
            loaded: dict[str, int] = await load_demo(
                engine,
                seed=seed,
                incidents=incidents,
                reference_date=reference_date.date() if reference_date else None,
                if_empty=if_empty,
            )
            return loaded
        finally:
            await engine.dispose()

    with reporting_errors():
        counts = asyncio.run(run())
    if not counts:
        typer.echo(_("demo: the database already holds data; nothing loaded"))
        return
    # The tables by their names in the database.
    loaded = format_list(f"{format_number(n)} {table}" for table, n in counts.items())
    typer.echo(_("demo loaded: {counts}", counts=loaded))
