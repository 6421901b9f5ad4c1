"""The generator: one seed and one reference date give one scenario, record ids included."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from service.demo.actors import _build_actors
from service.demo.areas import _build_areas, _place_hotspots, _place_towns, _place_villages
from service.demo.bases import _build_bases, _set_headquarters
from service.demo.incidents import _build_incidents
from service.demo.model import DEFAULT_END, Scenario
from service.demo.patrols import _build_patrols
from service.demo.projects import _build_projects
from service.demo.requests import _build_requests
from service.demo.sites import _build_sites
from service.demo.world import _km, _months_before, _World


def generate_scenario(
    seed: int = 7,
    incidents: int = 20_000,
    months: int = 24,
    end: datetime | None = None,
) -> Scenario:
    """Generate a fictional mission area with its actors, sites, patrols and incidents.

    Parameters
    ----------
    seed
        Seed of every random choice: the same seed (and arguments) gives the same scenario,
        ids included. Tables other than incidents do not depend on ``incidents``.
    incidents
        Number of incidents: about 70 % in 6 drifting hot spots (one intensifying twice, one
        fading, one seasonal, one steady, one appearing only in the last 3 months), a few near
        IDP sites, the rest spread uniformly over the area.
    months
        Length of the period that ends at ``end``.
    end
        End of the period (exclusive); defaults to :data:`DEFAULT_END`. Naive datetimes are
        taken as UTC.

    Returns
    -------
    Scenario
        The records of every table; incidents as columns (see :meth:`Scenario.incident_batches`).

    Examples
    --------
    >>> scenario = generate_scenario(seed=7, incidents=1_000)
    >>> len(scenario.sectors), scenario.incident_count
    (13, 1000)
    >>> scenario.sectors[0]["level"]
    'force'
    """
    if incidents < 0:
        raise ValueError("incidents must be zero or more")
    if months < 1:
        raise ValueError("months must be at least 1")
    end = DEFAULT_END if end is None else end
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    end = end.astimezone(UTC)
    start = _months_before(end, months)

    names = (
        "areas",
        "towns",
        "hotspots",
        "actors",
        "sites",
        "bases",
        "projects",
        "patrols",
        "incidents",
        "requests",  # last: earlier streams, and so earlier tables, stay as they were
    )
    streams = np.random.SeedSequence(seed).spawn(len(names))
    rng = {name: np.random.default_rng(s) for name, s in zip(names, streams, strict=True)}

    world = _World(start=start, end=end)
    sectors = _build_areas(rng["areas"], world)
    _place_towns(rng["towns"], world)
    _place_villages(rng["towns"], world)
    _place_hotspots(rng["hotspots"], world)
    actors = _build_actors(rng["actors"], world)
    sites, history = _build_sites(rng["sites"], world)
    bases = _build_bases(rng["bases"], world)
    _set_headquarters(sectors, world)
    projects = _build_projects(rng["projects"], world)
    patrols = _build_patrols(rng["patrols"], world)
    columns = _build_incidents(rng["incidents"], world, incidents)
    assistance_requests = _build_requests(rng["requests"], world)

    towns = [
        {"name": t.name, "lon": t.lon, "lat": t.lat, "population": t.population}
        for t in world.towns
    ]
    hotspots = [
        {
            "name": h.name,
            "profile": h.profile,
            "start": (h.x0, h.y0),
            "end": (h.x1, h.y1),
            "sigma_km": h.sigma_km,
            "drift_km": _km(h.x0, h.y0, h.x1, h.y1),
        }
        for h in world.hotspots
    ]
    return Scenario(
        seed=seed,
        start=start,
        end=end,
        months=months,
        towns=towns,
        villages=list(world.villages),
        hotspots=hotspots,
        sectors=sectors,
        actors=actors,
        idp_sites=sites,
        site_population=history,
        bases=bases,
        patrols=patrols,
        projects=projects,
        _columns=columns,
        _sector_ids=[str(i) for i in world.battalion_ids],
        _perpetrator_ids=[str(a) for a in world.armed_group_ids],
        assistance_requests=assistance_requests,
    )
