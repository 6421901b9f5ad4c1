"""Bases and sector headquarters."""

from __future__ import annotations

import numpy as np
from shapely.geometry import Point, Polygon

from service.demo.areas import _village
from service.demo.model import _X0, _X1, _XM, _Y0, _Y1, _YM, Record
from service.demo.world import _Base, _km, _point_near, _r6, _record, _wkt, _World

# --------------------------------------------------------------------------------------------
# Bases
# --------------------------------------------------------------------------------------------


def _build_bases(rng: np.random.Generator, world: _World) -> list[Record]:
    records: list[Record] = []

    def add(
        name: str,
        unit: str,
        kind: str,
        lon: float,
        lat: float,
        classification: str,
        within: Polygon | None = None,
    ) -> None:
        for _ in range(100):
            x, y = _point_near(rng, lon, lat, 0.3, 2.0)
            if within is None or within.contains(Point(x, y)):
                break
        else:
            x, y = _r6(lon), _r6(lat)
        record = _record(rng, "base", len(records) + 1, classification)
        geom = Point(x, y)
        record |= {
            "name": name,
            "unit": unit,
            "base_kind": kind,
            "geom": _wkt(geom),
            "sector_id": world.sector_of(geom),
        }
        records.append(record)
        world.bases.append(_Base(record["id"], name, unit, kind, x, y))

    towns = world.towns
    centre = min(range(len(towns)), key=lambda i: _km(towns[i].lon, towns[i].lat, _XM, _YM))
    add(
        "Force Headquarters",
        "Force HQ",
        "headquarters",
        towns[centre].lon,
        towns[centre].lat,
        "public",
    )
    labels = {"NW": "North-West", "NE": "North-East", "SW": "South-West", "SE": "South-East"}
    capitals = {t.quadrant: t for t in towns if t.capital}
    for code, label in labels.items():
        capital = capitals[code]
        add(
            f"Sector {label} HQ {capital.name}",
            f"Sector {label} HQ",
            "headquarters",
            capital.lon,
            capital.lat,
            "public",
            world.quadrants[code],
        )
    used = {centre, *(towns.index(t) for t in capitals.values())}
    for area, code in zip(world.battalions, world.battalion_codes, strict=True):
        inside = [i for i, t in enumerate(towns) if area.contains(Point(t.lon, t.lat))]
        if inside:
            t = max(inside, key=lambda i: (i not in used, towns[i].population))
            used.add(t)
            x, y, place = towns[t].lon, towns[t].lat, towns[t].name
        else:
            inner = area.buffer(-0.2)
            while True:
                x = rng.uniform(_X0 + 0.45, _X1 - 0.45)
                y = rng.uniform(_Y0 + 0.45, _Y1 - 0.45)
                if inner.contains(Point(x, y)):
                    break
            place = _village(rng, world)
        add(f"COB {place}", f"{code} Battalion", "company_base", x, y, "mission", area)
    # Team sites: in towns without a base first, then in villages away from the towns.
    free = [i for i in range(len(towns)) if i not in used]
    for k in range(4):
        if k < len(free):
            x, y, place = towns[free[k]].lon, towns[free[k]].lat, towns[free[k]].name
        else:
            near = towns[int(rng.integers(len(towns)))]
            x, y = _point_near(rng, near.lon, near.lat, 20, 40)
            place = _village(rng, world)
        add(f"{place} Team Site", f"UNMO Team {place}", "team_site", x, y, "mission")
    for h in world.hotspots[:2]:
        x, y = _point_near(rng, h.x0, h.y0, 3, 10)
        b = int(world.locate(np.array([x]), np.array([y]))[0])
        add(
            f"TOB {_village(rng, world)}",
            f"{world.battalion_codes[b]} Battalion (detached company)",
            "temporary_operating_base",
            x,
            y,
            "restricted",
        )
    return records


def _set_headquarters(sectors: list[Record], world: _World) -> None:
    """The force, sector and battalion HQ points: the force HQ, sector HQs and company bases
    (the first 13 bases, in the order of the sectors)."""
    for sector, base in zip(sectors, world.bases, strict=False):
        sector["hq"] = _wkt(Point(base.lon, base.lat))
