"""``civop demo``: the fictional demo mission."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import typer

from service.cli.common import reporting_errors
from service.config import get_settings
from service.db import create_engine


def demo(
    incidents: Annotated[int, typer.Option(help="Number of incidents to generate.")] = 20_000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same scenario.")
    ] = 7,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only when there are no incidents.")
    ] = False,
    reference_date: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Last day of the mission's 24 months, YYYY-MM-DD (default: yesterday, UTC).",
        ),
    ] = None,
) -> None:
    """Load the fictional demo mission and its alert rules (deterministic for a seed and a
    reference date)."""
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
        typer.echo("demo: the database already holds data; nothing loaded")
        return
    typer.echo("demo loaded: " + ", ".join(f"{n} {table}" for table, n in counts.items()))
