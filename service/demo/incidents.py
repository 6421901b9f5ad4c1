"""Incidents: hot spots, near IDP sites, and background."""

from __future__ import annotations

import math

import numpy as np

from service.demo.areas import _intensity
from service.demo.model import (
    _CATEGORY_P,
    _DAY,
    _DISPLACEMENT,
    _EPS,
    _KM_PER_DEG_LAT,
    _MILD,
    _PERPETRATED,
    _SOURCE_P,
    _SOURCES,
    _SV,
    _VIOLENT,
    _X0,
    _X1,
    _Y0,
    _Y1,
    INCIDENT_CATEGORIES,
    IntArray,
    _IncidentColumns,
    _uuid7_bytes,
)
from service.demo.world import _kx, _months_before, _World

# --------------------------------------------------------------------------------------------
# Incidents
# --------------------------------------------------------------------------------------------


def _build_incidents(rng: np.random.Generator, world: _World, n: int) -> _IncidentColumns:
    total = world.seconds
    start_epoch = int(world.start.timestamp())
    n_hot = round(n * 0.66)
    n_idp = round(n * 0.04) if world.sites else 0
    n_bg = n - n_hot - n_idp

    hours_p = np.array(
        [1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 5, 5, 5, 5, 5, 5, 6, 6, 5, 4, 3, 2, 2, 1], float
    )
    hours_p /= hours_p.sum()

    def time_of_day(size: int) -> IntArray:
        hours = rng.choice(24, size=size, p=hours_p)
        return np.asarray(hours * 3600 + rng.integers(0, 3600, size), dtype=np.int64)

    # Hot spots: draw (hot spot, day) cells by intensity, then a point around the drifting centre.
    days = max(1, math.ceil(total / _DAY))
    day_index = np.arange(days, dtype=float)
    s_day = (day_index + 0.5) / days
    emerging_from = (_months_before(world.end, 3) - world.start).total_seconds() / _DAY
    hotspots = world.hotspots
    weights = np.stack([_intensity(h, s_day, day_index, emerging_from) for h in hotspots])
    cells = rng.choice(weights.size, size=n_hot, p=(weights / weights.sum()).ravel())
    hot = cells // days
    t_hot = (cells % days) * _DAY + time_of_day(n_hot)
    t_hot = np.where(t_hot >= total, t_hot % total, t_hot)
    s = t_hot / total
    x0 = np.array([h.x0 for h in hotspots])[hot]
    y0 = np.array([h.y0 for h in hotspots])[hot]
    cx = x0 + s * (np.array([h.x1 for h in hotspots])[hot] - x0)
    cy = y0 + s * (np.array([h.y1 for h in hotspots])[hot] - y0)
    sigma = np.array([h.sigma_km for h in hotspots])[hot]
    lon_hot = np.empty(n_hot)
    lat_hot = np.empty(n_hot)
    todo = np.arange(n_hot)
    while todo.size:
        lat_hot[todo] = cy[todo] + rng.normal(0, 1, todo.size) * sigma[todo] / _KM_PER_DEG_LAT
        lon_hot[todo] = cx[todo] + rng.normal(0, 1, todo.size) * sigma[todo] / _kx(lat_hot[todo])
        lon_hot[todo] = np.round(lon_hot[todo], 6)
        lat_hot[todo] = np.round(lat_hot[todo], 6)
        outside = (
            (lon_hot[todo] <= _X0 + _EPS)
            | (lon_hot[todo] >= _X1 - _EPS)
            | (lat_hot[todo] <= _Y0 + _EPS)
            | (lat_hot[todo] >= _Y1 - _EPS)
        )
        todo = todo[outside]

    # Near IDP sites: within 0.2-5 km of a site, more often the larger ones.
    site_w = np.sqrt(np.array([site.population for site in world.sites], dtype=float))
    site = (
        rng.choice(len(world.sites), size=n_idp, p=site_w / site_w.sum())
        if n_idp
        else np.zeros(0, int)
    )
    r = rng.uniform(0.2, 5.0, n_idp)
    a = rng.uniform(0, 2 * math.pi, n_idp)
    site_lat = np.array([s_.lat for s_ in world.sites])[site]
    site_lon = np.array([s_.lon for s_ in world.sites])[site]
    lat_idp = np.round(site_lat + r * np.sin(a) / _KM_PER_DEG_LAT, 6)
    lon_idp = np.round(site_lon + r * np.cos(a) / _kx(site_lat), 6)
    t_idp = rng.integers(0, total, n_idp)

    # Background: uniform over the area and the period.
    lon_bg = np.round(rng.uniform(_X0 + _EPS, _X1 - _EPS, n_bg), 6)
    lat_bg = np.round(rng.uniform(_Y0 + _EPS, _Y1 - _EPS, n_bg), 6)
    t_bg = rng.integers(0, total, n_bg)

    lon = np.concatenate([lon_hot, lon_idp, lon_bg])
    lat = np.concatenate([lat_hot, lat_idp, lat_bg])
    t = np.concatenate([t_hot, t_idp, t_bg]).astype(np.int64)
    component = np.concatenate([np.zeros(n_hot, int), np.ones(n_idp, int), np.full(n_bg, 2)])
    hot_of = np.concatenate([hot, np.full(n_idp + n_bg, -1)]).astype(np.int64)
    order = np.argsort(t, kind="stable")
    lon, lat, t, component, hot_of = (
        lon[order],
        lat[order],
        t[order],
        component[order],
        hot_of[order],
    )

    # What happened.
    category = np.empty(n, dtype=np.int64)
    for c in range(3):
        mask = component == c
        category[mask] = rng.choice(
            len(INCIDENT_CATEGORIES), size=int(mask.sum()), p=_CATEGORY_P[c]
        )
    severity = rng.choice(5, size=n, p=[0.38, 0.3, 0.18, 0.09, 0.05]) + 1
    severity += (_VIOLENT[category] & (rng.random(n) < 0.35)).astype(np.int64)
    severity -= (_MILD[category] & (rng.random(n) < 0.3)).astype(np.int64)
    severity = np.clip(severity, 1, 5)
    factor = np.where(_VIOLENT[category], 1.0, 0.15)
    factor[category == _SV] = 0.0
    killed = rng.poisson(np.array([0.02, 0.15, 0.7, 2.0, 5.0])[severity - 1] * factor)
    injured = rng.poisson(
        np.array([0.1, 0.5, 1.5, 4.0, 9.0])[severity - 1] * np.where(_VIOLENT[category], 1.0, 0.3)
    )
    displaced = np.zeros(n, dtype=np.int64)
    is_disp = category == _DISPLACEMENT
    displaced[is_disp] = np.round(
        rng.lognormal(np.log(40.0 * severity[is_disp] ** 1.5), 0.8)
    ).astype(np.int64)
    spill = (category <= 1) & (severity >= 3) & (rng.random(n) < 0.3)
    displaced[spill] = np.round(rng.lognormal(np.log(20.0 * severity[spill]), 0.7)).astype(np.int64)

    # Who did it: an armed group of the hot spot, or any armed group.
    n_groups = len(world.armed_group_ids)
    perpetrator = np.full(n, n_groups, dtype=np.int64)  # n_groups -> None
    if n_groups:
        p_known = np.array([0.55, 0.35, 0.2])[component]
        known = _PERPETRATED[category] & (rng.random(n) < p_known)
        groups = np.array(world.hotspot_groups, dtype=np.int64)
        pick = rng.integers(0, 2, n)
        local_group = groups[np.maximum(hot_of, 0), pick]
        any_group = rng.integers(0, n_groups, n)
        perpetrator[known] = np.where(hot_of >= 0, local_group, any_group)[known]

    # Who reported it, and how much it is protected.
    source = rng.choice(len(_SOURCES), size=n, p=_SOURCE_P)
    reliability = rng.choice(6, size=n, p=[0.05, 0.25, 0.35, 0.2, 0.05, 0.1])
    credibility = rng.choice(6, size=n, p=[0.1, 0.3, 0.3, 0.15, 0.05, 0.1]) + 1
    precision = rng.choice(3, size=n, p=[0.55, 0.33, 0.12])
    classification = rng.choice(3, size=n, p=[0.37, 0.58, 0.05])
    classification[category == _SV] = 2
    delay = np.minimum(rng.exponential(8 * 3600, n), 72 * 3600).astype(np.int64)
    occurred = start_epoch + t
    # Reported by the end of the period at the latest: a report is never dated in the future.
    delay = np.minimum(delay, np.maximum(int(world.end.timestamp()) - 1 - occurred, 0))

    # Where, in words: the nearest town, distance and direction.
    tx = np.array([town.lon for town in world.towns])
    ty = np.array([town.lat for town in world.towns])
    town = np.empty(n, dtype=np.int64)
    town_km = np.empty(n, dtype=np.int64)
    direction = np.empty(n, dtype=np.int64)
    for lo in range(0, n, 200_000):
        sl = slice(lo, lo + 200_000)
        dx = (lon[sl, None] - tx[None, :]) * _kx(ty)[None, :]
        dy = (lat[sl, None] - ty[None, :]) * _KM_PER_DEG_LAT
        d2 = dx * dx + dy * dy
        nearest = np.argmin(d2, axis=1)
        rows = np.arange(nearest.size)
        town[sl] = nearest
        town_km[sl] = np.round(np.sqrt(d2[rows, nearest])).astype(np.int64)
        angle = np.arctan2(dy[rows, nearest], dx[rows, nearest])
        direction[sl] = np.round(angle / (math.pi / 4)).astype(np.int64) % 8

    battalion = world.locate(lon, lat)
    if n and battalion.min() < 0:  # pragma: no cover - every point is inside the area
        raise AssertionError("an incident fell outside every battalion area")

    return _IncidentColumns(
        # Version 7 ids stamped with the time the incident was reported (when the record was
        # created), so they grow with time: a million of them load much faster than random ids.
        id_bytes=_uuid7_bytes(rng, (occurred + delay) * 1000 + rng.integers(0, 1000, n)),
        lon=lon,
        lat=lat,
        occurred=occurred,
        reported=occurred + delay,
        category=category,
        severity=severity,
        killed=killed,
        injured=injured,
        displaced=displaced,
        perpetrator=perpetrator,
        source=source,
        reliability=reliability,
        credibility=credibility,
        precision=precision,
        classification=classification,
        battalion=battalion,
        town=town,
        town_km=town_km,
        direction=direction,
        template=rng.integers(0, 2, n),
    )
