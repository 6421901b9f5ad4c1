"""A deterministic, seeded generator of a fictional mission area.

Everything is invented: the towns, the organisations (apart from the names of UN agencies), the
armed groups and every incident. The area is the box lon 23..29, lat 3..9, split into one force
area, four sectors (2 x 2, slightly irregular boundaries) and eight battalion areas. The same seed
gives the same scenario, record ids included, so demos, tests and benchmarks are reproducible.
Ids are random (version 4) UUIDs drawn from the seed, except incident ids: version 7 UUIDs
stamped with the time the incident was reported, so that they grow with time and a million of
them go into the primary-key and audit indexes quickly.

Records are plain dicts whose keys are the column names of the table they belong to; geometries
are WKT strings in WGS 84 under ``geom`` (and ``hq`` for sectors). Incidents can be many (a
million for benchmarks): they are held as numpy columns and handed out in batches by
:meth:`Scenario.incident_batches`; :attr:`Scenario.incidents` builds the dicts on demand.

This module is pure Python (numpy + shapely): it knows nothing of the database or the API.
"""

from __future__ import annotations

import calendar
import math
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import polygonize, unary_union

__all__ = [
    "DEFAULT_END",
    "DEFAULT_REFERENCE_DATE",
    "INCIDENT_CATEGORIES",
    "INCIDENT_COLUMNS",
    "MISSION_BBOX",
    "ORIGIN",
    "Record",
    "Scenario",
    "generate_scenario",
    "period_end",
]

Record = dict[str, Any]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Mission area: (lon_min, lat_min, lon_max, lat_max).
MISSION_BBOX: tuple[float, float, float, float] = (23.0, 3.0, 29.0, 9.0)
#: The last day of the period when none is given, so that a seed alone fixes the whole
#: scenario (the service loads the demo up to the day it is loaded: ``civop demo``).
DEFAULT_REFERENCE_DATE = date(2026, 10, 31)


def period_end(reference_date: date) -> datetime:
    """The end (exclusive) of a period whose last day is ``reference_date``: the next midnight, UTC.

    Examples
    --------
    >>> period_end(date(2026, 10, 31)).isoformat()
    '2026-11-01T00:00:00+00:00'
    """
    return datetime.combine(reference_date + timedelta(days=1), datetime.min.time(), UTC)


#: The fixed default end of the period.
DEFAULT_END = period_end(DEFAULT_REFERENCE_DATE)
#: ``origin`` of every generated record.
ORIGIN = "demo"

INCIDENT_CATEGORIES: tuple[str, ...] = (
    "armed_clash",
    "attack_on_civilians",
    "sexual_violence",
    "abduction",
    "looting",
    "explosive_hazard",
    "displacement",
    "protest_or_riot",
    "threat_or_intimidation",
    "attack_on_humanitarians",
    "other",
)
#: Keys of an incident batch (see :meth:`Scenario.incident_batches`): the columns of the
#: ``incidents`` table, with the point as ``lon``/``lat`` instead of a WKT ``geom``.
INCIDENT_COLUMNS: tuple[str, ...] = (
    "id",
    "origin",
    "external_id",
    "classification",
    "category",
    "occurred_at",
    "reported_at",
    "severity",
    "killed",
    "injured",
    "displaced",
    "perpetrator_actor_id",
    "source",
    "source_reliability",
    "source_credibility",
    "location_precision",
    "description",
    "lon",
    "lat",
    "sector_id",
)

_X0, _Y0, _X1, _Y1 = MISSION_BBOX
_XM, _YM = 26.0, 6.0
_KM_PER_DEG_LAT = 110.574
_KM_PER_DEG_LON_EQ = 111.320
_EPS = 1e-3  # keep generated points this far (degrees) inside the mission area
_DAY = 86_400

_CLASSIFICATIONS = ("public", "mission", "restricted")
_PRECISIONS = ("exact", "approximate", "area")
_RELIABILITY = ("A", "B", "C", "D", "E", "F")
_DIRECTIONS = (
    "east",
    "north-east",
    "north",
    "north-west",
    "west",
    "south-west",
    "south",
    "south-east",
)

_TOWN_NAMES = (
    "Kalembe",
    "Tanzo",
    "Mbelira",
    "Dorosa",
    "Ngaruvi",
    "Lobanda",
    "Kisenzari",
    "Obuyo",
    "Zemandi",
    "Fulobe",
    "Rwakita",
    "Sangoli",
)
_SYLLABLES = (
    "ka",
    "lo",
    "mbe",
    "nga",
    "ri",
    "sa",
    "to",
    "zu",
    "bo",
    "di",
    "ke",
    "mu",
    "ya",
    "wa",
    "fe",
    "ngo",
    "ba",
    "te",
    "vi",
    "ru",
)
_FIRST_NAMES = (
    "Amina",
    "Jean",
    "Grace",
    "Samuel",
    "Fatou",
    "Pierre",
    "Esther",
    "David",
    "Mariam",
    "Joseph",
    "Aline",
    "Ibrahim",
    "Claire",
    "Moses",
    "Nadia",
    "Paul",
    "Ruth",
    "Omar",
    "Sofia",
    "Emmanuel",
)
_LAST_NAMES = (
    "Okello",
    "Mbaye",
    "Ndongo",
    "Kabila",
    "Mensah",
    "Diallo",
    "Banda",
    "Moreau",
    "Haddad",
    "Kamau",
    "Lindqvist",
    "Tembo",
    "Nkemba",
    "Sarr",
    "Achieng",
    "Rossi",
    "Mutombo",
    "Keita",
    "Ferreira",
    "Walters",
)

_CATEGORY_TEXT: dict[str, tuple[str, str]] = {
    "armed_clash": (
        "Exchange of fire between armed elements",
        "Clashes between rival armed groups",
    ),
    "attack_on_civilians": (
        "Armed men attacked civilians",
        "Civilians killed or wounded in an attack on a village",
    ),
    "sexual_violence": (
        "Reported case of conflict-related sexual violence",
        "Women attacked while collecting firewood",
    ),
    "abduction": ("Civilians abducted by armed men", "Abduction of a village chief"),
    "looting": ("Looting of shops and livestock", "Houses looted and burnt"),
    "explosive_hazard": ("Unexploded ordnance found", "Improvised explosive device on the road"),
    "displacement": (
        "Population movement following insecurity",
        "Families fled to the bush after threats",
    ),
    "protest_or_riot": ("Demonstration against insecurity", "Riot at the market"),
    "threat_or_intimidation": (
        "Threats against community leaders",
        "Armed men seen intimidating farmers",
    ),
    "attack_on_humanitarians": (
        "Humanitarian convoy stopped and robbed",
        "NGO compound broken into",
    ),
    "other": ("Security incident reported", "Unverified report of gunfire"),
}
_SOURCES = (
    "UNPOL patrol report",
    "Battalion daily situation report",
    "Civil Affairs field visit",
    "Human Rights Division",
    "Community alert network",
    "Local authority",
    "NGO partner",
    "Local radio",
    "Social media",
    "Joint Mission Analysis Centre",
)
_SOURCE_P = (0.14, 0.18, 0.08, 0.07, 0.15, 0.1, 0.1, 0.07, 0.06, 0.05)

# Category mix of the three incident components: hot spots, near IDP sites, background.
_CATEGORY_P = np.array(
    [
        [0.25, 0.20, 0.05, 0.08, 0.12, 0.05, 0.10, 0.02, 0.08, 0.03, 0.02],
        [0.03, 0.20, 0.15, 0.08, 0.12, 0.02, 0.10, 0.10, 0.12, 0.06, 0.02],
        [0.06, 0.10, 0.03, 0.05, 0.12, 0.08, 0.06, 0.18, 0.18, 0.04, 0.10],
    ]
)
_VIOLENT = np.array(
    [
        c in {"armed_clash", "attack_on_civilians", "explosive_hazard", "attack_on_humanitarians"}
        for c in INCIDENT_CATEGORIES
    ]
)
_MILD = np.array(
    [
        c in {"protest_or_riot", "threat_or_intimidation", "other", "displacement"}
        for c in INCIDENT_CATEGORIES
    ]
)
_PERPETRATED = np.array(
    [c not in {"displacement", "protest_or_riot", "other"} for c in INCIDENT_CATEGORIES]
)
_SV = INCIDENT_CATEGORIES.index("sexual_violence")
_DISPLACEMENT = INCIDENT_CATEGORIES.index("displacement")


# --------------------------------------------------------------------------------------------
# The scenario
# --------------------------------------------------------------------------------------------


@dataclass
class _IncidentColumns:
    """Incidents as numpy columns (row i of every array is incident i)."""

    id_bytes: npt.NDArray[np.uint8]  # (n, 16)
    lon: FloatArray
    lat: FloatArray
    occurred: IntArray  # epoch seconds
    reported: IntArray
    category: IntArray
    severity: IntArray
    killed: IntArray
    injured: IntArray
    displaced: IntArray
    perpetrator: IntArray  # index into the armed groups' ids; their count for none
    source: IntArray
    reliability: IntArray
    credibility: IntArray
    precision: IntArray
    classification: IntArray
    battalion: IntArray  # index into the battalion areas
    town: IntArray
    town_km: IntArray
    direction: IntArray
    template: IntArray

    def __len__(self) -> int:
        return int(self.lon.shape[0])


@dataclass
class Scenario:
    """A generated mission area: one list of records per table.

    Attributes
    ----------
    seed, start, end, months
        What the scenario was generated from; incidents occur in ``[start, end)``.
    towns, hotspots
        The invented towns and the incident hot spots (metadata, not tables).
    sectors, actors, idp_sites, site_population, bases, patrols, projects, assistance_requests
        Records (dicts keyed by column name) in an order that satisfies every foreign key
        (sectors: force, then sectors, then battalion areas).
    incidents
        The incidents as records, built on demand; :meth:`incident_batches` hands them out
        as columns, which is what to use for large scenarios.
    """

    seed: int
    start: datetime
    end: datetime
    months: int
    towns: list[dict[str, Any]]
    hotspots: list[dict[str, Any]]
    sectors: list[Record]
    actors: list[Record]
    idp_sites: list[Record]
    site_population: list[Record]
    bases: list[Record]
    patrols: list[Record]
    projects: list[Record]
    _columns: _IncidentColumns = field(repr=False)
    _sector_ids: list[str] = field(repr=False)
    _perpetrator_ids: list[str] = field(repr=False)
    _incident_records: list[Record] | None = field(default=None, repr=False)
    assistance_requests: list[Record] = field(default_factory=list)
    #: The invented village names (the gazetteer places them: ``geo.demo_map``).
    villages: list[str] = field(default_factory=list)

    @property
    def incident_count(self) -> int:
        """Number of generated incidents."""
        return len(self._columns)

    def incident_batches(
        self, batch_size: int = 50_000, *, wkt: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Hand out the incidents as column batches, oldest first.

        Parameters
        ----------
        batch_size
            Rows per batch (the last one may be shorter).
        wkt
            Also add ``geom``: the point as a WKT string.

        Returns
        -------
        Iterator[dict[str, Any]]
            One dict per batch keyed by :data:`INCIDENT_COLUMNS`. Text and id columns are
            lists of ``str`` (ids in canonical UUID form, ``None`` for no perpetrator);
            ``occurred_at``/``reported_at`` are ``datetime64[s]`` arrays (UTC); numbers,
            ``lon`` and ``lat`` are numpy arrays.

        Examples
        --------
        >>> scenario = generate_scenario(seed=1, incidents=1_000)
        >>> sum(len(b["id"]) for b in scenario.incident_batches(300))
        1000
        """
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        c = self._columns
        sectors = np.array(self._sector_ids, dtype=object)
        perpetrators = np.array([*self._perpetrator_ids, None], dtype=object)
        categories = np.array(INCIDENT_CATEGORIES, dtype=object)
        classifications = np.array(_CLASSIFICATIONS, dtype=object)
        sources = np.array(_SOURCES, dtype=object)
        reliabilities = np.array(_RELIABILITY, dtype=object)
        precisions = np.array(_PRECISIONS, dtype=object)
        towns = [t["name"] for t in self.towns]
        texts = [_CATEGORY_TEXT[name] for name in INCIDENT_CATEGORIES]
        for lo in range(0, len(c), batch_size):
            hi = min(lo + batch_size, len(c))
            sl = slice(lo, hi)
            cat = c.category[sl]
            batch: dict[str, Any] = {
                "id": _uuid_strings(c.id_bytes[sl]),
                "origin": [ORIGIN] * (hi - lo),
                "external_id": [f"demo-incident-{i:06d}" for i in range(lo + 1, hi + 1)],
                "classification": classifications[c.classification[sl]].tolist(),
                "category": categories[cat].tolist(),
                "occurred_at": c.occurred[sl].astype("datetime64[s]"),
                "reported_at": c.reported[sl].astype("datetime64[s]"),
                "severity": c.severity[sl].astype(np.int16),
                "killed": c.killed[sl].astype(np.int32),
                "injured": c.injured[sl].astype(np.int32),
                "displaced": c.displaced[sl].astype(np.int32),
                "perpetrator_actor_id": perpetrators[c.perpetrator[sl]].tolist(),
                "source": sources[c.source[sl]].tolist(),
                "source_reliability": reliabilities[c.reliability[sl]].tolist(),
                "source_credibility": c.credibility[sl].astype(np.int16),
                "location_precision": precisions[c.precision[sl]].tolist(),
                "description": [
                    _describe(texts[k][t], towns[w], km, _DIRECTIONS[d])
                    for k, t, w, km, d in zip(
                        cat.tolist(),
                        c.template[sl].tolist(),
                        c.town[sl].tolist(),
                        c.town_km[sl].tolist(),
                        c.direction[sl].tolist(),
                        strict=True,
                    )
                ],
                "lon": c.lon[sl],
                "lat": c.lat[sl],
                "sector_id": sectors[c.battalion[sl]].tolist(),
            }
            if wkt:
                batch["geom"] = shapely.to_wkt(
                    shapely.points(c.lon[sl], c.lat[sl]), rounding_precision=6, trim=True
                ).tolist()
            yield batch

    @property
    def incidents(self) -> list[Record]:
        """The incidents as records (dicts keyed by column name, ``geom`` as WKT).

        Built on first access and kept: prefer :meth:`incident_batches` for large scenarios.

        Returns
        -------
        list[Record]
            ``id``, ``perpetrator_actor_id`` and ``sector_id`` are :class:`uuid.UUID`,
            ``occurred_at``/``reported_at`` timezone-aware datetimes, numbers Python ints.

        Examples
        --------
        >>> generate_scenario(seed=1, incidents=10).incidents[0]["external_id"]
        'demo-incident-000001'
        """
        if self._incident_records is None:
            records: list[Record] = []
            for batch in self.incident_batches(wkt=True):
                occurred = _to_datetimes(batch["occurred_at"])
                reported = _to_datetimes(batch["reported_at"])
                numbers = {
                    k: batch[k].tolist()
                    for k in ("severity", "killed", "injured", "displaced", "source_credibility")
                }
                for i, ident in enumerate(batch["id"]):
                    perpetrator = batch["perpetrator_actor_id"][i]
                    records.append(
                        {
                            "id": uuid.UUID(ident),
                            "origin": ORIGIN,
                            "external_id": batch["external_id"][i],
                            "classification": batch["classification"][i],
                            "category": batch["category"][i],
                            "occurred_at": occurred[i],
                            "reported_at": reported[i],
                            "severity": numbers["severity"][i],
                            "killed": numbers["killed"][i],
                            "injured": numbers["injured"][i],
                            "displaced": numbers["displaced"][i],
                            "perpetrator_actor_id": uuid.UUID(perpetrator) if perpetrator else None,
                            "source": batch["source"][i],
                            "source_reliability": batch["source_reliability"][i],
                            "source_credibility": numbers["source_credibility"][i],
                            "location_precision": batch["location_precision"][i],
                            "description": batch["description"][i],
                            "geom": batch["geom"][i],
                            "sector_id": uuid.UUID(batch["sector_id"][i]),
                        }
                    )
            self._incident_records = records
        return self._incident_records

    def tables(self) -> dict[str, list[Record]]:
        """The tables other than ``incidents``, in an order that satisfies the foreign keys.

        Returns
        -------
        dict[str, list[Record]]
            Table name to records.

        Examples
        --------
        >>> list(generate_scenario(seed=1, incidents=0).tables())[:3]
        ['sectors', 'actors', 'bases']
        """
        return {
            "sectors": self.sectors,
            "actors": self.actors,
            "bases": self.bases,
            "idp_sites": self.idp_sites,
            "site_population": self.site_population,
            "projects": self.projects,
            "patrols": self.patrols,
            "assistance_requests": self.assistance_requests,
        }


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


# --------------------------------------------------------------------------------------------
# Shared state of one generation run
# --------------------------------------------------------------------------------------------


@dataclass
class _Town:
    name: str
    lon: float
    lat: float
    population: int
    quadrant: str
    capital: bool


@dataclass
class _Hotspot:
    name: str
    x0: float
    y0: float
    x1: float
    y1: float
    sigma_km: float
    weight: float
    profile: str
    town: int


@dataclass
class _Actor:
    id: uuid.UUID
    category: str
    name: str
    town: int
    humanitarian: bool


@dataclass
class _Site:
    id: uuid.UUID
    lon: float
    lat: float
    population: int


@dataclass
class _Base:
    id: uuid.UUID
    name: str
    unit: str
    kind: str
    lon: float
    lat: float


@dataclass
class _World:
    start: datetime
    end: datetime
    battalions: list[Polygon] = field(default_factory=list)
    battalion_ids: list[uuid.UUID] = field(default_factory=list)
    battalion_codes: list[str] = field(default_factory=list)
    quadrants: dict[str, Polygon] = field(default_factory=dict)
    towns: list[_Town] = field(default_factory=list)
    villages: list[str] = field(default_factory=list)
    hotspots: list[_Hotspot] = field(default_factory=list)
    actors: list[_Actor] = field(default_factory=list)
    armed_group_ids: list[uuid.UUID] = field(default_factory=list)
    hotspot_groups: list[list[int]] = field(default_factory=list)
    sites: list[_Site] = field(default_factory=list)
    bases: list[_Base] = field(default_factory=list)

    def locate(self, lon: FloatArray, lat: FloatArray) -> IntArray:
        """Index of the battalion area that contains each point (-1 for none)."""
        out = np.full(lon.shape, -1, dtype=np.int64)
        for i, area in enumerate(self.battalions):
            out[shapely.contains_xy(area, lon, lat)] = i
        return out

    def sector_of(self, geom: BaseGeometry) -> uuid.UUID:
        """The battalion area holding the geometry (its representative point)."""
        p = geom if isinstance(geom, Point) else geom.representative_point()
        index = int(self.locate(np.array([p.x]), np.array([p.y]))[0])
        if index < 0:
            raise AssertionError(f"{p} is outside every battalion area")
        return self.battalion_ids[index]

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _months_before(end: datetime, months: int) -> datetime:
    total = end.year * 12 + end.month - 1 - months
    year, month = divmod(total, 12)
    day = min(end.day, calendar.monthrange(year, month + 1)[1])
    return end.replace(year=year, month=month + 1, day=day)


def _uuid(rng: np.random.Generator) -> uuid.UUID:
    return uuid.UUID(bytes=rng.bytes(16), version=4)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_POSITIONS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def _uuid7_bytes(rng: np.random.Generator, epoch_ms: IntArray) -> npt.NDArray[np.uint8]:
    """UUIDv7 (RFC 9562) for the given Unix times in ms: time-ordered, random otherwise.

    Ids that grow with time keep index inserts local when millions of rows are loaded.
    """
    n = epoch_ms.shape[0]
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    for i in range(6):
        raw[:, i] = (epoch_ms >> (8 * (5 - i))) & 0xFF
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x70  # version 7
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 9562 variant
    return raw


def _uuid_strings(raw: npt.NDArray[np.uint8]) -> list[str]:
    """Canonical UUID strings of an (n, 16) byte array, without a Python loop per row."""
    n = raw.shape[0]
    chars = np.full((n, 36), ord("-"), dtype=np.uint8)
    digits = np.stack([_HEX[raw >> 4], _HEX[raw & 0x0F]], axis=2).reshape(n, 32)
    chars[:, _HEX_POSITIONS] = digits
    strings: list[str] = chars.view("S36").ravel().astype("U36").tolist()
    return strings


def _to_datetimes(values: npt.NDArray[np.datetime64]) -> list[datetime]:
    return [
        datetime.fromtimestamp(s, tz=UTC)
        for s in values.astype("datetime64[s]").astype(np.int64).tolist()
    ]


def _describe(text: str, town: str, km: int, direction: str) -> str:
    if km < 2:
        return f"{text} in {town}."
    return f"{text}, {km} km {direction} of {town}."


def _kx(lat: float | FloatArray) -> Any:
    """Kilometres per degree of longitude."""
    return _KM_PER_DEG_LON_EQ * np.cos(np.radians(lat))


def _offset(lon: float, lat: float, dx_km: float, dy_km: float) -> tuple[float, float]:
    return lon + dx_km / float(_kx(lat)), lat + dy_km / _KM_PER_DEG_LAT


def _km(x0: float, y0: float, x1: float, y1: float) -> float:
    return math.hypot((x1 - x0) * float(_kx((y0 + y1) / 2)), (y1 - y0) * _KM_PER_DEG_LAT)


def _r6(value: float) -> float:
    return round(float(value), 6)


def _wkt(geom: BaseGeometry) -> str:
    return str(shapely.to_wkt(geom, rounding_precision=6, trim=True))


def _inside(lon: float, lat: float, margin: float) -> bool:
    return _X0 + margin < lon < _X1 - margin and _Y0 + margin < lat < _Y1 - margin


def _choice(rng: np.random.Generator, options: Sequence[str], p: Sequence[float]) -> str:
    return options[int(rng.choice(len(options), p=np.asarray(p) / np.sum(p)))]


def _classification(rng: np.random.Generator, public: float, mission: float) -> str:
    return _choice(rng, _CLASSIFICATIONS, (public, mission, max(0.0, 1.0 - public - mission)))


def _blob(rng: np.random.Generator, lon: float, lat: float, radius_km: float) -> Polygon:
    """A small irregular star-shaped (hence valid) polygon around a point."""
    n = int(rng.integers(7, 12))
    step = 2 * math.pi / n
    angles = np.arange(n) * step + rng.uniform(-0.3, 0.3, n) * step + rng.uniform(0, 2 * math.pi)
    radii = radius_km * rng.uniform(0.7, 1.0, n)
    xs = np.round(lon + radii * np.cos(angles) / float(_kx(lat)), 6)
    ys = np.round(lat + radii * np.sin(angles) / _KM_PER_DEG_LAT, 6)
    polygon = Polygon(list(zip(xs.tolist(), ys.tolist(), strict=True)))
    if not polygon.is_valid:  # pragma: no cover - star-shaped rings are simple
        raise AssertionError("generated an invalid polygon")
    return polygon


def _point_near(
    rng: np.random.Generator, lon: float, lat: float, r_min_km: float, r_max_km: float
) -> tuple[float, float]:
    for _ in range(100):
        r = rng.uniform(r_min_km, r_max_km)
        a = rng.uniform(0, 2 * math.pi)
        x, y = _offset(lon, lat, r * math.cos(a), r * math.sin(a))
        if _inside(x, y, 0.02):
            return _r6(x), _r6(y)
    return _r6(lon), _r6(lat)


def _person(rng: np.random.Generator) -> tuple[str, str]:
    first = _FIRST_NAMES[int(rng.integers(len(_FIRST_NAMES)))]
    last = _LAST_NAMES[int(rng.integers(len(_LAST_NAMES)))]
    return first, last


def _phone(rng: np.random.Generator) -> str:
    # +999 is not assigned to any country.
    return f"+999 {rng.integers(80, 100)} {rng.integers(100, 1000)} {rng.integers(1000, 10000)}"


def _slug(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())[:24] or "org"


def _acronym(name: str) -> str:
    skip = {"of", "for", "the", "and", "de", "du", "in", "-"}
    return "".join(w[0] for w in name.replace("'", "").split() if w.lower() not in skip).upper()


def _record(rng: np.random.Generator, kind: str, number: int, classification: str) -> Record:
    return {
        "id": _uuid(rng),
        "origin": ORIGIN,
        "external_id": f"demo-{kind}-{number:06d}",
        "classification": classification,
    }


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


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


# --------------------------------------------------------------------------------------------
# Requests for civil assistance
# --------------------------------------------------------------------------------------------

_REQUESTS = (
    ("air_transport", "Airlift of {what} to {place}", "cholera kits, 4 t"),
    ("air_transport", "Medical evacuation flight from {place}", "12 patients in critical state"),
    ("ground_transport", "Trucks to move {what} to {place}", "food for 9,000 displaced people"),
    ("engineering", "Repair of the bridge on the road to {place}", "the only supply route"),
    ("engineering", "Drilling of boreholes near {place}", "water for three camps"),
    ("medical", "Field hospital support in {place}", "surgery for mass-casualty victims"),
    ("security_escort", "Escort of a convoy to {place}", "a food convoy of 14 trucks"),
    ("logistics", "Temporary storage of {what} in {place}", "seed stocks before the rains"),
    ("communications", "Radio relay for the humanitarian hub in {place}", "VHF coverage"),
)
_OUTCOMES = (
    "submitted",
    "under_review",
    "referred_to_srsg",
    "approved",
    "denied",
    "completed",
    "delivered_by_other",
    "withdrawn",
)
_DENIALS = (
    "a civilian carrier can do it within the week",
    "the assets are committed to protection tasks",
    "not a last resort: commercial trucks are available",
    "the request is not limited in time",
)


def _decide(
    rng: np.random.Generator, record: Record, side: str, decision: str, who: str, after: datetime
) -> datetime:
    """Record one side's decision, taken some hours after ``after``; returns when."""
    moment = after + timedelta(hours=float(rng.uniform(4, 48)))
    first, last = _person(rng)
    record[f"{side}_decision"] = decision
    record[f"{side}_decided_by"] = f"{first} {last}, {who}"
    record[f"{side}_decided_at"] = moment
    record[f"{side}_reason"] = (
        "meets the last-resort criteria"
        if decision == "approve"
        else _DENIALS[int(rng.integers(len(_DENIALS)))]
    )
    return moment


def _build_requests(rng: np.random.Generator, world: _World) -> list[Record]:
    """Requests in every state of their workflow, from humanitarian actors, in the last six
    months; decisions and outcomes consistent with the state (the database checks them)."""
    records: list[Record] = []
    humanitarian = [a for a in world.actors if a.humanitarian]
    for number in range(1, 41):
        status = _OUTCOMES[(number - 1) % len(_OUTCOMES)]
        capability, title, what = _REQUESTS[int(rng.integers(len(_REQUESTS)))]
        actor = humanitarian[int(rng.integers(len(humanitarian)))]
        town = world.towns[actor.town]
        place = town.name if rng.random() < 0.6 else _village(rng, world)
        x, y = _point_near(rng, town.lon, town.lat, 1.0, 20.0)
        geom = Point(x, y)
        requested = world.end - timedelta(days=float(rng.uniform(20, 180)))
        life_saving = status == "completed" and number % 3 == 0
        approved_path = status in ("approved", "completed") and not life_saving
        record = _record(rng, "request", number, _classification(rng, 0.3, 0.6))
        record |= {
            "title": title.format(what=what.split(",")[0], place=place),
            "need": f"{what.capitalize()}; requested by {actor.name} for {place}.",
            "requesting_actor_id": actor.id,
            "capability": capability,
            "requested_at": requested,
            "needed_from": requested + timedelta(days=int(rng.integers(1, 10))),
            "needed_until": requested + timedelta(days=int(rng.integers(12, 40))),
            "capability_unique": approved_path or bool(rng.random() < 0.6),
            "no_civilian_alternative": approved_path or bool(rng.random() < 0.5),
            "limited_in_time_and_space": approved_path or bool(rng.random() < 0.8),
            "justification": "No civilian asset can reach the area before the rains.",
            "life_saving": life_saving,
            "status": status,
            "geom": _wkt(geom),
            "sector_id": world.sector_of(geom),
        }
        moment = requested + timedelta(days=float(rng.uniform(1, 3)))

        disagreed = bool(rng.random() < 0.3)  # the two sides disagreed; the SRSG decided
        if status == "under_review" and rng.random() < 0.5:
            moment = _decide(rng, record, "humanitarian", "approve", "DSRSG/RC/HC", moment)
        if status == "referred_to_srsg":
            moment = _decide(rng, record, "humanitarian", "approve", "DSRSG/RC/HC", moment)
            moment = _decide(rng, record, "military", "deny", "HOMC", moment)
        if (
            status in ("approved", "denied")
            or approved_path
            or (status == "delivered_by_other" and rng.random() < 0.5)
        ):
            outcome = "deny" if status in ("denied", "delivered_by_other") else "approve"
            if disagreed:
                moment = _decide(rng, record, "humanitarian", "approve", "DSRSG/RC/HC", moment)
                moment = _decide(rng, record, "military", "deny", "HOMC", moment)
                moment = _decide(rng, record, "srsg", outcome, "SRSG", moment)
            else:
                moment = _decide(rng, record, "humanitarian", outcome, "DSRSG/RC/HC", moment)
                moment = _decide(rng, record, "military", outcome, "HOMC", moment)
            record["decided_at"] = moment
            if outcome == "deny":
                side = "srsg" if disagreed else "military"
                record["denial_reason"] = record[f"{side}_reason"]
        if status == "completed":
            record["completed_at"] = moment + timedelta(days=float(rng.uniform(1, 8)))
        if status == "delivered_by_other":
            other = humanitarian[int(rng.integers(len(humanitarian)))]
            record["delivered_by_actor_id"] = other.id
            record["delivered_by_name"] = other.name
            record["delivered_at"] = moment + timedelta(days=float(rng.uniform(1, 5)))
        if status == "withdrawn":
            record["withdrawn_at"] = moment
            record["withdrawal_reason"] = "the need was met by the host government"
        records.append(record)
    return records


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
