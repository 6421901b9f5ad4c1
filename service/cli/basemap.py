"""``civop basemap``: register the mission's basemap file, or build the demo's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli.common import fail
from service.config import get_settings
from service.i18n import N_, _, format_number, spoken

app = typer.Typer(
    help=N_("The basemap civop serves (MBTiles, raster or vector)"), no_args_is_help=True
)


@app.command(
    "register",
    help=N_("Check a basemap file and make it the one the map draws (restart civop serve after)."),
)
def register(
    file: Annotated[
        Path, typer.Argument(help=N_("An MBTiles file (png, jpg, webp or pbf tiles)."))
    ],
) -> None:
    from geo.basemap import NotMBTiles
    from service.basemap.service import register as register_file

    try:
        info = register_file(file, get_settings())
    except NotMBTiles as error:
        fail(spoken(error.args[0]) if error.args else str(error), exit_code=2)
    kind = _("vector") if info.vector else _("raster")
    typer.echo(
        _(
            "basemap registered: {name} ({kind} {format}, zoom {min} to {max}) at {path}",
            name=info.name,
            kind=kind,
            format=info.format,
            min=info.minzoom,
            max=info.maxzoom,
            path=info.path,
        )
    )


@app.command(
    "demo",
    help=N_("Render the demo mission's basemap (rivers, roads, built-up areas) from code."),
)
def demo(
    out: Annotated[Path, typer.Option(help=N_("The MBTiles file to write."))] = Path(
        "demo-basemap.mbtiles"
    ),
    seed: Annotated[int, typer.Option(help=N_("Seed of the demo mission."))] = 7,
    max_zoom: Annotated[int, typer.Option(help=N_("Deepest zoom rendered."))] = 11,
    register_it: Annotated[
        bool, typer.Option("--register/--no-register", help=N_("Register it once built."))
    ] = True,
) -> None:
    from geo.basemap import render_mbtiles
    from geo.demo_map import demo_geography
    from service.demo import MISSION_BBOX, generate_scenario

    out.parent.mkdir(parents=True, exist_ok=True)
    geography = demo_geography(generate_scenario(seed=seed, incidents=0), MISSION_BBOX)
    tiles = render_mbtiles(geography, out, maxzoom=max_zoom)
    typer.echo(
        _(
            "demo basemap: {tiles} tiles in {file} ({size} KiB)",
            tiles=format_number(tiles),
            file=out,
            size=format_number(out.stat().st_size // 1024),
        )
    )
    if register_it:
        register(out)
