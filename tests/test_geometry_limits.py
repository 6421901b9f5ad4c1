"""Geometries too big to work with are refused on every way in (JSON API, OGC API Part 4,
imports, analysis requests), and one already stored (loaded before the limits, or by SQL)
cannot hold a tile, an analysis or ``/health`` past the statement timeout."""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import morecantile
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.auth.security import issue_token
from service.config import get_settings
from service.main import create_app
from tests import factories
from tests.conftest import (
    PASSWORD_HASHING,
    TEST_DB,
    cached_template,
    create_database,
    drop_database,
)
from tests.test_imports import upload

Headers = Callable[[str], dict[str, str]]

#: A request that hangs runs for minutes; one that is bounded by the statement timeout (set
#: to a few seconds here) answers well within this, even on a loaded machine.
HANG_S = 60.0
#: A finished answer, or the statement timeout's (504). Not 503: that is the client giving up
#: on a query the database went on running past its statement timeout.
BOUNDED = (200, 504)


def ring(lon: float, lat: float, radius: float, vertices: int) -> list[list[float]]:
    """A closed ring of ``vertices`` distinct positions (plus the closing one)."""
    positions = [
        [
            round(lon + radius * math.cos(2 * math.pi * k / vertices), 7),
            round(lat + radius * math.sin(2 * math.pi * k / vertices), 7),
        ]
        for k in range(vertices)
    ]
    return [*positions, positions[0]]


def polygon(vertices: int) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring(25.0, 7.0, 0.05, vertices)]}


def islands(parts: int) -> dict[str, Any]:
    """A MultiPolygon of ``parts`` small squares."""
    squares = []
    for k in range(parts):
        x, y = 24.0 + (k % 40) * 0.01, 7.0 + (k // 40) * 0.01
        squares.append(factories.square(x, y, x + 0.005, y + 0.005)["coordinates"])
    return {"type": "MultiPolygon", "coordinates": squares}


def holes(count: int) -> dict[str, Any]:
    """A Polygon with ``count`` small square holes."""
    outer = factories.square(24.0, 7.0, 24.5, 7.5)["coordinates"][0]
    inner = []
    for k in range(count):
        x, y = 24.01 + (k % 40) * 0.01, 7.01 + (k // 40) * 0.01
        inner.append(factories.square(x, y, x + 0.004, y + 0.004)["coordinates"][0][::-1])
    return {"type": "Polygon", "coordinates": [outer, *inner]}


def _message(response: Any) -> tuple[list[Any], str]:
    assert response.status_code == 422, response.text[:500]
    (problem,) = response.json()["detail"]
    return problem["loc"], problem["msg"]


# ---------------------------------------------------------------------------------------------
# Refused on the way in
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/api/idp_sites", "/collections/idp_sites/items"])
async def test_a_polygon_with_too_many_vertices_is_refused(
    client: AsyncClient, headers: Headers, route: str
) -> None:
    limit = get_settings().geometry_max_vertices
    feature = factories.feature("idp_sites", polygon(limit + 1))
    loc, message = _message(await client.post(route, json=feature, headers=headers("officer")))
    assert loc == ["body", "geometry"]
    assert f"{limit + 2:,} vertices" in message  # the closing position counts
    assert f"at most {limit:,}" in message
    assert "simplify" in message


@pytest.mark.parametrize("route", ["/api/idp_sites", "/collections/idp_sites/items"])
async def test_a_multipolygon_with_too_many_parts_is_refused(
    client: AsyncClient, headers: Headers, route: str
) -> None:
    limit = get_settings().geometry_max_parts
    feature = factories.feature("idp_sites", islands(limit + 1))
    loc, message = _message(await client.post(route, json=feature, headers=headers("officer")))
    assert loc == ["body", "geometry"]
    assert f"{limit + 1:,} parts" in message and f"at most {limit:,}" in message
    assert "split" in message


async def test_a_polygon_with_too_many_holes_is_refused(
    client: AsyncClient, headers: Headers
) -> None:
    limit = get_settings().geometry_max_holes
    feature = factories.feature("idp_sites", holes(limit + 1))
    response = await client.post("/api/idp_sites", json=feature, headers=headers("officer"))
    loc, message = _message(response)
    assert loc == ["body", "geometry"]
    assert f"{limit + 1:,} holes" in message and f"at most {limit:,}" in message


async def test_a_replaced_geometry_is_checked_too(
    client: AsyncClient, headers: Headers, make: Callable[..., Any]
) -> None:
    site = await make("idp_sites")
    limit = get_settings().geometry_max_vertices
    response = await client.put(
        f"/collections/idp_sites/items/{site['id']}",
        json=factories.feature("idp_sites", polygon(limit + 1)),
        headers=headers("officer"),
    )
    assert "simplify" in _message(response)[1]


async def test_a_sector_may_be_more_detailed_than_a_camp(
    client: AsyncClient, headers: Headers
) -> None:
    settings = get_settings()
    assert settings.sector_max_vertices > settings.geometry_max_vertices
    detailed = factories.feature("sectors", polygon(settings.geometry_max_vertices + 1))
    response = await client.post("/api/sectors", json=detailed, headers=headers("admin"))
    assert response.status_code == 201, response.text[:500]
    too_detailed = factories.feature("sectors", polygon(settings.sector_max_vertices + 1))
    response = await client.post("/api/sectors", json=too_detailed, headers=headers("admin"))
    assert f"at most {settings.sector_max_vertices:,}" in _message(response)[1]


async def test_an_analysis_route_with_too_many_vertices_is_refused(
    client: AsyncClient, headers: Headers
) -> None:
    limit = get_settings().geometry_max_vertices
    route = {
        "type": "LineString",
        "coordinates": [[24.0 + k * 1e-5, 7.0 + (k % 2) * 1e-5] for k in range(limit + 1)],
    }
    response = await client.post(
        "/api/analysis/deconfliction", json=route, headers=headers("analyst")
    )
    loc, message = _message(response)
    assert loc == ["body"]
    assert f"{limit + 1:,} vertices" in message and "simplify" in message


async def test_an_imported_row_with_too_many_vertices_is_refused_with_row_and_field(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    limit = get_settings().geometry_max_vertices
    sites = {
        "type": "FeatureCollection",
        "features": [
            factories.feature("idp_sites", factories.square(24.0, 7.0, 24.1, 7.1), name="Small"),
            factories.feature("idp_sites", polygon(limit + 1), name="Traced by hand"),
        ],
    }
    path = tmp_path / "camps.geojson"
    path.write_text(json.dumps(sites))
    response = await upload(client, headers, path, collection="idp_sites", dry_run="true")
    assert response.status_code == 200, response.text[:500]
    report = response.json()
    assert report["ok"] is False
    problems = {p["row"]: p for p in report["problems"]}
    assert set(problems) == {2}, report["problems"]
    assert problems[2]["field"] == "geometry"
    assert f"{limit + 2:,} vertices" in problems[2]["message"]
    assert "simplify" in problems[2]["message"]


# ---------------------------------------------------------------------------------------------
# A huge geometry already stored
# ---------------------------------------------------------------------------------------------

#: The polygon of the incident: 1,000,002 positions and the closing one, a ring of spikes
#: around a camp (every other vertex 1 km further in, so that no simplification for a tile
#: drops any of them: the worst case for the tile builder).
BIG_VERTICES = 1_000_002
BIG_CENTRE = (25.0, 7.0)
STATEMENT_TIMEOUT_MS = 2000

BIG_POLYGON_SQL = """
UPDATE idp_sites SET geom = (
    SELECT ST_MakePolygon(ST_AddPoint(line, ST_StartPoint(line)))
    FROM (
        SELECT ST_MakeLine(
            ST_SetSRID(ST_MakePoint(
                :lon + (0.3 - 0.01 * (i % 2)) * cos(2 * pi() * i / :n),
                :lat + (0.3 - 0.01 * (i % 2)) * sin(2 * pi() * i / :n)
            ), 4326) ORDER BY i
        ) AS line
        FROM generate_series(0, :n - 1) AS i
    ) AS wavy
)
WHERE id = :id
"""


async def _commit(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.begin() as connection:
        await connection.execute(text("SELECT set_config('civop.actor', 'test-setup', true)"))
        result = await connection.execute(text(sql), params)
        return result.scalars().all() if result.returns_rows else []


#: The incidents 5 km outside the big polygon.
BIG_INCIDENTS_SQL = (
    "INSERT INTO incidents (category, occurred_at, severity, geom, classification) "
    "SELECT 'armed_clash', now() - interval '1 day' * (i % 20), 3, "
    "ST_SetSRID(ST_MakePoint(:lon + 0.35 * cos(i), :lat + 0.35 * sin(i)), 4326), 'public' "
    "FROM generate_series(1, 10000) AS i"
)
BIG_SITE_SQL = (
    "INSERT INTO idp_sites (name, site_type, status, geom, classification, "
    "population_individuals) VALUES ('Traced camp', 'planned_camp', 'open', "
    "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'public', 40000) RETURNING id"
)


#: The check constraints of idp_sites that call ST_IsValid: their names and definitions.
VALIDITY_CHECKS_SQL = (
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE conrelid = 'idp_sites'::regclass AND contype = 'c' "
    "AND pg_get_constraintdef(oid) ILIKE '%st_isvalid%'"
)


async def _build_big_site(url: str) -> None:
    """The test world and the big site in the database at ``url``.

    The polygon is valid by construction: its vertices go once round the centre, in order of
    their angle (a star-shaped ring). PostgreSQL's check of it would take a minute of CPU (each
    of the million spikes' edges is compared with the thousands whose boxes overlap it), so the
    template stores it with the table's validity checks set aside for that one statement and
    put back ``NOT VALID``: they hold for every later write, as in production."""
    engine = create_async_engine(url)
    try:
        await factories.build_world(engine)
        (site_id,) = await _commit(engine, BIG_SITE_SQL, lon=BIG_CENTRE[0], lat=BIG_CENTRE[1])
        async with engine.begin() as connection:
            await connection.execute(text("SELECT set_config('civop.actor', 'test-setup', true)"))
            checks = (await connection.execute(text(VALIDITY_CHECKS_SQL))).all()
            assert checks, "idp_sites has no validity check to set aside"
            for name, _definition in checks:
                await connection.execute(text(f'ALTER TABLE idp_sites DROP CONSTRAINT "{name}"'))
            await connection.execute(
                text(BIG_POLYGON_SQL),
                {"lon": BIG_CENTRE[0], "lat": BIG_CENTRE[1], "n": BIG_VERTICES, "id": site_id},
            )
            for name, definition in checks:
                await connection.execute(
                    text(f'ALTER TABLE idp_sites ADD CONSTRAINT "{name}" {definition} NOT VALID')
                )
    finally:
        await engine.dispose()


@dataclass
class BigSite:
    app: Any
    site: str
    world: factories.World
    url: str

    def headers(self, username: str) -> dict[str, str]:
        token, _ = issue_token(
            self.world.users[username], get_settings().signing_key(), timedelta(minutes=5)
        )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def big_site() -> AsyncIterator[BigSite]:
    """An IDP site of 1,000,003 vertices stored by SQL (past the API's limits), 10,000 incidents
    5 km outside it, and the service with a short statement timeout, on a database of its own:
    a copy of a template made once (``cached_template``)."""
    made_from = "\n".join(
        (
            BIG_SITE_SQL,
            BIG_POLYGON_SQL,
            f"{BIG_VERTICES} {BIG_CENTRE}",
            inspect.getsource(_build_big_site),
            inspect.getsource(factories),
            PASSWORD_HASHING,
        )
    )
    template = await cached_template("big_site", made_from, _build_big_site)
    name = f"{TEST_DB}_big_site"
    url = await create_database(name, template=template)
    engine = create_async_engine(url)
    try:
        world = await factories.world_in(engine)
        (site_id,) = await _commit(engine, "SELECT id FROM idp_sites WHERE name = 'Traced camp'")
        # Dated from today: not in the template, which may be weeks old.
        await _commit(engine, BIG_INCIDENTS_SQL, lon=BIG_CENTRE[0], lat=BIG_CENTRE[1])
    finally:
        await engine.dispose()
    settings = get_settings().model_copy(
        update={
            "database_url": url,
            "db_statement_timeout_ms": STATEMENT_TIMEOUT_MS,
            "tile_cache_mb": 0,
        }
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            yield BigSite(app, str(site_id), world, url)
    finally:
        await drop_database(name)


async def _bounded(app: Any, path: str, headers: dict[str, str], **params: Any) -> Any:
    """The answer to one request, which must come at all within HANG_S."""
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as http:
        started = time.monotonic()
        response = await asyncio.wait_for(
            http.get(path, params=params, headers=headers), timeout=HANG_S
        )
        print(f"{path}: {response.status_code} in {time.monotonic() - started:.1f} s")
        return response


def _edge_tile(z: int) -> morecantile.Tile:
    """A tile on the big polygon's edge (where it must be clipped)."""
    tms = morecantile.tms.get("WebMercatorQuad")
    return tms.tile(BIG_CENTRE[0] + 0.3, BIG_CENTRE[1], z)


@pytest.mark.parametrize("z", [10, 6])
async def test_a_tile_over_a_huge_stored_polygon_answers_within_the_statement_timeout(
    big_site: BigSite, z: int
) -> None:
    tile = _edge_tile(z)
    response = await _bounded(
        big_site.app,
        f"/collections/idp_sites/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}",
        big_site.headers("analyst"),
    )
    assert response.status_code in BOUNDED, response.text[:500]


async def test_an_exposure_analysis_over_a_huge_stored_polygon_answers_within_the_timeout(
    big_site: BigSite,
) -> None:
    response = await _bounded(
        big_site.app, "/api/analysis/exposure", big_site.headers("analyst"), bbox="24,6,26,8"
    )
    assert response.status_code in BOUNDED, response.text[:500]
    if response.status_code == 200:
        assert big_site.site in {f["id"] for f in response.json()["features"]}


async def test_health_stays_up_while_tiles_over_a_huge_polygon_are_built(
    big_site: BigSite,
) -> None:
    app = big_site.app
    tile = _edge_tile(10)
    path = f"/collections/idp_sites/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}"
    tiles = [
        asyncio.create_task(_bounded(app, path, big_site.headers(user)))
        for user in ("analyst", "admin", "officer", "partner")
    ]
    await asyncio.sleep(0.5)
    health = await _bounded(app, "/health", {})
    answers = await asyncio.gather(*tiles)
    assert health.status_code == 200, health.text
    assert health.json()["database"] == "ok"
    assert all(a.status_code in BOUNDED for a in answers), [a.status_code for a in answers]


async def test_the_big_sites_table_still_refuses_an_invalid_outline(big_site: BigSite) -> None:
    """The template set the validity checks aside for the big polygon only."""
    engine = create_async_engine(big_site.url)
    try:
        with pytest.raises(IntegrityError, match="check constraint"):
            await _commit(
                engine,
                "UPDATE idp_sites SET geom = ST_GeomFromText("
                "'POLYGON((25 7, 25.1 7.1, 25.1 7, 25 7.1, 25 7))', 4326) WHERE name = 'Traced camp'",
            )
    finally:
        await engine.dispose()
