"""Actors: UN agencies, mission components, NGOs, authorities, armed groups."""

from __future__ import annotations

import numpy as np
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from service.demo.areas import _village
from service.demo.model import _X0, _X1, _Y0, _Y1, Record
from service.demo.world import (
    _acronym,
    _Actor,
    _blob,
    _classification,
    _kx,
    _person,
    _phone,
    _point_near,
    _record,
    _slug,
    _wkt,
    _World,
)

# --------------------------------------------------------------------------------------------
# Actors
# --------------------------------------------------------------------------------------------

_UN_AGENCIES = (
    ("UN Refugee Agency", "UNHCR"),
    ("UN Children's Fund", "UNICEF"),
    ("World Food Programme", "WFP"),
    ("Office for the Coordination of Humanitarian Affairs", "OCHA"),
    ("World Health Organization", "WHO"),
    ("UN Population Fund", "UNFPA"),
    ("UN Development Programme", "UNDP"),
    ("Food and Agriculture Organization", "FAO"),
    ("UN Mine Action Service", "UNMAS"),
    ("International Organization for Migration", "IOM"),
)
_MISSION_COMPONENTS = (
    ("Civil Affairs Division", "CAD"),
    ("Human Rights Division", "HRD"),
    ("United Nations Police", "UNPOL"),
    ("Joint Mission Analysis Centre", "JMAC"),
    ("Joint Operations Centre", "JOC"),
    ("Protection of Civilians Unit", "POC"),
    ("Child Protection Unit", "CPU"),
    ("Disarmament, Demobilisation and Reintegration Section", "DDR"),
    ("Gender Affairs Unit", "GAU"),
    ("Mine Action Coordination Centre", "MACC"),
)
_IOS = (
    "Inter-Regional Relief Federation",
    "Continental Health Initiative",
    "Commission for Humanitarian Protection",
    "Regional Development Bank field office",
    "Lakes Region Food Security Observatory",
    "International Committee for Displaced Persons",
)
_INGO_A = ("Global", "United", "Open", "First", "Common", "Horizon", "Safe", "Bright", "Shared")
_INGO_B = (
    "Relief",
    "Hands",
    "Water",
    "Shelter",
    "Health",
    "Futures",
    "Harvest",
    "Schools",
    "Rights",
)
_INGO_C = ("International", "Alliance", "Without Borders", "Worldwide", "Network")
_NGO_KINDS = (
    "Women's Association",
    "Youth for Peace",
    "Farmers' Cooperative",
    "Community Health Network",
    "Human Rights League",
    "Association for Displaced Persons",
    "Children's Aid",
    "Water Committee",
    "Peace Committee",
    "Disability Support Group",
)
_ARMED_A = ("Patriotic", "Popular", "Revolutionary", "National", "Democratic", "United")
_ARMED_B = ("Front", "Movement", "Coalition", "Army", "Resistance", "Alliance")


def _build_actors(rng: np.random.Generator, world: _World) -> list[Record]:
    records: list[Record] = []
    towns = world.towns

    def add(
        category: str,
        name: str,
        acronym: str | None,
        town: int,
        *,
        classification: str,
        humanitarian: bool,
        contact: bool,
        description: str,
        geom: BaseGeometry | None = None,
    ) -> None:
        if geom is None:
            t = towns[town]
            geom = Point(*_point_near(rng, t.lon, t.lat, 0.2, 4.0))
        record = _record(rng, "actor", len(records) + 1, classification)
        focal = phone = email = None
        if contact:
            first, last = _person(rng)
            focal = f"{first} {last}"
            phone = _phone(rng)
            email = f"{first.lower()}.{last.lower()}@{_slug(acronym or name)}.example.org"
        record |= {
            "name": name,
            "acronym": acronym,
            "category": category,
            "humanitarian": humanitarian,
            "focal_point": focal,
            "phone": phone,
            "email": email,
            "description": description,
            "geom": _wkt(geom),
            "sector_id": world.sector_of(geom),
        }
        records.append(record)
        world.actors.append(_Actor(record["id"], category, name, town, humanitarian))

    def town_index() -> int:
        weights = np.array([t.population for t in towns], dtype=float)
        return int(rng.choice(len(towns), p=weights / weights.sum()))

    def humane_class() -> str:
        return _classification(rng, 0.85, 0.10)

    def area_of_operation(t: int, r_min: float, r_max: float) -> Polygon:
        town = towns[t]
        x, y = _point_near(rng, town.lon, town.lat, 0, 10)
        edge_km = min(
            (x - _X0) * float(_kx(y)), (_X1 - x) * float(_kx(y)), (y - _Y0) * 110, (_Y1 - y) * 110
        )
        return _blob(rng, x, y, min(rng.uniform(r_min, r_max), 0.8 * edge_km))

    # UN agencies: one office in the capital of each of two or three sectors.
    capitals = [i for i, t in enumerate(towns) if t.capital]
    for name, acronym in _UN_AGENCIES:
        offices = sorted(
            int(i) for i in rng.choice(capitals, size=int(rng.integers(1, 4)), replace=False)
        )
        for t in offices:
            add(
                "un_agency",
                f"{name} - {towns[t].name} sub-office",
                acronym,
                t,
                classification=humane_class(),
                humanitarian=True,
                contact=rng.random() < 0.95,
                description=f"{acronym} field presence covering {towns[t].name} and surroundings.",
            )
    for name, acronym in _MISSION_COMPONENTS:
        t = capitals[int(rng.integers(len(capitals)))]
        add(
            "mission_component",
            f"{name} - {towns[t].name}",
            acronym,
            t,
            classification=_classification(rng, 0.3, 0.65),
            humanitarian=False,
            contact=True,
            description=f"Mission {name.lower()} team based in {towns[t].name}.",
        )
    for name in _IOS:
        t = town_index()
        add(
            "international_organisation",
            name,
            _acronym(name),
            t,
            classification=humane_class(),
            humanitarian=True,
            contact=rng.random() < 0.9,
            description=f"International organisation with an office in {towns[t].name}.",
        )
    ingo_names: set[str] = set()
    while len(ingo_names) < 25:
        ingo_names.add(
            f"{_INGO_A[int(rng.integers(len(_INGO_A)))]} {_INGO_B[int(rng.integers(len(_INGO_B)))]} "
            f"{_INGO_C[int(rng.integers(len(_INGO_C)))]}"
        )
    for i, name in enumerate(sorted(ingo_names)):
        t = town_index()
        area = area_of_operation(t, 15, 35) if i % 10 == 3 else None
        add(
            "ingo",
            name,
            _acronym(name),
            t,
            classification=humane_class(),
            humanitarian=True,
            contact=rng.random() < 0.9,
            description=f"International NGO: programmes around {towns[t].name}.",
            geom=area,
        )
    ngo_names: set[tuple[int, int]] = set()
    while len(ngo_names) < 30:
        ngo_names.add((int(rng.integers(len(towns))), int(rng.integers(len(_NGO_KINDS)))))
    for i, (t, kind) in enumerate(sorted(ngo_names)):
        name = f"{towns[t].name} {_NGO_KINDS[kind]}"
        add(
            "ngo",
            name,
            None,
            t,
            classification=humane_class(),
            humanitarian=True,
            contact=rng.random() < 0.85,
            description=f"Local NGO founded in {towns[t].name}.",
            geom=area_of_operation(t, 8, 20) if i % 15 == 7 else None,
        )
    ministries = (
        "Ministry of Humanitarian Affairs",
        "Ministry of Health",
        "National Commission for Refugees",
        "Ministry of Social Affairs",
    )
    for i in range(8):
        t = capitals[i % len(capitals)]
        name = f"{ministries[i % len(ministries)]} - {towns[t].name} delegation"
        add(
            "host_government",
            name,
            None,
            t,
            classification=_classification(rng, 0.8, 0.2),
            humanitarian=False,
            contact=rng.random() < 0.9,
            description="Host government delegation.",
        )
    for i in range(12):
        t = int(rng.integers(len(towns)))
        if i < 4:
            name = f"National Armed Forces - {i + 1}{('st', 'nd', 'rd', 'th')[min(i, 3)]} Brigade"
        elif i < 9:
            name = f"National Police - {towns[t].name} commissariat {i - 3}"
        else:
            name = f"Gendarmerie - {towns[t].name} company {i - 8}"
        add(
            "host_security_forces",
            name,
            None,
            t,
            classification=_classification(rng, 0.1, 0.8),
            humanitarian=False,
            contact=rng.random() < 0.7,
            description="Host state security forces.",
        )
    for i in range(16):
        t = i % len(towns)
        name = (
            f"Prefecture of {towns[t].name}"
            if i < len(towns)
            else f"Chiefdom of {_village(rng, world)}"
        )
        add(
            "local_authority",
            name,
            None,
            t,
            classification=_classification(rng, 0.85, 0.15),
            humanitarian=False,
            contact=rng.random() < 0.85,
            description="Local administrative authority.",
        )
    # Armed groups: two per hot spot, positioned near where the hot spot starts, and three more.
    armed: set[str] = set()
    for i in range(15):
        while True:
            name = (
                f"{_ARMED_A[int(rng.integers(len(_ARMED_A)))]} "
                f"{_ARMED_B[int(rng.integers(len(_ARMED_B)))]} of "
                f"{_village(rng, world) if i % 2 else towns[int(rng.integers(len(towns)))].name}"
            )
            if name not in armed:
                armed.add(name)
                break
        if i < 2 * len(world.hotspots):
            h = world.hotspots[i // 2]
            x, y = _point_near(rng, h.x0, h.y0, 2, 20)
            if i % 4 == 1:
                edge_km = min((x - _X0) * 108, (_X1 - x) * 108, (y - _Y0) * 108, (_Y1 - y) * 108)
                position: BaseGeometry = _blob(rng, x, y, min(rng.uniform(20, 40), 0.8 * edge_km))
            else:
                position = Point(x, y)
            town = h.town
        else:
            town = int(rng.integers(len(towns)))
            position = Point(*_point_near(rng, towns[town].lon, towns[town].lat, 20, 45))
        fighters = int(rng.integers(3, 40)) * 25
        add(
            "armed_group",
            name,
            _acronym(name),
            town,
            classification="restricted" if i in (5, 11) else "mission",
            humanitarian=False,
            contact=False,
            description=f"Armed group, estimated {fighters} fighters.",
            geom=position,
        )
        world.armed_group_ids.append(records[-1]["id"])
    world.hotspot_groups = [[2 * i, 2 * i + 1] for i in range(len(world.hotspots))]
    others = (
        "Radio {} FM",
        "{} Traders' Association",
        "Diocese of {}",
        "Council of Elders of {}",
        "{} Transporters' Union",
    )
    for i in range(9):
        t = int(rng.integers(len(towns)))
        name = others[i % len(others)].format(towns[t].name)
        if i >= len(others):
            name = others[i % len(others)].format(_village(rng, world))
        add(
            "other",
            name,
            None,
            t,
            classification=_classification(rng, 0.9, 0.1),
            humanitarian=False,
            contact=rng.random() < 0.8,
            description="Civil society.",
        )
    return records
