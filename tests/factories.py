"""Test data: a small mission (two sectors, three battalion areas), a user per role, and valid
features for every collection that tests change one field at a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.auth import service as auth
from service.enums import Role

#: Every test user's password.
PASSWORD = "correct horse battery staple"


def square(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [x, y]}


@dataclass
class World:
    sectors: dict[str, uuid.UUID] = field(default_factory=dict)
    users: dict[str, uuid.UUID] = field(default_factory=dict)


SECTORS = [
    # name, level, parent, (x0, y0, x1, y1)
    ("Force", "force", None, (23.0, 3.0, 29.0, 9.0)),
    ("North", "sector", "Force", (23.0, 6.0, 29.0, 9.0)),
    ("South", "sector", "Force", (23.0, 3.0, 29.0, 6.0)),
    ("North-West", "battalion", "North", (23.0, 6.0, 26.0, 9.0)),
    ("North-East", "battalion", "North", (26.0, 6.0, 29.0, 9.0)),
    ("South-All", "battalion", "South", (23.0, 3.0, 29.0, 6.0)),
]

USERS = [
    # username, role, cleared for restricted, sector scope
    ("partner", Role.partner, False, None),
    ("analyst", Role.analyst, False, None),
    ("analyst-cleared", Role.analyst, True, None),
    ("officer", Role.officer, False, None),
    ("officer-north", Role.officer, False, "North"),
    ("analyst-south", Role.analyst, False, "South"),
    ("admin", Role.admin, True, None),
    ("disabled", Role.analyst, False, None),
]


async def build_world(engine: AsyncEngine) -> World:
    world = World()
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await session.execute(text("SELECT set_config('civop.actor', 'test-setup', true)"))
        for name, level, parent, bounds in SECTORS:
            x0, y0, x1, y1 = bounds
            sector_id = (
                await session.execute(
                    text(
                        "INSERT INTO sectors (name, level, parent_id, geom, classification) "
                        "VALUES (:name, :level, :parent, "
                        "ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)), 'public') RETURNING id"
                    ),
                    {
                        "name": name,
                        "level": level,
                        "parent": world.sectors.get(parent or ""),
                        "x0": x0,
                        "y0": y0,
                        "x1": x1,
                        "y1": y1,
                    },
                )
            ).scalar_one()
            world.sectors[name] = sector_id
        await session.commit()
        for username, role, cleared, sector in USERS:
            user = await auth.add_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                cleared_restricted=cleared,
                sector_ids=[world.sectors[sector]] if sector else None,
                actor="test-setup",
            )
            world.users[username] = user.id
        await auth.set_disabled(session, "disabled", True, actor="test-setup")
    return world


async def world_in(engine: AsyncEngine) -> World:
    """The world :func:`build_world` made in this database (a copy of one that holds it)."""
    world = World()
    async with engine.connect() as connection:
        for name, _level, _parent, _bounds in SECTORS:
            world.sectors[name] = (
                await connection.execute(
                    text("SELECT id FROM sectors WHERE name = :name"), {"name": name}
                )
            ).scalar_one()
        for username, *_ in USERS:
            world.users[username] = (
                await connection.execute(
                    text("SELECT id FROM users WHERE username = :username"), {"username": username}
                )
            ).scalar_one()
    return world


DEFAULTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "sectors": (
        square(24.0, 4.0, 24.5, 4.5),
        {"name": "Test area", "level": "battalion", "hq": point(24.2, 4.2)},
    ),
    "actors": (
        point(25.0, 5.0),
        {
            "name": "Hope Relief",
            "category": "ngo",
            "humanitarian": True,
            "phone": "+000 1234",
            "email": "a@b.org",
        },
    ),
    "idp_sites": (
        point(25.1, 5.1),
        {"name": "Kalembe camp", "site_type": "planned_camp", "population_individuals": 12000},
    ),
    "projects": (
        point(25.2, 5.2),
        {
            "title": "Borehole",
            "kind": "quick_impact_project",
            "status": "approved",
            "budget_usd": 45000,
        },
    ),
    "incidents": (
        point(25.3, 5.3),
        {
            "category": "armed_clash",
            "occurred_at": "2026-10-01T10:00:00Z",
            "severity": 3,
            "source": "informant K-7",
            "description": "Exchange of fire near the market",
        },
    ),
    "patrols": (
        {"type": "LineString", "coordinates": [[25.0, 5.0], [25.1, 5.05], [25.2, 5.0]]},
        {
            "unit": "1 Coy",
            "patrol_type": "mobile",
            "state": "conducted",
            "start_at": "2026-10-01T06:00:00Z",
        },
    ),
    "bases": (
        point(25.4, 5.4),
        {"name": "Team site Alpha", "base_kind": "team_site", "unit": "2 Coy"},
    ),
    "places": (
        point(25.5, 5.5),
        {
            "name": "Dorosa",
            "place_class": "town",
            "population": 42000,
            "alternate_names": "Dorossa",
        },
    ),
}


def feature(
    collection: str, geometry: dict[str, Any] | None = None, **properties: Any
) -> dict[str, Any]:
    default_geometry, default_properties = DEFAULTS[collection]
    return {
        "type": "Feature",
        "geometry": geometry or default_geometry,
        "properties": {**default_properties, **properties},
    }
