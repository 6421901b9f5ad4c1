"""The demo mission's geography beyond its records: the gazetteer (its towns and villages,
placed) and the roads and rivers of its basemap. Everything is derived from a generated
scenario (:func:`service.demo.generate_scenario`) and its seed, so the same seed draws the same
map, and every name on it is one the demo's records use.
"""

from __future__ import annotations

import itertools
import math
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from shapely.geometry import LineString, Point

#: Stable ids: the same seed gives the same place ids at every load.
_NAMESPACE = uuid.UUID("6f1d3c52-9a57-4b61-a0f3-7cf2de0b2a11")
#: Villages lie this far (km) from the town they belong to.
VILLAGE_KM = (6.0, 45.0)
#: Other spellings of the towns' names, as older maps and French-language reports write them.
_SPELLINGS = (("k", "c"), ("o", "au"), ("i", "y"), ("u", "ou"))


class ScenarioLike(Protocol):
    seed: int
    towns: list[dict[str, Any]]
    villages: list[str]


@dataclass(frozen=True)
class DemoPlace:
    name: str
    lon: float
    lat: float
    population: int
    place_class: str
    alternate_names: str | None


@dataclass(frozen=True)
class DemoGeography:
    """What the demo's basemap draws and its gazetteer holds."""

    bbox: tuple[float, float, float, float]
    places: list[DemoPlace]
    #: (kind, line): kind is ``main`` (between towns) or ``track`` (to a village).
    roads: list[tuple[str, LineString]]
    rivers: list[LineString]

    def place_records(self, origin: str = "demo") -> list[dict[str, Any]]:
        """The gazetteer's rows, as the demo loader writes them (all public)."""
        return [
            {
                "id": str(uuid.uuid5(_NAMESPACE, f"{origin}:{p.name}")),
                "origin": origin,
                "external_id": f"{origin}-place-{i:04d}",
                "classification": "public",
                "name": p.name,
                "alternate_names": p.alternate_names,
                "place_class": p.place_class,
                "population": p.population,
                "geom": Point(p.lon, p.lat).wkt,
            }
            for i, p in enumerate(self.places, start=1)
        ]


def _km_to_deg(lat: float) -> tuple[float, float]:
    """Degrees of longitude and latitude per km at ``lat``."""
    return 1 / (111.32 * math.cos(math.radians(lat))), 1 / 110.574


def _spelling(name: str, rng: np.random.Generator) -> str | None:
    lowered = name.lower()
    for a, b in _SPELLINGS:
        if a in lowered[1:] and rng.random() < 0.6:
            other = name[0] + lowered[1:].replace(a, b, 1)
            return other if other != name else None
    return None


def _class_of(population: int) -> str:
    if population >= 100_000:
        return "city"
    if population >= 10_000:
        return "town"
    if population >= 1_000:
        return "village"
    return "hamlet"


def _wiggle(
    rng: np.random.Generator, a: tuple[float, float], b: tuple[float, float], amount: float
) -> LineString:
    """A line from ``a`` to ``b`` that bends as roads and rivers do (midpoint displacement)."""
    points = [np.array(a), np.array(b)]
    scale = amount
    for _ in range(4):
        bent = [points[0]]
        for p, q in itertools.pairwise(points):
            middle = (p + q) / 2
            normal = np.array([-(q - p)[1], (q - p)[0]])
            bent += [middle + normal * rng.normal(0, scale), q]
        points = bent
        scale /= 2
    return LineString([(round(float(x), 5), round(float(y), 5)) for x, y in points])


def demo_geography(
    scenario: ScenarioLike, bbox: tuple[float, float, float, float]
) -> DemoGeography:
    """Places, roads and rivers of a demo scenario.

    Parameters
    ----------
    scenario
        A generated scenario: its towns (name, position, population) and village names.
    bbox
        The mission area (west, south, east, north): everything lies inside it.

    Returns
    -------
    DemoGeography
        Towns as placed by the scenario, each village near a town (bigger towns have more),
        main roads joining the towns (a spanning tree and a few shortcuts), tracks from
        each village to the nearest town or village already reached, and three rivers.

    Examples
    --------
    >>> from service.demo import MISSION_BBOX, generate_scenario
    >>> world = demo_geography(generate_scenario(seed=7, incidents=0), MISSION_BBOX)
    >>> len(world.places), sorted({p.place_class for p in world.places})[:2]
    (132, ['city', 'hamlet'])
    >>> world == demo_geography(generate_scenario(seed=7, incidents=0), MISSION_BBOX)
    True
    """
    rng = np.random.default_rng([scenario.seed, 23])
    west, south, east, north = bbox
    places = [
        DemoPlace(
            t["name"],
            float(t["lon"]),
            float(t["lat"]),
            int(t["population"]),
            _class_of(int(t["population"])),
            _spelling(t["name"], rng),
        )
        for t in scenario.towns
    ]
    towns = list(places)
    weights = np.array([t.population for t in towns], dtype=float) ** 0.5
    for name in scenario.villages:
        while True:
            town = towns[int(rng.choice(len(towns), p=weights / weights.sum()))]
            km = rng.uniform(*VILLAGE_KM)
            angle = rng.uniform(0, 2 * math.pi)
            dx, dy = _km_to_deg(town.lat)
            lon = round(town.lon + km * math.cos(angle) * dx, 5)
            lat = round(town.lat + km * math.sin(angle) * dy, 5)
            if west + 0.05 < lon < east - 0.05 and south + 0.05 < lat < north - 0.05:
                break
        population = int(rng.lognormal(math.log(1_500), 0.8)) + 80
        population = min(population, 9_500)
        places.append(DemoPlace(name, lon, lat, population, _class_of(population), None))

    # Main roads: a spanning tree over the towns, and the three shortest links it left out.
    xy = np.array([[t.lon, t.lat] for t in towns])
    distance = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    from scipy.sparse.csgraph import minimum_spanning_tree  # 0.2 s to import: when drawn

    tree = minimum_spanning_tree(distance).toarray() > 0
    links = {(i, j) for i, j in zip(*np.nonzero(tree), strict=True)}
    spare = sorted(
        (distance[i, j], i, j)
        for i in range(len(towns))
        for j in range(i + 1, len(towns))
        if (i, j) not in links and (j, i) not in links
    )
    links |= {(i, j) for _, i, j in spare[:3]}
    roads: list[tuple[str, LineString]] = [
        ("main", _wiggle(rng, tuple(xy[i]), tuple(xy[j]), 0.08)) for i, j in sorted(links)
    ]
    reached = [(t.lon, t.lat) for t in towns]
    for village in places[len(towns) :]:
        here = (village.lon, village.lat)
        nearest = min(reached, key=lambda p: math.hypot(p[0] - here[0], p[1] - here[1]))
        roads.append(("track", _wiggle(rng, nearest, here, 0.12)))
        reached.append(here)

    # Rivers: from the northern edge to the southern or eastern one, across the area.
    rivers = []
    for k in range(3):
        start = (west + (k + 1) * (east - west) / 4 + rng.uniform(-0.4, 0.4), north)
        end = (
            (start[0] + rng.uniform(-1.5, 1.5), south)
            if k != 2
            else (east, south + rng.uniform(0.5, 2.5))
        )
        middle = (
            (start[0] + end[0]) / 2 + rng.uniform(-0.6, 0.6),
            (start[1] + end[1]) / 2 + rng.uniform(-0.6, 0.6),
        )
        first = _wiggle(rng, start, middle, 0.15)
        second = _wiggle(rng, middle, end, 0.15)
        rivers.append(LineString([*first.coords, *list(second.coords)[1:]]))
    return DemoGeography(bbox, places, roads, rivers)
