"""The leak suite for map layers: OGC API items and vector tiles (decoded), for every role."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import mapbox_vector_tile
import morecantile
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from service.collections.registry import COLLECTIONS
from service.layers import groups
from service.layers.lowzoom import GROUP_CELL, groups_points
from tests.test_access_leaks import (
    CELL,
    COARSE,
    COARSE_LOCATION,
    FULL,
    HIDDEN,
    MARKED,
    USERS,
    Planted,
    check_outputs,
    expected,
    plant,
)

Headers = Callable[[str], dict[str, str]]
TMS = morecantile.tms.get("WebMercatorQuad")
ZOOMS = (6, 10, 14)


def to_lonlat(tile: morecantile.Tile) -> Callable[[float, float], tuple[float, float]]:
    bounds = TMS.xy_bounds(tile)

    def transform(x: float, y: float) -> tuple[float, float]:
        mx = bounds.left + (bounds.right - bounds.left) * x / 4096
        my = bounds.bottom + (bounds.top - bounds.bottom) * y / 4096
        return TMS.lnglat(mx, my)

    return transform


async def tile_features(
    client: AsyncClient, auth: dict[str, str], collection: str, tile: morecantile.Tile
) -> list[dict[str, Any]]:
    url = f"/collections/{collection}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}"
    response = await client.get(url, headers=auth)
    assert response.status_code == 200, response.text
    if not response.content:
        return []
    decoded = mapbox_vector_tile.decode(
        response.content, default_options={"transformer": to_lonlat(tile), "y_coord_down": False}
    )
    return decoded.get(collection, {}).get("features", [])  # type: ignore[no-any-return]


@pytest.mark.parametrize("user", USERS)
async def test_ogc_items_leak_nothing(client: AsyncClient, headers: Headers, user: str) -> None:
    planted = await plant(client, headers)
    auth = headers(user)
    texts: list[str] = []
    for record in planted:
        for url in (
            f"/collections/{record.collection}/items?limit=1000",
            f"/collections/{record.collection}/items/{record.id}",
        ):
            response = await client.get(url, headers=auth)
            assert response.status_code in (200, 404)
            body = response.json()
            if isinstance(body, dict):
                body.pop("links", None)
            texts.append(json.dumps(body))
    for collection in {p.collection for p in planted}:
        response = await client.get(f"/collections/{collection}", headers=auth)
        texts.append(json.dumps(response.json()["extent"]))
    check_outputs(user, planted, texts)


def _near(feature: dict[str, Any], x: float, y: float, tolerance: float) -> bool:
    coordinates = feature["geometry"]["coordinates"]
    while isinstance(coordinates[0], list):
        coordinates = coordinates[0]
    return math.hypot(coordinates[0] - x, coordinates[1] - y) <= tolerance


def _check_tile_record(
    user: str, record: Planted, features: list[dict[str, Any]], zoom: int
) -> None:
    expectation = expected(user, record.collection, record.classification)
    where = f"{user} / {record.collection} / {record.classification} / z{zoom}"
    mine = [f for f in features if f["properties"].get("id") == record.id]
    text = json.dumps(features)
    if expectation == HIDDEN:
        assert not mine, f"{where}: hidden record in a tile"
        assert record.marker not in text, f"{where}: hidden attribute in a tile"
        return
    x0, y0, _, _ = record.bounds
    pixel = 360 / (2**zoom) / 4096 * 2
    if groups_points(COLLECTIONS[record.collection], zoom):
        pixel *= GROUP_CELL  # points are placed on the coarser grid they are grouped on
    if expectation in (COARSE, COARSE_LOCATION):
        assert mine, f"{where}: generalised record missing"
        assert mine[0]["properties"]["generalised"] is True, where
        assert not _near(mine[0], x0, y0, CELL / 20), f"{where}: exact location in a tile"
        cx, cy = mine[0]["geometry"]["coordinates"]
        centre_x = (math.floor(cx / CELL) + 0.5) * CELL
        centre_y = (math.floor(cy / CELL) + 0.5) * CELL
        assert math.hypot(cx - centre_x, cy - centre_y) <= pixel * 2, (
            f"{where}: not at a cell centre"
        )
    if expectation == COARSE:
        assert record.marker not in text, f"{where}: sensitive attribute of a generalised record"
    if expectation == FULL and mine:
        assert mine[0]["properties"]["generalised"] is False, where
        assert _near(mine[0], x0, y0, pixel * 4 + 0.03), where
    if expectation in (FULL, COARSE_LOCATION) and mine:
        shown = {k: v for k, v in mine[0]["properties"].items() if k in MARKED[record.collection]}
        assert all(v == f"{record.marker}-{k}" for k, v in shown.items()), where


@pytest.mark.parametrize("groups_counted", [False, True], ids=["counted", "kept"])
@pytest.mark.parametrize("user", USERS)
async def test_vector_tiles_leak_nothing(
    client: AsyncClient, session: AsyncSession, headers: Headers, user: str, groups_counted: bool
) -> None:
    """Low-zoom tiles counted from the table, and read from the point groups kept per zoom
    (``service.layers.groups``) once they are counted."""
    planted = await plant(client, headers)
    if groups_counted:
        for collection in COLLECTIONS.values():
            if groups.kept(collection):
                await groups.count(await session.connection(), collection)
                assert await groups.current(session, collection)
    auth = headers(user)
    for record in planted:
        x0, y0, _, _ = record.bounds
        for zoom in ZOOMS:
            tile = TMS.tile(x0, y0, zoom)
            features = await tile_features(client, auth, record.collection, tile)
            # A generalised record may sit in the neighbouring tile: look there too.
            if expected(user, record.collection, record.classification) in (
                COARSE,
                COARSE_LOCATION,
            ) and not any(f["properties"].get("id") == record.id for f in features):
                centre = (
                    (math.floor(x0 / CELL) + 0.5) * CELL,
                    (math.floor(y0 / CELL) + 0.5) * CELL,
                )
                features = await tile_features(
                    client, auth, record.collection, TMS.tile(*centre, zoom)
                )
            _check_tile_record(user, record, features, zoom)
