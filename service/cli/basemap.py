"""``civop basemap``: register the mission's basemap file, or build the demo's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo.basemap import NotMBTiles
from service.config import get_settings

app = typer.Typer(help="The basemap civop serves (MBTiles, raster or vector)", no_args_is_help=True)


@app.command("register")
def register(
    file: Annotated[Path, typer.Argument(help="An MBTiles file (png, jpg, webp or pbf tiles).")],
) -> None:
    """Check a basemap file and make it the one the map draws (restart civop serve after)."""
    from service.basemap.service import register as register_file

    try:
        info = register_file(file, get_settings())
    except NotMBTiles as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    kind = "vector" if info.vector else "raster"
    typer.echo(
        f"basemap registered: {info.name} ({kind} {info.format}, zoom {info.minzoom} to "
        f"{info.maxzoom}) at {info.path}"
    )


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="The MBTiles file to write.")] = Path(
        "demo-basemap.mbtiles"
    ),
    seed: Annotated[int, typer.Option(help="Seed of the demo mission.")] = 7,
    max_zoom: Annotated[int, typer.Option(help="Deepest zoom rendered.")] = 11,
    register_it: Annotated[
        bool, typer.Option("--register/--no-register", help="Register it once built.")
    ] = True,
) -> None:
    """Render the demo mission's basemap (rivers, roads, built-up areas) from code."""
    from geo.basemap import render_mbtiles
    from geo.demo_map import demo_geography
    from service.demo import MISSION_BBOX, generate_scenario

    out.parent.mkdir(parents=True, exist_ok=True)
    geography = demo_geography(generate_scenario(seed=seed, incidents=0), MISSION_BBOX)
    tiles = render_mbtiles(geography, out, maxzoom=max_zoom)
    typer.echo(f"demo basemap: {tiles} tiles in {out} ({out.stat().st_size // 1024} KiB)")
    if register_it:
        register(out)
