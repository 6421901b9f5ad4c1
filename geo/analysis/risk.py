"""The risk overlay: hazard, vulnerability and coverage on a hexagonal grid.

For each H3 cell (defaults in brackets):

- **hazard**: each incident counts its severity weight [1..5] halved every
  ``half_life_days`` [30] of age; the sums per cell are smoothed with the six neighbours
  (centre weight 1, each neighbour ``neighbour_weight`` [0.5], divided by 1 + 6 x 0.5), so a
  cell next to a cluster is not shown as safe;
- **vulnerability**: ``log(1 + P / population_unit) + site_weight * S`` where ``P`` and
  ``S`` are the IDP population [per 1,000] and number of sites [0.25 each] in the cell and
  its neighbours;
- **coverage**: recent patrol presence: each conducted patrol whose route passes through the
  cell or a neighbour counts ``0.5 ** (age / coverage_half_life_days)`` [7 days]; with
  ``presence`` their sum, ``coverage = presence / (1 + presence)`` (0 with no patrol, 0.5
  with one patrol today, towards 1 with many);
- **risk** = ``hazard * (1 + vulnerability) * (1 - coverage_reduction * coverage)``
  [reduction 0.5: patrols can halve the risk, never remove it].

Every component is returned, so a planner can see why a cell is red.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from shapely.geometry.base import BaseGeometry

from geo.analysis.exposure import half_life_decay, severity_weight
from geo.analysis.grid import CellArray, HexGrid, spread

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RiskParameters:
    """Parameters of the risk overlay (defaults in brackets); see the module docstring.

    Attributes
    ----------
    resolution : int
        H3 resolution [7, about 5 km² per cell: town scale].
    half_life_days : float
        Age at which an incident counts half [30].
    severity_weights : tuple of float
        Weight of severity 1 to 5 [1, 2, 3, 4, 5].
    neighbour_weight : float
        Weight of each neighbour in the hazard smoothing [0.5]; 0 turns smoothing off.
    population_unit : float
        People per unit of vulnerability [1000].
    site_weight : float
        Vulnerability added per IDP site nearby [0.25].
    coverage_half_life_days : float
        Age at which a patrol counts half towards coverage [7].
    coverage_reduction : float
        Largest share of risk that patrol coverage removes [0.5].
    """

    resolution: int = 7
    half_life_days: float = 30.0
    severity_weights: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)
    neighbour_weight: float = 0.5
    population_unit: float = 1000.0
    site_weight: float = 0.25
    coverage_half_life_days: float = 7.0
    coverage_reduction: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.coverage_reduction <= 1.0:
            raise ValueError("coverage_reduction is a share: 0 to 1")
        if len(self.severity_weights) != 5:
            raise ValueError("severity_weights needs five numbers, for severity 1 to 5")


@dataclass(frozen=True)
class RiskOverlay:
    """Risk and its components per cell (all arrays aligned with ``cells``)."""

    cells: CellArray
    incidents: npt.NDArray[np.int64]
    hazard_raw: FloatArray
    hazard: FloatArray
    population: FloatArray
    sites: npt.NDArray[np.int64]
    vulnerability: FloatArray
    patrol_presence: FloatArray
    coverage: FloatArray
    risk: FloatArray


def _index_of(sorted_cells: CellArray, cells: CellArray) -> npt.NDArray[np.int64]:
    """Position of each cell in ``sorted_cells``; -1 where absent."""
    if sorted_cells.size == 0:
        return np.full(cells.size, -1, dtype=np.int64)
    at = np.clip(np.searchsorted(sorted_cells, cells), 0, sorted_cells.size - 1)
    return np.where(sorted_cells[at] == cells, at, -1).astype(np.int64)


def risk_overlay(
    grid: HexGrid,
    area_cells: CellArray,
    incident_lon: npt.ArrayLike,
    incident_lat: npt.ArrayLike,
    incident_severity: npt.ArrayLike,
    incident_age_days: npt.ArrayLike,
    site_lon: npt.ArrayLike,
    site_lat: npt.ArrayLike,
    site_population: npt.ArrayLike,
    patrol_routes: Sequence[BaseGeometry] | npt.NDArray[np.object_],
    patrol_age_days: npt.ArrayLike,
    parameters: RiskParameters | None = None,
) -> RiskOverlay:
    """Compute the overlay on ``area_cells``.

    Parameters
    ----------
    grid : HexGrid
        The grid (its resolution should be ``parameters.resolution``).
    area_cells : ndarray of uint64
        The cells to report, e.g. ``grid.cells_of_area(sector)``.
    incident_lon, incident_lat, incident_severity, incident_age_days : array_like
        Incidents in the window, including those just outside the area (they reach border
        cells through the smoothing). Age is days before the end of the window.
    site_lon, site_lat, site_population : array_like
        IDP sites (a representative point) and their residents (``nan`` counts 0 people but
        the site still counts).
    patrol_routes, patrol_age_days : sequence of LineString, array_like
        Conducted patrols in the window and the age of each.
    parameters : RiskParameters, optional

    Returns
    -------
    RiskOverlay

    Examples
    --------
    One severity-5 incident today in an empty cell: hazard 5 before smoothing, 5/4 after;
    nobody lives there and no patrol passed, so the risk is the hazard.

    >>> grid = HexGrid(7)
    >>> cell = grid.cells_of_points([25.0], [5.0])
    >>> area = grid.disk(cell, 1)
    >>> overlay = risk_overlay(grid, area, [25.0], [5.0], [5], [0.0], [], [], [], [], [])
    >>> at = int(np.searchsorted(overlay.cells, cell[0]))
    >>> [float(v[at]) for v in (overlay.hazard_raw, overlay.hazard, overlay.risk)]
    [5.0, 1.25, 1.25]
    """
    p = parameters or RiskParameters()
    area = np.unique(np.asarray(area_cells, dtype=np.uint64))
    # Work on the area and one ring around it, so border cells see their outer neighbours.
    inner = grid.neighbour_pairs(area)
    border = area[np.bincount(inner[0], minlength=area.size) < 6]
    work = np.union1d(area, grid.disk(border, 1)).astype(np.uint64)
    neighbours = grid.neighbour_pairs(work)
    n = work.size

    inc_cells = grid.cells_of_points(incident_lon, incident_lat)
    at = _index_of(work, inc_cells)
    inside = at >= 0
    weight = severity_weight(incident_severity, p.severity_weights) * half_life_decay(
        incident_age_days, p.half_life_days
    )
    hazard_raw = np.bincount(at[inside], weights=weight[inside], minlength=n).astype(np.float64)
    counts = np.bincount(at[inside], minlength=n).astype(np.int64)
    hazard = spread(hazard_raw, neighbours, neighbour_weight=p.neighbour_weight)

    def around(values: FloatArray) -> FloatArray:
        i, j = neighbours
        extra = np.bincount(i, weights=values[j], minlength=n) if len(i) else np.zeros(n)
        return np.asarray(values + extra, dtype=np.float64)

    site_at = _index_of(work, grid.cells_of_points(site_lon, site_lat))
    site_in = site_at >= 0
    people = np.nan_to_num(np.asarray(site_population, dtype=np.float64), nan=0.0)
    population = around(
        np.bincount(site_at[site_in], weights=people[site_in], minlength=n).astype(np.float64)
    )
    sites = around(np.bincount(site_at[site_in], minlength=n).astype(np.float64))
    vulnerability = np.log1p(population / p.population_unit) + p.site_weight * sites

    presence = _patrol_presence(grid, work, neighbours, patrol_routes, patrol_age_days, p)
    coverage = presence / (1.0 + presence)
    risk = hazard * (1.0 + vulnerability) * (1.0 - p.coverage_reduction * coverage)

    keep = _index_of(work, area)
    return RiskOverlay(
        cells=area,
        incidents=counts[keep],
        hazard_raw=hazard_raw[keep],
        hazard=hazard[keep],
        population=population[keep],
        sites=np.rint(sites[keep]).astype(np.int64),
        vulnerability=vulnerability[keep],
        patrol_presence=presence[keep],
        coverage=coverage[keep],
        risk=risk[keep],
    )


def _patrol_presence(
    grid: HexGrid,
    work: CellArray,
    neighbours: tuple[npt.NDArray[np.int64], ...],
    routes: Sequence[BaseGeometry] | npt.NDArray[np.object_],
    age_days: npt.ArrayLike,
    p: RiskParameters,
) -> FloatArray:
    """Sum over patrols of their time decay, once per patrol per cell neighbourhood."""
    from scipy import sparse

    n = work.size
    line, cell = grid.cells_of_lines(routes)
    at = _index_of(work, cell)
    line, at = line[at >= 0], at[at >= 0]
    if line.size == 0:
        return np.zeros(n)
    ages = np.asarray(age_days, dtype=np.float64)
    n_routes = ages.size
    passes = sparse.csr_matrix((np.ones(line.size), (line, at)), shape=(n_routes, n))
    i, j = neighbours
    disk = sparse.csr_matrix(
        (np.ones(i.size + n), (np.r_[i, np.arange(n)], np.r_[j, np.arange(n)])), shape=(n, n)
    )
    reached = (passes @ disk) > 0  # patrol x cell: the route passes the cell or a neighbour
    decay = half_life_decay(ages, p.coverage_half_life_days)
    return np.asarray(reached.T @ decay, dtype=np.float64).ravel()
