"""Patrols and their routes."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import shapely
from shapely.geometry import LineString

from service.demo.model import (
    _CLASSIFICATIONS,
    _DAY,
    _EPS,
    _KM_PER_DEG_LAT,
    _X0,
    _X1,
    _Y0,
    _Y1,
    FloatArray,
    Record,
)
from service.demo.world import _kx, _record, _World

# --------------------------------------------------------------------------------------------
# Patrols
# --------------------------------------------------------------------------------------------

_PATROL_TYPES = ("foot", "mobile", "air", "riverine")
_PATROL_HOURS = {"foot": (2, 8), "mobile": (3, 12), "air": (1, 4), "riverine": (3, 10)}
_BASE_WEIGHT = {
    "headquarters": 1.0,
    "company_base": 3.0,
    "team_site": 2.0,
    "temporary_operating_base": 2.0,
}


def _routes(rng: np.random.Generator, lon: FloatArray, lat: FloatArray) -> list[LineString]:
    """Wandering routes of 3-12 vertices and 5-40 km, one from each start point, inside the area.

    Routes that would leave the area are drawn again (shorter after a few tries).
    """
    count = lon.shape[0]
    max_legs = 11
    routes: list[LineString | None] = [None] * count
    todo = np.arange(count)
    for attempt in range(60):
        if not todo.size:
            break
        k = todo.size
        n_legs = rng.integers(2, max_legs + 1, k)
        used = np.arange(max_legs)[None, :] < n_legs[:, None]
        length = rng.uniform(5, 40, k) * 0.8 ** max(0, attempt - 10)
        shares = np.where(used, rng.gamma(1.0, 1.0, (k, max_legs)), 0.0)  # Dirichlet(1, ...)
        shares /= shares.sum(axis=1, keepdims=True)
        legs = np.where(used, np.maximum(shares * length[:, None], 0.3), 0.0)
        legs *= (length / legs.sum(axis=1))[:, None]
        heading = rng.uniform(0, 2 * math.pi, k)[:, None] + np.cumsum(
            rng.uniform(-1.0, 1.0, (k, max_legs)), axis=1
        )
        zero = np.zeros((k, 1))
        dx = np.concatenate([zero, np.cumsum(legs * np.cos(heading), axis=1)], axis=1)
        dy = np.concatenate([zero, np.cumsum(legs * np.sin(heading), axis=1)], axis=1)
        xs = np.round(lon[todo, None] + dx / _kx(lat[todo])[:, None], 6)
        ys = np.round(lat[todo, None] + dy / _KM_PER_DEG_LAT, 6)
        vertex = np.arange(max_legs + 1)[None, :] <= n_legs[:, None]
        inside = (
            (xs > _X0 + _EPS) & (xs < _X1 - _EPS) & (ys > _Y0 + _EPS) & (ys < _Y1 - _EPS)
        ) | ~vertex
        ok = inside.all(axis=1)
        for row in np.flatnonzero(ok).tolist():
            n = int(n_legs[row]) + 1
            routes[int(todo[row])] = LineString(np.column_stack([xs[row, :n], ys[row, :n]]))
        todo = todo[~ok]
    if todo.size:  # pragma: no cover - short routes from bases well inside always fit
        raise AssertionError("could not draw a patrol route")
    return [r for r in routes if r is not None]


def _build_patrols(rng: np.random.Generator, world: _World) -> list[Record]:
    future_days = 5
    span_days = world.seconds // _DAY + future_days
    count = round(3000 * span_days / 730.5)
    weights = np.array([_BASE_WEIGHT[b.kind] for b in world.bases])
    day = np.sort(rng.integers(0, span_days, count)).tolist()
    base_of = rng.choice(len(world.bases), size=count, p=weights / weights.sum()).tolist()
    type_of = rng.choice(len(_PATROL_TYPES), size=count, p=(0.25, 0.6, 0.08, 0.07)).tolist()
    minute_of = rng.integers(4 * 60, 15 * 60, count).tolist()
    classification = rng.choice(3, size=count, p=(0.05, 0.85, 0.10)).tolist()
    planned_from = world.end - timedelta(days=2)
    routes = _routes(
        rng,
        np.array([world.bases[b].lon for b in base_of]),
        np.array([world.bases[b].lat for b in base_of]),
    )
    points = shapely.point_on_surface(np.array(routes, dtype=object))
    battalion = world.locate(shapely.get_x(points), shapely.get_y(points)).tolist()
    ends = np.array([r.coords[-1] for r in routes]).reshape(-1, 2)
    towns = np.array([(t.lon, t.lat) for t in world.towns])
    nearest = np.argmin(((ends[:, None, :] - towns[None, :, :]) ** 2).sum(axis=2), axis=1).tolist()
    wkts = shapely.to_wkt(np.array(routes, dtype=object), rounding_precision=6, trim=True)
    records: list[Record] = []
    for k in range(count):
        base = world.bases[base_of[k]]
        patrol_type = _PATROL_TYPES[type_of[k]]
        start = world.start + timedelta(days=day[k], minutes=minute_of[k])
        lo, hi = _PATROL_HOURS[patrol_type]
        end = start + timedelta(minutes=int(rng.integers(lo * 60, hi * 60 + 1)))
        town = world.towns[nearest[k]]
        record = _record(rng, "patrol", k + 1, _CLASSIFICATIONS[classification[k]])
        record |= {
            "unit": base.unit,
            "patrol_type": patrol_type,
            "state": "planned" if start >= planned_from else "conducted",
            "start_at": start,
            "end_at": end,
            "base_id": base.id,
            "description": f"{patrol_type.capitalize()} patrol from {base.name} "
            f"towards {town.name}.",
            "geom": str(wkts[k]),
            "sector_id": world.battalion_ids[battalion[k]],
        }
        records.append(record)
    return records
