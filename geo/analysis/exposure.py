"""Exposure of IDP sites to incidents, and why.

Each incident near a site contributes its severity weight, halved for every
``half_distance_km`` it lies from the site and for every ``half_life_days`` it is older than
the end of the window::

    contribution = w(severity) * 0.5 ** (distance / half_distance) * 0.5 ** (age / half_life)

A site's *hazard* is the sum of the contributions of the incidents within ``radius_km``; its
*exposure* is the hazard scaled by the number of people there (per ``population_unit``
residents), so a large camp under the same threat ranks above a small one. The incidents with
the largest contributions are each site's reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from shapely.geometry.base import BaseGeometry

from geo.analysis.proximity import IntArray, Pairs

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ExposureParameters:
    """How incidents count towards a site's exposure (defaults in brackets).

    Attributes
    ----------
    radius_km : float
        Incidents farther than this do not count [20].
    half_distance_km : float
        Distance at which an incident counts half [5].
    half_life_days : float
        Age at which an incident counts half [30].
    severity_weights : tuple of float
        Weight of severity 1 to 5 [1, 2, 3, 4, 5].
    population_unit : float
        Exposure is hazard per this many residents [1000].
    unknown_population : float
        Residents assumed where a site has no figure [1000].
    top : int
        Contributing incidents listed per site [3].
    """

    radius_km: float = 20.0
    half_distance_km: float = 5.0
    half_life_days: float = 30.0
    severity_weights: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)
    population_unit: float = 1000.0
    unknown_population: float = 1000.0
    top: int = 3

    def __post_init__(self) -> None:
        if len(self.severity_weights) != 5:
            raise ValueError("severity_weights needs five numbers, for severity 1 to 5")
        if self.half_distance_km <= 0 or self.half_life_days <= 0 or self.radius_km <= 0:
            raise ValueError("radius, half distance and half life must be positive")


def half_life_decay(value: npt.ArrayLike, half: float) -> FloatArray:
    """``0.5 ** (value / half)``; negative values count as 0.

    Examples
    --------
    >>> half_life_decay([0.0, 5.0, 10.0], 5.0).tolist()
    [1.0, 0.5, 0.25]
    """
    v = np.maximum(np.asarray(value, dtype=np.float64), 0.0)
    return np.asarray(np.exp2(-v / half), dtype=np.float64)


def severity_weight(
    severity: npt.ArrayLike, weights: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)
) -> FloatArray:
    """The weight of each severity (1 to 5).

    Examples
    --------
    >>> severity_weight([1, 5], (1.0, 2.0, 4.0, 8.0, 16.0)).tolist()
    [1.0, 16.0]
    """
    table = np.asarray(weights, dtype=np.float64)
    s = np.clip(np.asarray(severity, dtype=np.int64), 1, len(table))
    return np.asarray(table[s - 1], dtype=np.float64)


def contributions(
    severity: npt.ArrayLike,
    distance_km: npt.ArrayLike,
    age_days: npt.ArrayLike,
    parameters: ExposureParameters,
) -> FloatArray:
    """Contribution of each (site, incident) pair; 0 beyond the radius.

    Examples
    --------
    Severity 4 at the half distance, one half life old: 4 x 0.5 x 0.5.

    >>> contributions([4], [5.0], [30.0], ExposureParameters()).tolist()
    [1.0]
    """
    d = np.asarray(distance_km, dtype=np.float64)
    weight = (
        severity_weight(severity, parameters.severity_weights)
        * half_life_decay(d, parameters.half_distance_km)
        * half_life_decay(age_days, parameters.half_life_days)
    )
    return np.where(d <= parameters.radius_km, weight, 0.0)


@dataclass(frozen=True)
class SiteExposure:
    """Exposure of each site.

    Attributes
    ----------
    hazard : ndarray
        Sum of the contributions of the incidents near each site.
    exposure : ndarray
        ``hazard * population / population_unit``.
    population : ndarray
        Residents used (``unknown_population`` where a site has none).
    incidents : ndarray of int
        Incidents that contribute to each site.
    rank : ndarray of int
        1 for the most exposed site; ties share the order of the input.
    contribution : ndarray
        Contribution of each pair, aligned with the pairs given.
    top : list of ndarray of int
        Per site, the positions (in the pairs) of its largest contributions, largest first.
    """

    hazard: FloatArray
    exposure: FloatArray
    population: FloatArray
    incidents: IntArray
    rank: IntArray
    contribution: FloatArray
    top: list[IntArray]


def site_exposure(
    pairs: Pairs,
    severity: npt.ArrayLike,
    age_days: npt.ArrayLike,
    population: npt.ArrayLike,
    parameters: ExposureParameters | None = None,
) -> SiteExposure:
    """Rank sites by exposure and keep each site's top contributing incidents.

    Parameters
    ----------
    pairs : Pairs
        (site, incident) pairs within ``parameters.radius_km``, e.g. from
        :func:`geo.analysis.proximity.pairs_within`.
    severity : array_like of int
        Severity of each *incident* (indexed by ``pairs.target``).
    age_days : array_like
        Age of each incident at the end of the window, in days.
    population : array_like
        Residents of each *site*; ``nan`` where unknown.
    parameters : ExposureParameters, optional
        Defaults as documented there.

    Returns
    -------
    SiteExposure

    Examples
    --------
    Two sites; the second has twice the people and the same single incident 5 km away:

    >>> pairs = Pairs(np.array([0, 1]), np.array([0, 0]), np.array([5.0, 5.0]))
    >>> result = site_exposure(pairs, [2], [0.0], [1000.0, 2000.0])
    >>> result.hazard.tolist(), result.exposure.tolist(), result.rank.tolist()
    ([1.0, 1.0], [1.0, 2.0], [2, 1])
    """
    p = parameters or ExposureParameters()
    sev = np.asarray(severity)
    age = np.asarray(age_days, dtype=np.float64)
    people = np.asarray(population, dtype=np.float64)
    n_sites = people.size
    people = np.where(np.isfinite(people), people, p.unknown_population)

    contribution = contributions(sev[pairs.target], pairs.distance_km, age[pairs.target], p)
    hazard = np.bincount(pairs.source, weights=contribution, minlength=n_sites).astype(np.float64)
    counted = np.bincount(pairs.source[contribution > 0], minlength=n_sites).astype(np.int64)
    exposure = hazard * people / p.population_unit
    order = np.argsort(-exposure, kind="stable")
    rank = np.empty(n_sites, dtype=np.int64)
    rank[order] = np.arange(1, n_sites + 1)

    # Top contributions per site, from pairs grouped by site (as pairs_within gives them).
    source = pairs.source
    if source.size and np.any(source[1:] < source[:-1]):
        regroup = np.argsort(source, kind="stable")
    else:
        regroup = np.arange(source.size)
    grouped = source[regroup]
    starts = np.searchsorted(grouped, np.arange(n_sites))
    ends = np.searchsorted(grouped, np.arange(n_sites), side="right")
    top: list[IntArray] = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        members = regroup[s:e]
        values = contribution[members]
        if members.size > p.top:
            best = np.argpartition(-values, p.top)[: p.top]
            members, values = members[best], values[best]
        chosen = members[np.argsort(-values, kind="stable")]
        top.append(chosen[contribution[chosen] > 0].astype(np.int64))
    return SiteExposure(
        hazard=hazard,
        exposure=exposure,
        population=people,
        incidents=counted,
        rank=rank,
        contribution=contribution,
        top=top,
    )


@dataclass(frozen=True)
class RankedExposure:
    """Exposure of each site with its reasons, as :func:`rank_sites` gives them.

    Attributes
    ----------
    hazard, exposure, population, incidents, rank : ndarray
        As in :class:`SiteExposure`.
    top_incident : ndarray of int, shape (sites, top)
        The incidents (positions in the input) with the largest contributions, largest
        first; -1 where a site has fewer.
    top_distance_km, top_contribution : ndarray, shape (sites, top)
        Their distance and contribution.
    """

    hazard: FloatArray
    exposure: FloatArray
    population: FloatArray
    incidents: IntArray
    rank: IntArray
    top_incident: IntArray
    top_distance_km: FloatArray
    top_contribution: FloatArray


def rank_sites(
    site_lon: npt.ArrayLike,
    site_lat: npt.ArrayLike,
    incident_lon: npt.ArrayLike,
    incident_lat: npt.ArrayLike,
    severity: npt.ArrayLike,
    age_days: npt.ArrayLike,
    population: npt.ArrayLike,
    parameters: ExposureParameters | None = None,
    *,
    site_shapes: Sequence[BaseGeometry | None] | None = None,
) -> RankedExposure:
    """Exposure of every site from the incidents around it, without listing the pairs.

    The same numbers as :func:`site_exposure` over :func:`~geo.analysis.proximity.pairs_within`
    (tested against it), in a fraction of the time on a mission's archive: point sites are
    summed by :func:`geo.analysis.nearby_sum.nearby_sums`; sites drawn as areas (measured
    from their edge) through the pairs.

    Parameters
    ----------
    site_lon, site_lat : array_like
        Sites (a representative point of an area, see ``site_shapes``).
    incident_lon, incident_lat, severity, age_days : array_like
        Incidents, their severity and age at the end of the window (days).
    population : array_like
        Residents of each site; ``nan`` where unknown.
    parameters : ExposureParameters, optional
    site_shapes : sequence of shapely geometry or None, optional
        Sites drawn as areas.

    Returns
    -------
    RankedExposure
    """
    from geo.analysis.nearby_sum import nearby_sums
    from geo.analysis.proximity import pairs_within

    p = parameters or ExposureParameters()
    s_lon = np.asarray(site_lon, dtype=np.float64)
    s_lat = np.asarray(site_lat, dtype=np.float64)
    sev = np.asarray(severity)
    age = np.asarray(age_days, dtype=np.float64)
    people = np.asarray(population, dtype=np.float64)
    people = np.where(np.isfinite(people), people, p.unknown_population)
    n_sites, keep = s_lon.size, max(p.top, 1)
    weight = severity_weight(sev, p.severity_weights) * half_life_decay(age, p.half_life_days)
    is_area = np.array(
        [s is not None and s.geom_type != "Point" for s in (site_shapes or [None] * n_sites)],
        dtype=bool,
    )
    hazard = np.zeros(n_sites)
    counted = np.zeros(n_sites, dtype=np.int64)
    top_incident = np.full((n_sites, keep), -1, dtype=np.int64)
    top_distance = np.full((n_sites, keep), np.nan)
    top_contribution = np.zeros((n_sites, keep))
    points = np.nonzero(~is_area)[0]
    if points.size:
        sums = nearby_sums(
            s_lon[points],
            s_lat[points],
            incident_lon,
            incident_lat,
            weight,
            p.radius_km,
            p.half_distance_km,
            p.top,
        )
        hazard[points], counted[points] = sums.total, sums.count
        top_incident[points] = sums.top_index
        top_distance[points] = sums.top_distance_km
        top_contribution[points] = sums.top_contribution
    areas = np.nonzero(is_area)[0]
    if areas.size:
        assert site_shapes is not None
        pairs = pairs_within(
            s_lon[areas],
            s_lat[areas],
            incident_lon,
            incident_lat,
            p.radius_km,
            source_shapes=[site_shapes[k] for k in areas.tolist()],
        )
        part = site_exposure(pairs, sev, age, np.ones(areas.size), p)
        hazard[areas], counted[areas] = part.hazard, part.incidents
        for k, chosen in enumerate(part.top):
            if chosen.size:
                row = areas[k]
                top_incident[row, : chosen.size] = pairs.target[chosen]
                top_distance[row, : chosen.size] = pairs.distance_km[chosen]
                top_contribution[row, : chosen.size] = part.contribution[chosen]
    exposure = hazard * people / p.population_unit
    order = np.argsort(-exposure, kind="stable")
    rank = np.empty(n_sites, dtype=np.int64)
    rank[order] = np.arange(1, n_sites + 1)
    return RankedExposure(
        hazard=hazard,
        exposure=exposure,
        population=people,
        incidents=counted,
        rank=rank,
        top_incident=top_incident[:, : p.top],
        top_distance_km=top_distance[:, : p.top],
        top_contribution=top_contribution[:, : p.top],
    )
