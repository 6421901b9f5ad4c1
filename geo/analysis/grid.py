"""The hexagonal grid the overlays are computed on: Uber's H3 (v4).

H3 cells are nearly equal in area at one resolution and every cell has six neighbours at the
same distance, so "this cell and its neighbours" means the same everywhere. Cell ids are the
64-bit integers of ``h3.api.numpy_int`` inside the package and the usual hexadecimal strings
in outputs (``"86596c...ff"``), which QGIS plugins, kepler.gl and DuckDB read.

Resolutions worth knowing: 6 (about 36 km², 3.7 km across: district), 7 (about 5 km²,
1.4 km edge: town / city scale), 8 (about 0.7 km²: neighbourhood).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
import shapely
from h3.api import numpy_int as h3i
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

CellArray = npt.NDArray[np.uint64]

#: Offsets of the six neighbours in H3 local IJ coordinates.
_IJ_NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1))


def _ring6(cell: int) -> list[int]:
    """The six neighbours of a cell (a pentagon's five and itself)."""
    ring = [int(c) for c in h3i.grid_ring(cell, 1).tolist()]
    return ring + [cell] * (6 - len(ring))


class HexGrid:
    """H3 cells of one resolution, with vectorised helpers.

    Parameters
    ----------
    resolution : int
        H3 resolution, 0 (continents) to 15 (a square metre); analysis uses 5 to 9.

    Examples
    --------
    >>> grid = HexGrid(7)
    >>> cells = grid.cells_of_points([25.0, 25.0001], [5.0, 5.0])
    >>> bool(cells[0] == cells[1]), grid.to_strings(cells[:1])[0][:2]
    (True, '87')
    """

    def __init__(self, resolution: int) -> None:
        if not 0 <= resolution <= 15:
            raise ValueError("H3 resolution is 0 to 15")
        self.resolution = resolution

    @property
    def cell_area_km2(self) -> float:
        """Average area of a cell at this resolution."""
        return float(h3.average_hexagon_area(self.resolution, unit="km^2"))

    @property
    def edge_km(self) -> float:
        """Average edge length (the distance between neighbour centres is √3 times this)."""
        return float(h3.average_hexagon_edge_length(self.resolution, unit="km"))

    def cells_of_points(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> CellArray:
        """The cell of each point."""
        res = self.resolution
        lons = np.asarray(lon, dtype=np.float64).tolist()
        lats = np.asarray(lat, dtype=np.float64).tolist()
        return np.fromiter(
            (h3i.latlng_to_cell(y, x, res) for x, y in zip(lons, lats, strict=True)),
            dtype=np.uint64,
            count=len(lons),
        )

    def cells_of_area(self, area: BaseGeometry) -> CellArray:
        """Cells whose centre lies in a polygon or multipolygon (lon/lat), sorted."""
        parts: Iterable[BaseGeometry]
        if isinstance(area, MultiPolygon):
            parts = area.geoms
        elif isinstance(area, Polygon):
            parts = [area]
        else:
            raise ValueError(f"an area must be a polygon, not a {area.geom_type}")
        cells: set[int] = set()
        for part in parts:
            outer = [(y, x) for x, y in part.exterior.coords]
            holes = [[(y, x) for x, y in ring.coords] for ring in part.interiors]
            shape = h3.LatLngPoly(outer, *holes)
            cells.update(int(c) for c in h3i.h3shape_to_cells(shape, self.resolution))
        return np.array(sorted(cells), dtype=np.uint64)

    def cells_of_lines(
        self, lines: Sequence[BaseGeometry] | npt.NDArray[Any]
    ) -> tuple[npt.NDArray[np.int64], CellArray]:
        """Cells each line passes through, as unique (line index, cell) pairs.

        Exact: a route that clips a cell's corner passes through it. The cells of points
        every third of a cell edge along each line are kept; their neighbours are kept when
        the line intersects the neighbour's hexagon (straight edges between H3's vertices,
        as the cells are drawn).
        """
        geoms = np.asarray(lines, dtype=object)
        if geoms.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64)
        step_deg = self.edge_km / 3.0 / 111.32
        dense = shapely.segmentize(geoms, step_deg)
        coords, index = shapely.get_coordinates(dense, return_index=True)
        sampled_cells = self.cells_of_points(coords[:, 0], coords[:, 1])
        # Every cell a line touches between two samples (a third of an edge apart) is a
        # neighbour of a sampled cell: those are tested exactly. Pairs are keyed by
        # line * (cells known) + position of the cell, so one 1-D sort makes them unique.
        seen = np.unique(sampled_cells)
        rings = np.array([_ring6(c) for c in seen.tolist()], dtype=np.uint64).reshape(-1, 6)
        table = np.unique(np.concatenate([seen, rings.ravel()]))
        size = np.int64(table.size)
        line = index.astype(np.int64)
        sampled = np.unique(line * size + np.searchsorted(table, sampled_cells))
        sampled_line, sampled_at = sampled // size, sampled % size
        around = rings[np.searchsorted(seen, table[sampled_at])]
        candidates = np.unique(
            np.repeat(sampled_line, 6) * size + np.searchsorted(table, around.ravel())
        )
        candidates = np.setdiff1d(candidates, sampled, assume_unique=True)
        candidate_line, candidate_at = candidates // size, candidates % size
        tested, which = np.unique(candidate_at, return_inverse=True)
        hexagons = np.array(
            [
                Polygon([(x, y) for y, x in h3i.cell_to_boundary(int(c))])
                for c in table[tested].tolist()
            ],
            dtype=object,
        )
        shapely.prepare(geoms)
        hits = shapely.intersects(geoms[candidate_line], hexagons[which.ravel()])
        found = np.union1d(sampled, candidates[hits])
        return (found // size).astype(np.int64), table[found % size].astype(np.uint64)

    def neighbour_pairs(self, cells: CellArray) -> tuple[npt.NDArray[np.int64], ...]:
        """Pairs (i, j) of positions in ``cells`` whose cells are neighbours (not i == j).

        Only neighbours that are themselves in ``cells`` are returned, each pair both ways.
        """
        ordered = np.asarray(cells, dtype=np.uint64)
        if ordered.size == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        try:
            return self._neighbour_pairs_ij(ordered)
        except (h3.H3BaseException, ValueError):  # far apart or across a pentagon
            return self._neighbour_pairs_disk(ordered)

    def _neighbour_pairs_ij(self, cells: CellArray) -> tuple[npt.NDArray[np.int64], ...]:
        origin = int(cells[len(cells) // 2])
        ij = np.array([h3i.cell_to_local_ij(origin, int(c)) for c in cells], dtype=np.int64)
        span = int(np.abs(ij).max()) + 2
        key = (ij[:, 0] + span) * (4 * span) + (ij[:, 1] + span)
        order = np.argsort(key)
        sorted_key = key[order]
        sources: list[npt.NDArray[np.int64]] = []
        targets: list[npt.NDArray[np.int64]] = []
        for di, dj in _IJ_NEIGHBOURS:
            probe = (ij[:, 0] + di + span) * (4 * span) + (ij[:, 1] + dj + span)
            at = np.clip(np.searchsorted(sorted_key, probe), 0, len(sorted_key) - 1)
            hit = sorted_key[at] == probe
            sources.append(np.nonzero(hit)[0])
            targets.append(order[at[hit]])
        i, j = np.concatenate(sources), np.concatenate(targets)
        # Local IJ is exact away from pentagons; check a sample against H3's own answer.
        sample = slice(None, None, max(1, len(i) // 50))
        for a, b in zip(i[sample].tolist(), j[sample].tolist(), strict=True):
            if not h3i.are_neighbor_cells(int(cells[a]), int(cells[b])):
                raise ValueError("local IJ coordinates are distorted here")
        return i, j

    def _neighbour_pairs_disk(self, cells: CellArray) -> tuple[npt.NDArray[np.int64], ...]:
        position = {int(c): k for k, c in enumerate(cells.tolist())}
        sources: list[int] = []
        targets: list[int] = []
        for k, cell in enumerate(cells.tolist()):
            for other in h3i.grid_ring(int(cell), 1).tolist():
                found = position.get(int(other))
                if found is not None:
                    sources.append(k)
                    targets.append(found)
        return np.array(sources, dtype=np.int64), np.array(targets, dtype=np.int64)

    def disk(self, cells: CellArray, k: int = 1) -> CellArray:
        """Every cell within ``k`` steps of any of ``cells``, sorted and unique."""
        if len(cells) == 0:
            return np.empty(0, dtype=np.uint64)
        around = [h3i.grid_disk(int(c), k) for c in np.asarray(cells).tolist()]
        return np.unique(np.concatenate(around).astype(np.uint64))

    def centres(self, cells: CellArray) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Longitude and latitude of each cell's centre."""
        latlng = np.array([h3i.cell_to_latlng(int(c)) for c in cells], dtype=np.float64)
        if latlng.size == 0:
            return np.empty(0), np.empty(0)
        return latlng[:, 1], latlng[:, 0]

    def polygons(self, cells: CellArray) -> list[list[list[float]]]:
        """Each cell's boundary as a closed GeoJSON ring of ``[lon, lat]`` (7 decimals)."""
        boundaries = [h3i.cell_to_boundary(int(c)) for c in np.asarray(cells).tolist()]
        rings: list[list[list[float]]] = [[] for _ in boundaries]
        sizes = np.array([len(b) for b in boundaries], dtype=np.int64)
        for size in np.unique(sizes).tolist():  # hexagons, and the odd pentagon
            which = np.nonzero(sizes == size)[0]
            latlng = np.array([boundaries[k] for k in which.tolist()], dtype=np.float64)
            closed = np.concatenate([latlng, latlng[:, :1]], axis=1)[:, :, ::-1]
            for k, ring in zip(which.tolist(), np.round(closed, 7).tolist(), strict=True):
                rings[k] = ring
        return rings

    @staticmethod
    def to_strings(cells: CellArray) -> list[str]:
        """Cell ids as H3 hexadecimal strings."""
        return [h3.int_to_str(int(c)) for c in np.asarray(cells).tolist()]

    @staticmethod
    def from_strings(ids: Iterable[str]) -> CellArray:
        """Cell ids from H3 hexadecimal strings."""
        return np.array([h3.str_to_int(s) for s in ids], dtype=np.uint64)


def spread(
    values: npt.ArrayLike,
    neighbours: tuple[npt.NDArray[np.int64], ...],
    *,
    centre_weight: float = 1.0,
    neighbour_weight: float = 0.5,
) -> npt.NDArray[np.float64]:
    """Smooth cell values over neighbours: a weighted mean of a cell and its six neighbours.

    ``smoothed[c] = (w0 * v[c] + w1 * sum(v[n] for n in neighbours of c)) / (w0 + 6 * w1)``.
    The divisor is fixed (missing neighbours count as 0), so totals are conserved in the
    interior and a lone value spreads out instead of being copied.

    Parameters
    ----------
    values : array_like
        One value per cell.
    neighbours : (i, j) arrays
        From :meth:`HexGrid.neighbour_pairs`.
    centre_weight, neighbour_weight : float
        ``w0`` and ``w1``; ``neighbour_weight=0`` leaves values as they are.

    Examples
    --------
    >>> spread([6.0, 0.0], (np.array([0, 1]), np.array([1, 0]))).tolist()
    [1.5, 0.75]
    """
    v = np.asarray(values, dtype=np.float64)
    i, j = neighbours
    around = np.bincount(i, weights=v[j], minlength=v.size) if len(i) else np.zeros(v.size)
    return (centre_weight * v + neighbour_weight * around) / (centre_weight + 6 * neighbour_weight)
