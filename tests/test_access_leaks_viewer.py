"""The leak suite for the analysts' map: its heat tiles count, for every role, exactly the
incidents the role may see (at the place it may see them), and the page itself holds no data.

The map reads everything else from outputs the other leak suites cover (the API, the vector
tiles, the analysis)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import morecantile
import pytest
from httpx import AsyncClient

from service.config import get_settings
from tests.test_access_leaks import CELL, HIDDEN, USERS, Planted, expected, plant

Headers = Callable[[str], dict[str, str]]
TMS = morecantile.tms.get("WebMercatorQuad")
WINDOW = "2026-09-01/2026-10-31"  # the planted incidents occurred on 2026-10-01
ZOOMS = (6, 10, 14)


@pytest.fixture(autouse=True)
def fresh_tile_cache(app: Any) -> Iterator[None]:
    """Each test's writes are rolled back, so a layer's version repeats from one test to the
    next: tiles cached by an earlier test must not answer for this one's records."""
    app.state.tile_cache.tiles.clear()
    yield
    app.state.tile_cache.tiles.clear()


def incidents(planted: list[Planted]) -> list[Planted]:
    return [p for p in planted if p.collection == "incidents"]


async def heat(
    client: AsyncClient, auth: dict[str, str], tile: morecantile.Tile, **params: str
) -> dict[str, Any]:
    url = f"/layers/heat/incidents/{tile.z}/{tile.x}/{tile.y}"
    response = await client.get(url, params={"datetime": WINDOW, **params}, headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def cell_of(lon: float, lat: float, zoom: int) -> tuple[morecantile.Tile, int, int]:
    """The heat tile and the cell (column, row) that hold a place."""
    tile = TMS.tile(lon, lat, zoom)
    bounds = TMS.xy_bounds(tile)
    x, y = TMS.xy(lon, lat)
    size = (bounds.right - bounds.left) / 32
    return tile, int((x - bounds.left) // size), int((bounds.top - y) // size)


def tiles_around(records: list[Planted], zoom: int) -> Iterator[morecantile.Tile]:
    """Every tile at ``zoom`` a planted record or its generalised cell centre falls in."""
    seen: set[tuple[int, int, int]] = set()
    for record in records:
        x0, y0, _, _ = record.bounds
        centre = ((math.floor(x0 / CELL) + 0.5) * CELL, (math.floor(y0 / CELL) + 0.5) * CELL)
        for lon, lat in ((x0, y0), centre):
            tile = TMS.tile(lon, lat, zoom)
            if (tile.z, tile.x, tile.y) not in seen:
                seen.add((tile.z, tile.x, tile.y))
                yield tile


@pytest.mark.parametrize("user", USERS)
async def test_heat_counts_only_what_the_user_may_see(
    client: AsyncClient, headers: Headers, user: str
) -> None:
    planted = await plant(client, headers)
    auth = headers(user)
    visible = [
        p for p in incidents(planted) if expected(user, p.collection, p.classification) != HIDDEN
    ]
    for zoom in ZOOMS:
        tiles = list(tiles_around(incidents(planted), zoom))
        bodies = {(t.x, t.y): await heat(client, auth, t) for t in tiles}
        text = json.dumps(list(bodies.values()))
        for record in planted:
            assert record.id not in text and record.marker not in text, (user, zoom)
        counted = sum(n for body in bodies.values() for _, _, n in body["cells"])
        assert counted == len(visible), f"{user} / z{zoom}: {counted} counted, {len(visible)} seen"
        for record in visible:  # each where the user sees it (no incident is generalised here)
            tile, column, row = cell_of(record.bounds[0], record.bounds[1], zoom)
            cells = bodies[(tile.x, tile.y)]["cells"]
            assert any((c, r) == (column, row) for c, r, _ in cells), (user, zoom, record.id)


async def test_heat_counts_a_generalised_incident_only_at_its_generalised_place(
    client: AsyncClient, headers: Headers
) -> None:
    settings = get_settings()
    before = settings.policies
    settings.policies = {"incidents": {"mission": "generalise"}}
    try:
        planted = await plant(client, headers)
        mission = next(p for p in incidents(planted) if p.classification == "mission")
        x0, y0, _, _ = mission.bounds
        centre = ((math.floor(x0 / CELL) + 0.5) * CELL, (math.floor(y0 / CELL) + 0.5) * CELL)
        for user, shown_at in (("partner", centre), ("analyst", (x0, y0))):
            tile, column, row = cell_of(*shown_at, 14)
            body = await heat(client, headers(user), tile)
            assert [column, row, 1] in body["cells"], (user, body)
            exact_tile, exact_column, exact_row = cell_of(x0, y0, 14)
            exact = await heat(client, headers(user), exact_tile)
            at_exact_place = [
                c for c in exact["cells"] if (c[0], c[1]) == (exact_column, exact_row)
            ]
            assert bool(at_exact_place) == (user == "analyst"), (user, exact)
    finally:
        settings.policies = before


async def test_heat_takes_the_same_filters_as_the_tiles(
    client: AsyncClient, headers: Headers
) -> None:
    planted = await plant(client, headers)
    record = incidents(planted)[0]
    tile = TMS.tile(record.bounds[0], record.bounds[1], 6)  # holds all three
    auth = headers("admin")
    total = sum(c[2] for c in (await heat(client, auth, tile))["cells"])
    assert total == 3
    assert (await heat(client, auth, tile, category="looting"))["cells"] == []
    later = await client.get(
        f"/layers/heat/incidents/6/{tile.x}/{tile.y}",
        params={"datetime": "2026-10-02/.."},
        headers=auth,
    )
    assert later.json()["cells"] == []
    assert (await client.get(f"/layers/heat/incidents/6/{tile.x}/{tile.y}")).status_code == 401


async def test_the_map_page_holds_no_data(client: AsyncClient, headers: Headers) -> None:
    planted = await plant(client, headers)
    page = await client.get("/map")
    assert page.status_code == 200
    for record in planted:
        assert record.id not in page.text and record.marker not in page.text
        for coordinate in record.coordinates:
            assert coordinate not in page.text
