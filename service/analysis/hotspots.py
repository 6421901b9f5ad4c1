"""Hot spots (Getis-Ord Gi*) on incident counts per cell, and their trend over windows."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession

from geo.analysis import grid, hotspots, risk
from service.access.policy import Principal
from service.analysis.geojson import feature, feature_collection, rounded
from service.analysis.inputs import IncidentArrays, fetch_incidents
from service.analysis.scope import Scope, area_cells
from service.errors import InvalidInput
from service.i18n import _

# ---------------------------------------------------------------------------------------------
# Hot spots
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HotspotOptions:
    resolution: int = 6
    alpha: float = 0.05
    include_all: bool = False
    permutations: int = hotspots.PERMUTATIONS


@dataclass(frozen=True)
class WindowCounts:
    """Incident counts per cell and window, and where each incident read fell."""

    #: Shape (windows, cells), oldest window first.
    counts: npt.NDArray[np.float64]
    incidents: IncidentArrays
    #: Position of each incident's cell in the cells counted; -1 outside them.
    position: npt.NDArray[np.int64]
    #: The window of each incident; -1 or ``windows`` outside them.
    window: npt.NDArray[np.int64]

    @property
    def counted(self) -> npt.NDArray[np.bool_]:
        return np.asarray(
            (self.position >= 0) & (self.window >= 0) & (self.window < self.counts.shape[0])
        )


async def window_counts(
    session: AsyncSession,
    principal: Principal,
    scope: Scope,
    hex_grid: grid.HexGrid,
    cells: npt.NDArray[np.uint64],
    starts: Sequence[datetime],
    *,
    with_ids: bool = False,
) -> WindowCounts:
    """Incident counts per cell in each window ``[starts[k], starts[k+1])`` (the last ends at
    the scope's end).

    A cell belongs to the area when its centre does; it then counts every incident in its
    whole hexagon, also the part beyond the edge of the box or sector: incidents are read
    with a margin of one ring of cells around the area."""
    margin = 2.5 * hex_grid.edge_km
    incidents = await fetch_incidents(
        session, principal, scope, margin_km=margin, start=starts[0], with_ids=with_ids
    )
    at = risk._index_of(cells, hex_grid.cells_of_points(incidents.lon, incidents.lat))
    edges = [s.timestamp() for s in starts] + [scope.end.timestamp() + 1e-6]
    window = np.searchsorted(np.asarray(edges), incidents.at, side="right") - 1
    ok = (at >= 0) & (window >= 0) & (window < len(starts))
    flat = np.bincount(window[ok] * cells.size + at[ok], minlength=len(starts) * cells.size)
    counts = flat.reshape(len(starts), cells.size).astype(np.float64)
    return WindowCounts(counts, incidents, at, window.astype(np.int64))


def too_few(incidents: int) -> str:
    """What an analyst reads instead of a map when the area holds too few incidents."""
    return (
        f"too few incidents to test: {incidents} in the area and period, at least "
        f"{hotspots.MIN_INCIDENTS} are needed before any cell can be called a hot or cold "
        "spot; widen the period or the area, or drop the category filter"
    )


async def hotspot_layer(
    session: AsyncSession, principal: Principal, scope: Scope, options: HotspotOptions
) -> str:
    """Getis-Ord Gi* on incident counts per cell: conditional permutation pseudo p-values,
    FDR-adjusted; nothing is tested below ``hotspots.MIN_INCIDENTS`` incidents."""
    assert scope.area is not None
    hex_grid = grid.HexGrid(options.resolution)
    cells = area_cells(hex_grid, scope.area)
    if cells.size < 3:
        raise InvalidInput(
            ["query", "resolution"], _("the area holds fewer than 3 cells; use a higher resolution")
        )
    counts = (
        await window_counts(session, principal, scope, hex_grid, cells, [scope.start])
    ).counts[0]
    parameters = {**scope.describe(), **asdict(options), "min_incidents": hotspots.MIN_INCIDENTS}
    total = int(counts.sum())
    base = {
        "cells": int(cells.size),
        "cell_area_km2": round(hex_grid.cell_area_km2, 3),
        "incidents": total,
        "mean_per_cell": rounded(float(counts.mean()), 4),
    }
    if total < hotspots.MIN_INCIDENTS:
        summary = {**base, "tested": False, "reason": too_few(total), "cells_returned": 0}
        return feature_collection([], {**summary, "hot_spots": 0, "cold_spots": 0}, parameters)
    neighbours = hex_grid.neighbour_pairs(cells)
    result = await asyncio.to_thread(
        hotspots.getis_ord_gi_star,
        counts,
        neighbours,
        alpha=options.alpha,
        permutations=options.permutations,
    )
    keep = (
        np.ones(cells.size, dtype=bool)
        if options.include_all
        else (counts > 0) | result.hot | result.cold
    )
    ids = hex_grid.to_strings(cells[keep])
    rings = hex_grid.polygons(cells[keep])
    features = []
    for cell, ring, k in zip(ids, rings, np.nonzero(keep)[0].tolist(), strict=True):
        kind = "hot" if result.hot[k] else "cold" if result.cold[k] else None
        features.append(
            feature(
                cell,
                {"type": "Polygon", "coordinates": [ring]},
                {
                    "cell": cell,
                    "incidents": int(counts[k]),
                    "z": rounded(result.z[k], 4),
                    "p": rounded(result.p[k], 6),
                    "q": rounded(result.q[k], 6),
                    "hotspot": kind,
                    "confidence": int(result.confidence[k]),
                },
            )
        )
    features.sort(key=lambda f: -(f["properties"]["z"] or 0.0))
    summary = {
        **base,
        "tested": True,
        "cells_returned": len(features),
        "hot_spots": int(result.hot.sum()),
        "cold_spots": int(result.cold.sum()),
        "uncorrected_p_below_alpha": int((result.p < options.alpha).sum()),
    }
    return feature_collection(features, summary, parameters)


@dataclass(frozen=True)
class EmergingOptions:
    resolution: int = 6
    alpha: float = 0.05
    #: Time steps: the current window and ``windows - 1`` equal windows before it.
    windows: int = 10
    permutations: int = hotspots.PERMUTATIONS


async def emerging_layer(
    session: AsyncSession, principal: Principal, scope: Scope, options: EmergingOptions
) -> str:
    """Gi* in the current window and the ``windows - 1`` equal windows before it, and each
    cell's pattern in ESRI's Emerging Hot Spot Analysis (Mann-Kendall trend of its z)."""
    assert scope.area is not None
    hex_grid = grid.HexGrid(options.resolution)
    cells = area_cells(hex_grid, scope.area)
    if cells.size < 3:
        raise InvalidInput(
            ["query", "resolution"], _("the area holds fewer than 3 cells; use a higher resolution")
        )
    length = scope.end - scope.start
    starts = [scope.start - length * (options.windows - 1 - k) for k in range(options.windows)]
    counts = (await window_counts(session, principal, scope, hex_grid, cells, starts)).counts
    parameters = {**scope.describe(), **asdict(options), "min_incidents": hotspots.MIN_INCIDENTS}
    summary: dict[str, Any] = {
        "cells": int(cells.size),
        "windows": [
            {"start": s, "end": starts[k + 1] if k + 1 < len(starts) else scope.end}
            for k, s in enumerate(starts)
        ],
        "incidents": [int(c) for c in counts.sum(axis=1)],
    }
    total = int(counts.sum())
    if total < hotspots.MIN_INCIDENTS:
        summary |= {
            "tested": False,
            "reason": too_few(total),
            "hot_spots": [0] * len(starts),
            "patterns": dict.fromkeys(hotspots.PATTERNS, 0),
        }
        return feature_collection([], summary, parameters)
    neighbours = hex_grid.neighbour_pairs(cells)
    result = await asyncio.to_thread(
        hotspots.emerging_hotspots,
        counts,
        neighbours,
        alpha=options.alpha,
        permutations=options.permutations,
    )
    keep = np.array([t is not None for t in result.pattern], dtype=bool)
    ids = hex_grid.to_strings(cells[keep])
    rings = hex_grid.polygons(cells[keep])
    features = []
    for cell, ring, k in zip(ids, rings, np.nonzero(keep)[0].tolist(), strict=True):
        tau, trend_p = result.tau[k], result.trend_p[k]
        direction = (
            "no significant trend"
            if not trend_p < options.alpha
            else "rising"
            if tau > 0
            else "falling"
        )
        features.append(
            feature(
                cell,
                {"type": "Polygon", "coordinates": [ring]},
                {
                    "cell": cell,
                    "pattern": result.pattern[k],
                    "hot_now": bool(result.current.hot[k]),
                    "cold_now": bool(result.current.cold[k]),
                    "z": [rounded(w.z[k], 4) for w in result.windows],
                    "q": [rounded(w.q[k], 6) for w in result.windows],
                    "incidents": [int(c) for c in counts[:, k]],
                    "trend": {
                        "direction": direction,
                        "tau": rounded(tau, 4),
                        "p": rounded(trend_p, 6),
                    },
                },
            )
        )
    order = {t: i for i, t in enumerate(hotspots.PATTERNS)}
    features.sort(
        key=lambda f: (order[f["properties"]["pattern"]], -abs(f["properties"]["z"][-1] or 0))
    )
    summary |= {
        "tested": True,
        "hot_spots": [int(w.hot.sum()) for w in result.windows],
        "cold_spots": [int(w.cold.sum()) for w in result.windows],
        "patterns": {t: int(sum(1 for x in result.pattern if x == t)) for t in hotspots.PATTERNS},
    }
    return feature_collection(features, summary, parameters)
