"""The shared state of one generation run, and the small helpers every builder uses."""

from __future__ import annotations

import calendar
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from service.demo.model import (
    _CLASSIFICATIONS,
    _FIRST_NAMES,
    _KM_PER_DEG_LAT,
    _KM_PER_DEG_LON_EQ,
    _LAST_NAMES,
    _X0,
    _X1,
    _Y0,
    _Y1,
    ORIGIN,
    FloatArray,
    IntArray,
    Record,
    _uuid,
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
