"""Patrol coverage of IDP sites: the last patrol that passed near each site, and the gaps.

A patrol *passed within r km* of a site when its route came that close (measured from the
site's edge for a site drawn as an area). A site is a *coverage gap* when no conducted patrol
did so in the last ``days`` days before the end of the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from shapely.geometry.base import BaseGeometry

from geo.analysis.proximity import IntArray, pairs_within_lines

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LastPass:
    """The most recent patrol within the radius of each site.

    Attributes
    ----------
    patrol : ndarray of int
        Index of the patrol, ``-1`` where none passed.
    age_days : ndarray
        Days from that patrol to the end of the window (``nan`` where none).
    distance_km : ndarray
        How close its route came (``nan`` where none).
    passes : ndarray of int
        Patrols within the radius per site.
    """

    patrol: IntArray
    age_days: FloatArray
    distance_km: FloatArray
    passes: IntArray


def last_passes(
    site_lon: npt.ArrayLike,
    site_lat: npt.ArrayLike,
    routes: Sequence[BaseGeometry] | npt.NDArray[np.object_],
    age_days: npt.ArrayLike,
    radius_km: float,
    *,
    site_shapes: Sequence[BaseGeometry | None] | None = None,
) -> LastPass:
    """The last patrol that passed within ``radius_km`` of each site, and when.

    Parameters
    ----------
    site_lon, site_lat : array_like
        Sites (a representative point of an area).
    routes : sequence of shapely LineString
        Conducted patrol routes.
    age_days : array_like
        Age of each patrol (its start) at the end of the window; smaller is more recent.
    radius_km : float
        How close a route must come.
    site_shapes : sequence of shapely geometry or None, optional
        Sites drawn as areas.

    Returns
    -------
    LastPass

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> routes = [LineString([(25.0, 5.01), (25.1, 5.01)]), LineString([(25.0, 5.3), (25.1, 5.3)])]
    >>> last = last_passes([25.05], [5.0], routes, [3.0, 1.0], radius_km=5.0)
    >>> last.patrol.tolist(), last.age_days.tolist(), last.passes.tolist()
    ([0], [3.0], [1])
    """
    lon = np.asarray(site_lon, dtype=np.float64)
    ages = np.asarray(age_days, dtype=np.float64)
    n = lon.size
    pairs = pairs_within_lines(lon, site_lat, routes, radius_km, point_shapes=site_shapes)
    patrol = np.full(n, -1, dtype=np.int64)
    age = np.full(n, np.nan)
    distance = np.full(n, np.nan)
    if len(pairs):
        # Per site, the pair with the smallest age: sort by (site, age) and take the first.
        order = np.lexsort((ages[pairs.target], pairs.source))
        first = order[np.r_[True, pairs.source[order][1:] != pairs.source[order][:-1]]]
        sites = pairs.source[first]
        patrol[sites] = pairs.target[first]
        age[sites] = ages[pairs.target[first]]
        distance[sites] = pairs.distance_km[first]
    passes = np.bincount(pairs.source, minlength=n).astype(np.int64)
    return LastPass(patrol, age, distance, passes)


@dataclass(frozen=True)
class CoverageGap:
    """Whether each site is a coverage gap.

    Attributes
    ----------
    gap : ndarray of bool
        No patrol within the radius in the last ``days`` days.
    last : LastPass
        The last pass of each site (possibly older than ``days``).
    """

    gap: npt.NDArray[np.bool_]
    last: LastPass


def coverage_gaps(
    site_lon: npt.ArrayLike,
    site_lat: npt.ArrayLike,
    routes: Sequence[BaseGeometry] | npt.NDArray[np.object_],
    age_days: npt.ArrayLike,
    radius_km: float = 5.0,
    days: float = 14.0,
    *,
    site_shapes: Sequence[BaseGeometry | None] | None = None,
) -> CoverageGap:
    """Sites with no patrol within ``radius_km`` in the last ``days`` days.

    Parameters are those of :func:`last_passes`, plus ``days`` [14]; ``radius_km`` defaults
    to 5. Routes older than the window may be given: they tell when the last pass was.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> routes = [LineString([(25.0, 5.01), (25.1, 5.01)])]
    >>> coverage_gaps([25.05, 26.0], [5.0, 5.0], routes, [20.0], days=14).gap.tolist()
    [True, True]
    >>> coverage_gaps([25.05, 26.0], [5.0, 5.0], routes, [2.0], days=14).gap.tolist()
    [False, True]
    """
    last = last_passes(site_lon, site_lat, routes, age_days, radius_km, site_shapes=site_shapes)
    recent = np.isfinite(last.age_days) & (last.age_days <= days)
    return CoverageGap(~recent, last)
