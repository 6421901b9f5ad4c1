"""What a demo scenario is made of: the mission area, its period, the records (plain dicts
keyed by column name) and the incidents held as columns, with the id helpers they use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

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
