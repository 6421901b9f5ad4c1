"""Quick impact, civil assistance and community support projects."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import numpy as np
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from service.demo.areas import _village
from service.demo.model import Record
from service.demo.world import (
    _blob,
    _choice,
    _classification,
    _day,
    _point_near,
    _record,
    _wkt,
    _World,
)

# --------------------------------------------------------------------------------------------
# Projects
# --------------------------------------------------------------------------------------------

_PROJECT_TITLES = {
    "quick_impact_project": (
        "Rehabilitation of the {obj} in {place}",
        "Construction of {obj} in {place}",
        "Solar lighting for the {obj} in {place}",
    ),
    "civil_assistance": (
        "Medical outreach in {place}",
        "Veterinary campaign in {place}",
        "Water distribution in {place}",
        "Road repair near {place}",
    ),
    "community_support": (
        "Peace dialogue in {place}",
        "Vocational training for youth in {place}",
        "Community radio programme in {place}",
        "Livelihood support for returnees in {place}",
    ),
}
_PROJECT_OBJECTS = (
    "primary school",
    "health centre",
    "market",
    "borehole",
    "youth centre",
    "police post",
    "bridge",
    "water point",
    "women's centre",
    "court house",
)


def _build_projects(rng: np.random.Generator, world: _World) -> list[Record]:
    records: list[Record] = []
    by_kind = {
        "quick_impact_project": [
            a for a in world.actors if a.category in ("ngo", "local_authority")
        ],
        "civil_assistance": [
            a for a in world.actors if a.category in ("mission_component", "ingo")
        ],
        "community_support": [
            a for a in world.actors if a.category in ("ngo", "ingo", "un_agency", "other")
        ],
    }
    today = _day(world.end)
    weights = np.array([t.population for t in world.towns], dtype=float) ** 0.5
    for number in range(1, 201):
        kind = _choice(rng, tuple(by_kind), (0.45, 0.3, 0.25))
        status = _choice(
            rng,
            ("proposed", "approved", "ongoing", "completed", "cancelled"),
            (0.1, 0.15, 0.35, 0.33, 0.07),
        )
        t = int(rng.choice(len(world.towns), p=weights / weights.sum()))
        town = world.towns[t]
        local = [a for a in by_kind[kind] if a.town == t]
        actor = local if local and rng.random() < 0.7 else by_kind[kind]
        implementer = actor[int(rng.integers(len(actor)))]
        duration = int(rng.integers(30, 365))
        if status == "completed":
            start = today - timedelta(days=int(rng.integers(duration + 30, 900)))
        elif status == "ongoing":
            start = today - timedelta(days=int(rng.integers(15, duration)))
        elif status in ("approved", "proposed"):
            start = today + timedelta(days=int(rng.integers(7, 240)))
        else:
            start = today - timedelta(days=int(rng.integers(30, 700)))
        end = start + timedelta(days=duration)
        if kind == "quick_impact_project":
            budget = int(rng.integers(50, 501)) * 100
        elif kind == "civil_assistance":
            budget = int(rng.integers(20, 801)) * 100
        else:
            budget = int(rng.integers(100, 3001)) * 100
        place = town.name if rng.random() < 0.5 else _village(rng, world)
        template = _PROJECT_TITLES[kind][int(rng.integers(len(_PROJECT_TITLES[kind])))]
        title = template.format(
            obj=_PROJECT_OBJECTS[int(rng.integers(len(_PROJECT_OBJECTS)))], place=place
        )
        x, y = _point_near(rng, town.lon, town.lat, 0.5, 15.0)
        geom: BaseGeometry = (
            _blob(rng, x, y, rng.uniform(0.1, 0.3)) if rng.random() < 0.1 else Point(x, y)
        )
        record = _record(rng, "project", number, _classification(rng, 0.7, 0.28))
        record |= {
            "title": title,
            "kind": kind,
            "status": status,
            "implementing_actor_id": implementer.id,
            "budget_usd": Decimal(budget).quantize(Decimal("0.01")),
            "start_date": start,
            "end_date": end,
            "beneficiaries": int(np.clip(rng.lognormal(math.log(1_500), 1.0), 50, 20_000)),
            "description": f"{kind.replace('_', ' ').capitalize()} implemented by {implementer.name}.",
            "geom": _wkt(geom),
            "sector_id": world.sector_of(geom),
        }
        records.append(record)
    return records
