"""The basemap civop serves from a file: the demo's, rendered from code, in MBTiles and
converted to PMTiles; read by tile through the API for signed-in users; registered by command."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from httpx import AsyncClient
from PIL import Image
from typer.testing import CliRunner

from geo.basemap import MAIN_ROAD, NotMBTiles, read_info, read_tile, render_mbtiles
from geo.demo_map import demo_geography
from service.cli import app as cli
from service.config import get_settings
from service.demo import MISSION_BBOX, generate_scenario

Headers = Callable[[str], dict[str, str]]


@pytest.fixture(scope="module")
def demo_basemap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("basemap") / "demo.mbtiles"
    render_mbtiles(demo_geography(generate_scenario(seed=7, incidents=0), MISSION_BBOX), path,
                   maxzoom=8)  # fmt: skip
    return path


def test_the_demo_basemap_is_the_same_at_every_build(demo_basemap: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.mbtiles"
    render_mbtiles(demo_geography(generate_scenario(seed=7, incidents=0), MISSION_BBOX), again,
                   maxzoom=8)  # fmt: skip
    query = "SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles ORDER BY 1, 2, 3"
    with sqlite3.connect(demo_basemap) as a, sqlite3.connect(again) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
    info = read_info(demo_basemap)
    assert (info.format, info.minzoom, info.maxzoom) == ("png", 5, 8)
    assert info.bounds == MISSION_BBOX


def test_a_pmtiles_basemap_reads_as_its_mbtiles(demo_basemap: Path, tmp_path: Path) -> None:
    from pmtiles.convert import mbtiles_to_pmtiles

    converted = tmp_path / "demo.pmtiles"
    mbtiles_to_pmtiles(str(demo_basemap), str(converted), 8)
    info = read_info(converted)
    assert (info.format, info.minzoom, info.maxzoom) == ("png", 5, 8)
    for z, x, y in ((5, 18, 15), (8, 147, 124), (8, 148, 125)):
        assert read_tile(converted, z, x, y) == read_tile(demo_basemap, z, x, y)
    with pytest.raises(NotMBTiles, match="neither an MBTiles"):
        bad = tmp_path / "notes.mbtiles"
        bad.write_text("not tiles")
        read_info(bad)


async def test_tiles_are_served_to_signed_in_users(
    client: AsyncClient,
    headers: Headers,
    demo_basemap: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "basemap_file", str(demo_basemap))
    info = await client.get("/basemap", headers=headers("partner"))
    assert info.status_code == 200, info.text
    assert info.json()["format"] == "png" and info.json()["maxzoom"] == 8
    # A tile over the demo's middle, where its roads run.
    tile = await client.get("/basemap/tiles/7/73/62", headers=headers("partner"))
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(tile.content)).convert("RGB")
    assert image.size == (256, 256)
    outside = await client.get("/basemap/tiles/7/0/0", headers=headers("partner"))
    assert outside.status_code == 204
    assert (await client.get("/basemap/tiles/7/73/62")).status_code == 401
    roads = sum(
        1
        for c in image.get_flattened_data()
        if sum(abs(a - b) for a, b in zip(c, MAIN_ROAD, strict=True)) < 40
    )
    assert roads > 100, "no main road drawn where the demo's roads run"


def test_register_checks_the_file_and_puts_it_where_the_service_reads_it(
    demo_basemap: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setattr(get_settings(), "home", str(home))
    monkeypatch.setattr(get_settings(), "basemap_file", "")
    runner = CliRunner()
    done = runner.invoke(cli, ["basemap", "register", str(demo_basemap)])
    assert done.exit_code == 0, done.output
    assert "raster png, zoom 5 to 8" in done.output
    assert (home / "basemap.mbtiles").read_bytes() == demo_basemap.read_bytes()
    bad = tmp_path / "bad.mbtiles"
    bad.write_text("nothing")
    refused = runner.invoke(cli, ["basemap", "register", str(bad)])
    assert refused.exit_code == 2 and "neither an MBTiles" in refused.output
