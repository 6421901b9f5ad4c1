"""Areas of responsibility, towns, villages and hot spots."""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.ops import polygonize, unary_union

from service.demo.model import (
    _SYLLABLES,
    _TOWN_NAMES,
    _X0,
    _X1,
    _XM,
    _Y0,
    _Y1,
    _YM,
    FloatArray,
    Record,
)
from service.demo.world import (
    _Hotspot,
    _inside,
    _km,
    _offset,
    _point_near,
    _r6,
    _record,
    _Town,
    _wkt,
    _World,
)

# --------------------------------------------------------------------------------------------
# Areas of responsibility
# --------------------------------------------------------------------------------------------


def _build_areas(rng: np.random.Generator, world: _World) -> list[Record]:
    """Force area, 4 sectors and 8 battalion areas that tile the mission area exactly.

    The split lines are polylines through fixed vertices with small random offsets; they only
    meet at shared vertices, so polygonizing them gives exactly eight faces with exact shared
    edges (no slivers, no gaps).
    """

    def wiggle(n: int, amplitude: float) -> list[float]:
        return [round(float(v), 3) for v in rng.uniform(-amplitude, amplitude, n)]

    steps = [round(v, 2) for v in np.linspace(_Y0, _Y1, 9).tolist()]
    xsteps = [round(v, 2) for v in np.linspace(_X0, _X1, 9).tolist()]
    vx = [_XM + w for w in wiggle(9, 0.18)]
    vx[4] = _XM
    hy = [_YM + w for w in wiggle(9, 0.18)]
    hy[4] = _YM
    vertical = list(zip(vx, steps, strict=True))  # x as a function of y
    horizontal = list(zip(xsteps, hy, strict=True))  # y as a function of x
    w = wiggle(8, 0.15)
    splits = [
        [(xsteps[2], hy[2]), (xsteps[2] + w[0], 7.5), (xsteps[2] + w[1], _Y1)],  # NW
        [(xsteps[2], hy[2]), (xsteps[2] + w[2], 4.5), (xsteps[2] + w[3], _Y0)],  # SW
        [(vx[6], steps[6]), (27.5, steps[6] + w[4]), (_X1, steps[6] + w[5])],  # NE
        [(vx[2], steps[2]), (27.5, steps[2] + w[6]), (_X1, steps[2] + w[7])],  # SE
    ]
    lines = [
        LineString([(_X0, _Y0), (_X1, _Y0), (_X1, _Y1), (_X0, _Y1), (_X0, _Y0)]),
        LineString(vertical),
        LineString(horizontal),
        *(LineString(s) for s in splits),
    ]
    faces = [f for f in polygonize(unary_union(lines).geoms) if f.area > 1e-9]
    if len(faces) != 8 or abs(sum(f.area for f in faces) - (_X1 - _X0) * (_Y1 - _Y0)) > 1e-9:
        raise AssertionError("the battalion areas do not tile the mission area")

    vys, vxs = np.array(steps), np.array(vx)
    hxs, hys = np.array(xsteps), np.array(hy)

    def quadrant(p: Point) -> str:
        north = p.y > float(np.interp(p.x, hxs, hys))
        east = p.x > float(np.interp(p.y, vys, vxs))
        return ("N" if north else "S") + ("E" if east else "W")

    by_quadrant: dict[str, list[Polygon]] = {"NW": [], "NE": [], "SW": [], "SE": []}
    for face in faces:
        rounded = shapely.transform(face, lambda c: np.round(c, 6))
        by_quadrant[quadrant(face.representative_point())].append(rounded)

    labels = {"NW": "North-West", "NE": "North-East", "SW": "South-West", "SE": "South-East"}
    force = box(_X0, _Y0, _X1, _Y1)
    force_rec = _record(rng, "sector", 1, "public") | {
        "name": "Force area",
        "level": "force",
        "parent_id": None,
        "geom": _wkt(MultiPolygon([force])),
        "hq": None,  # set once the towns exist
    }
    sectors: list[Record] = [force_rec]
    battalions: list[Record] = []
    number = 2
    for code in ("NW", "NE", "SW", "SE"):
        pair = by_quadrant[code]
        if len(pair) != 2:
            raise AssertionError(f"sector {code} should hold two battalion areas")
        # West to east in the western sectors, north to south in the eastern ones.
        if code.endswith("W"):
            pair.sort(key=lambda f: f.representative_point().x)
        else:
            pair.sort(key=lambda f: -f.representative_point().y)
        merged = unary_union(pair)
        if not isinstance(merged, Polygon):  # pragma: no cover - adjacent faces
            raise AssertionError("a sector is not one polygon")
        world.quadrants[code] = merged
        sector = _record(rng, "sector", number, "public") | {
            "name": f"Sector {labels[code]}",
            "level": "sector",
            "parent_id": force_rec["id"],
            "geom": _wkt(MultiPolygon([merged])),
            "hq": None,
        }
        number += 1
        sectors.append(sector)
        for k, face in enumerate(pair, start=1):
            battalion = _record(rng, "sector", 0, "mission") | {
                "name": f"Battalion area {code}{k}",
                "level": "battalion",
                "parent_id": sector["id"],
                "geom": _wkt(MultiPolygon([face])),
                "hq": None,
            }
            battalions.append(battalion)
            world.battalions.append(face)
            world.battalion_ids.append(battalion["id"])
            world.battalion_codes.append(f"{code}{k}")
    for b in battalions:
        b["external_id"] = f"demo-sector-{number:06d}"
        number += 1
    for area in world.battalions:
        shapely.prepare(area)
    return sectors + battalions


# --------------------------------------------------------------------------------------------
# Towns, villages and hot spots
# --------------------------------------------------------------------------------------------


def _place_towns(rng: np.random.Generator, world: _World) -> None:
    names = [_TOWN_NAMES[i] for i in rng.permutation(len(_TOWN_NAMES))]
    k = 0
    for code in ("NW", "NE", "SW", "SE"):
        area = world.quadrants[code]
        inner = area.buffer(-0.12)
        shapely.prepare(inner)
        placed = 0
        tries = 0
        while placed < 3:
            tries += 1
            x = _r6(rng.uniform(_X0 + 0.45, _X1 - 0.45))
            y = _r6(rng.uniform(_Y0 + 0.45, _Y1 - 0.45))
            if not shapely.contains_xy(inner, x, y):
                continue
            spacing = 0.6 if tries < 5_000 else 0.3
            if any(math.hypot(t.lon - x, t.lat - y) < spacing for t in world.towns):
                continue
            population = int(rng.lognormal(math.log(40_000), 0.6)) + 5_000
            if placed == 0:
                population += 120_000  # the sector capital
            world.towns.append(_Town(names[k], x, y, population, code, placed == 0))
            k += 1
            placed += 1


def _place_villages(rng: np.random.Generator, world: _World) -> None:
    taken = {t.name for t in world.towns}
    while len(world.villages) < 120:
        n = int(rng.integers(2, 4))
        name = "".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), n)).title()
        if name not in taken and len(name) > 3:
            taken.add(name)
            world.villages.append(name)


def _village(rng: np.random.Generator, world: _World) -> str:
    return world.villages[int(rng.integers(len(world.villages)))]


_HOTSPOT_SUFFIXES = ("area", "corridor", "hills", "axis", "plateau", "valley")


def _place_hotspots(rng: np.random.Generator, world: _World) -> None:
    profiles = ["intensifying", "steady", "intensifying", "fading", "seasonal", "emerging"]
    profiles = [profiles[i] for i in rng.permutation(len(profiles))]
    towns = [int(i) for i in rng.permutation(len(world.towns))[:4]]
    for i, profile in enumerate(profiles):
        if i < 4:
            town = world.towns[towns[i]]
            x, y = _point_near(rng, town.lon, town.lat, 8, 25)
        else:
            while True:
                x = rng.uniform(_X0 + 0.7, _X1 - 0.7)
                y = rng.uniform(_Y0 + 0.7, _Y1 - 0.7)
                if min(math.hypot(h.x0 - x, h.y0 - y) for h in world.hotspots) > 0.8:
                    break
        drift = rng.uniform(20, 80)
        for _ in range(200):
            a = rng.uniform(0, 2 * math.pi)
            x1, y1 = _offset(x, y, drift * math.cos(a), drift * math.sin(a))
            if _inside(x1, y1, 0.6):
                break
        else:  # pragma: no cover - the start is 0.7 degrees inside
            x1, y1 = x, y
        nearest = min(
            range(len(world.towns)), key=lambda t: _km(x, y, world.towns[t].lon, world.towns[t].lat)
        )
        world.hotspots.append(
            _Hotspot(
                name=f"{world.towns[nearest].name} {_HOTSPOT_SUFFIXES[i]}",
                x0=_r6(x),
                y0=_r6(y),
                x1=_r6(x1),
                y1=_r6(y1),
                sigma_km=float(rng.uniform(7, 15)),
                weight=float(rng.uniform(0.8, 1.3)),
                profile=profile,
                town=nearest,
            )
        )


def _intensity(h: _Hotspot, s: FloatArray, days: FloatArray, emerging_from: float) -> FloatArray:
    """Relative daily intensity of a hot spot at normalised time s (0..1)."""
    if h.profile == "intensifying":
        value = 0.5 + 2.0 * s
    elif h.profile == "fading":
        value = 0.2 + 1.4 * (1 - s) ** 1.5
    elif h.profile == "seasonal":
        value = 1.0 + 0.6 * np.sin(2 * math.pi * days / 365.25)
    elif h.profile == "emerging":
        value = np.where(days >= emerging_from, 3.5, 0.0)
    else:
        value = np.ones_like(s)
    return np.asarray(value * h.weight, dtype=np.float64)
