"""IDP sites and their population history."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from service.demo.areas import _village
from service.demo.model import Record, _uuid
from service.demo.world import (
    _blob,
    _choice,
    _classification,
    _day,
    _point_near,
    _record,
    _Site,
    _wkt,
    _World,
)

# --------------------------------------------------------------------------------------------
# IDP sites and their population history
# --------------------------------------------------------------------------------------------

_SITE_TYPES = ("planned_camp", "collective_centre", "spontaneous_settlement", "host_community")
_BUILDINGS = ("primary school", "church", "stadium", "mosque", "market hall", "youth centre")
_POP_SOURCES = ("DTM round {}", "Camp management agency", "Local authority", "Rapid assessment")


def _build_sites(rng: np.random.Generator, world: _World) -> tuple[list[Record], list[Record]]:
    sites: list[Record] = []
    history: list[Record] = []
    humanitarian = [a for a in world.actors if a.humanitarian]
    days = (world.end - world.start).days
    for t, town in enumerate(world.towns):
        managers = [a for a in humanitarian if a.town == t] or humanitarian
        for _ in range(int(rng.integers(3, 8))):
            site_type = _choice(rng, _SITE_TYPES, (0.2, 0.2, 0.35, 0.25))
            village = _village(rng, world)
            name = {
                "planned_camp": f"{village} IDP camp",
                "collective_centre": f"{town.name} {_BUILDINGS[int(rng.integers(len(_BUILDINGS)))]} "
                "collective centre",
                "spontaneous_settlement": f"{village} spontaneous site",
                "host_community": f"{village} host community",
            }[site_type]
            x, y = _point_near(rng, town.lon, town.lat, 1.0, 12.0)
            polygon = rng.random() < (0.6 if site_type == "planned_camp" else 0.1)
            geom: BaseGeometry = (
                _blob(rng, x, y, rng.uniform(0.15, 0.4)) if polygon else Point(x, y)
            )
            individuals = int(np.clip(rng.lognormal(math.log(6_000), 1.0), 500, 60_000))
            record = _record(rng, "site", len(sites) + 1, _classification(rng, 0.6, 0.3))
            # Population history: 4-8 counts, trending towards the latest figure.
            n_obs = int(rng.integers(4, 9))
            offsets = np.sort(rng.choice(days, size=n_obs, replace=False))
            offsets[-1] = max(int(offsets[-1]), days - int(rng.integers(1, 60)))
            offsets = np.unique(offsets)
            first = individuals * rng.uniform(0.4, 1.5)
            trend = np.linspace(first, individuals, len(offsets))
            counts = np.maximum(0, trend * rng.uniform(0.9, 1.1, len(offsets))).astype(int)
            counts[-1] = individuals
            households = individuals // 5
            observed = [_day(world.start) + timedelta(days=int(o)) for o in offsets]
            manager = managers[int(rng.integers(len(managers)))]
            record |= {
                "name": name,
                "site_type": site_type,
                "status": _choice(rng, ("open", "closed"), (0.85, 0.15)),
                "population_individuals": individuals,
                "population_households": households,
                "population_date": observed[-1],
                "managing_actor_id": manager.id,
                "description": f"{site_type.replace('_', ' ').capitalize()} near {town.name}, "
                f"managed by {manager.name}.",
                "geom": _wkt(geom),
                "sector_id": world.sector_of(geom),
            }
            sites.append(record)
            world.sites.append(_Site(record["id"], x, y, individuals))
            for k, (day, count) in enumerate(zip(observed, counts.tolist(), strict=True)):
                history.append(
                    {
                        "id": _uuid(rng),
                        "site_id": record["id"],
                        "observed_on": day,
                        "individuals": int(count),
                        "households": households
                        if k == len(observed) - 1
                        else int(count / rng.uniform(4.6, 5.4)),
                        "source": _POP_SOURCES[int(rng.integers(len(_POP_SOURCES)))].format(k + 1),
                    }
                )
    return sites, history
