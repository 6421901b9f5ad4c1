"""An imported point gets the sector the database's own rule (``civop_sector_at``) gives it,
though the import finds it while reading the file (``geo.sectors``): on the edge two areas
share, where areas of one level overlap, in a deleted area, and outside every area. Imported
areas get the sector of their point on surface, found in SQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapely
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.formats.geometry import coordinates_of_ewkb_hex, to_ewkb_hex
from service.config import get_settings
from tests import geofiles
from tests.factories import World
from tests.test_imports import upload

Headers = Callable[[str], dict[str, str]]

LOWEST = uuid.UUID(int=1)
LOW = uuid.UUID(int=2)
HIGHEST = uuid.UUID(int=2**128 - 1)

#: external_id: (lon, lat, the areas that hold the point at the smallest level, by name): the
#: one with the lower id is expected; none for a point outside every area.
POINTS: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "inside-north-west": (24.0, 8.5, ("North-West",)),
    "edge-of-two-battalions": (26.0, 7.0, ("North-West", "North-East")),
    "edge-of-north-and-south": (27.0, 6.0, ("North-East", "South-All")),
    "corner-of-the-force-area": (23.0, 3.0, ("South-All",)),
    "in-a-deleted-area": (25.5, 8.5, ("North-West",)),
    "in-an-overlap-lower-id": (23.5, 6.5, ("North-West", "Overlap-low")),
    "in-an-overlap-higher-id": (28.5, 8.5, ("North-East", "Overlap-high")),
    "outside-every-area": (29.2, 7.0, ()),
}


async def _add_sector(
    session: AsyncSession, sector_id: uuid.UUID, name: str, box: tuple[float, ...], deleted: bool
) -> None:
    await session.execute(
        text(
            "INSERT INTO sectors (id, name, level, geom, classification, deleted_at) VALUES "
            "(:id, :name, 'battalion', ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)), "
            "'public', CASE WHEN :deleted THEN now() END)"
        ),
        dict(zip(("x0", "y0", "x1", "y1"), box, strict=True))
        | {"id": sector_id, "name": name, "deleted": deleted},
    )


@pytest.mark.parametrize("bulk", [False, True], ids=["ordinary", "bulk"])
async def test_imported_points_get_the_sector_the_database_gives(
    client: AsyncClient,
    headers: Headers,
    session: AsyncSession,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bulk: bool,
) -> None:
    monkeypatch.setattr(get_settings(), "import_bulk_rows", 5 if bulk else 100_000)
    # A deleted area with the lowest id possible, which would win if it counted; two live
    # battalion areas overlapping the North's, with ids lower and higher than any other.
    await _add_sector(session, LOWEST, "Deleted", (25.0, 8.0, 26.0, 9.0), deleted=True)
    await _add_sector(session, LOW, "Overlap-low", (23.0, 6.0, 24.0, 7.0), deleted=False)
    await _add_sector(session, HIGHEST, "Overlap-high", (28.0, 8.0, 29.0, 9.0), deleted=False)
    names = {**world.sectors, "Overlap-low": LOW, "Overlap-high": HIGHEST}
    expected = {
        key: min((names[name] for name in holders), default=None)
        for key, (_, _, holders) in POINTS.items()
    }
    rows = [
        dict(geofiles.INCIDENTS[0], external_id=key, lon=lon, lat=lat)
        for key, (lon, lat, _) in POINTS.items()
    ]
    path = tmp_path / "edges.csv"
    path.write_text(geofiles.incidents_csv(rows))
    response = await upload(client, headers, path, collection="incidents")
    assert response.status_code == 201, response.text
    assert response.json()["created"] == len(POINTS)

    found = await _imported_sectors(session, "incidents")
    assert {key: sector for key, sector, _ in found} == expected
    assert all(sector == rule for _, sector, rule in found)


async def _imported_sectors(session: AsyncSession, table: str) -> list[Any]:
    """(external id, sector given, sector ``civop_sector_at`` gives) of each imported record."""
    statement = text(
        f"SELECT external_id, sector_id, civop_sector_at(geom) FROM {table} "  # noqa: S608
        "WHERE origin = 'import'"
    )
    return list((await session.execute(statement)).all())


def test_points_are_decoded_from_hex_ewkb() -> None:
    """Points written by the reader are decoded at once; others (here a polygon) are parsed,
    and give no coordinates."""
    shapes = np.array([shapely.Point(24.5, 6.5), None, shapely.Point(25, 7)])
    x, y = coordinates_of_ewkb_hex(to_ewkb_hex(shapes))
    np.testing.assert_array_equal(x, [24.5, np.nan, 25])
    np.testing.assert_array_equal(y, [6.5, np.nan, 7])
    mixed = to_ewkb_hex(np.array([shapely.box(23, 3, 24, 4), shapely.Point(25, 7)]))
    x, y = coordinates_of_ewkb_hex(pa.chunked_array([mixed.slice(1), mixed.slice(0, 1)]))
    np.testing.assert_array_equal(x, [25, np.nan])
    np.testing.assert_array_equal(y, [7, np.nan])


async def test_imported_areas_get_the_sector_of_their_point_on_surface(
    client: AsyncClient, headers: Headers, session: AsyncSession, world: World, tmp_path: Path
) -> None:
    """Shapes other than points are located in SQL, by their point on surface, as the
    database's rule does."""
    squares = {
        "inside-north-west": (24.0, 8.0, 24.5, 8.5),
        "across-two-battalions": (25.5, 7.0, 26.3, 7.2),
        "outside-every-area": (29.2, 7.0, 29.4, 7.2),
    }
    features = [
        {
            "type": "Feature",
            "properties": {"external_id": key, "name": key, "site_type": "planned_camp"},
            "geometry": shapely.geometry.mapping(shapely.box(*bounds)),
        }
        for key, bounds in squares.items()
    ]
    path = tmp_path / "camps.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    response = await upload(client, headers, path, collection="idp_sites")
    assert response.status_code == 201, response.text
    assert response.json()["created"] == len(squares)

    found = await _imported_sectors(session, "idp_sites")
    assert all(sector == rule for _, sector, rule in found)
    by_name = {sector_id: name for name, sector_id in world.sectors.items()}
    sectors = {key: by_name.get(sector) for key, sector, _ in found}
    assert sectors["inside-north-west"] == "North-West"
    assert sectors["across-two-battalions"] in {"North-West", "North-East"}
    assert sectors["outside-every-area"] is None
