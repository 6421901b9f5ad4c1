"""Hot spots (Getis-Ord Gi*) on incident counts per cell, and their trend over windows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession

from geo.analysis import grid, hotspots, risk
from service.access.policy import Principal
from service.analysis.geojson import feature, feature_collection, rounded
from service.analysis.inputs import fetch_incidents
from service.analysis.scope import Scope, area_cells
from service.errors import InvalidInput

# ---------------------------------------------------------------------------------------------
# Hot spots
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HotspotOptions:
    resolution: int = 6
    alpha: float = 0.05
    include_all: bool = False


async def window_counts(
    session: AsyncSession,
    principal: Principal,
    scope: Scope,
    hex_grid: grid.HexGrid,
    cells: npt.NDArray[np.uint64],
    starts: Sequence[datetime],
) -> npt.NDArray[np.float64]:
    """Incident counts per cell in each window ``[starts[k], starts[k+1])`` (the last ends at
    the scope's end); only incidents inside the area's cells count."""
    incidents = await fetch_incidents(session, principal, scope, margin_km=0.0, start=starts[0])
    at = risk._index_of(cells, hex_grid.cells_of_points(incidents.lon, incidents.lat))
    edges = [s.timestamp() for s in starts] + [scope.end.timestamp() + 1e-6]
    window = np.searchsorted(np.asarray(edges), incidents.at, side="right") - 1
    ok = (at >= 0) & (window >= 0) & (window < len(starts))
    flat = np.bincount(window[ok] * cells.size + at[ok], minlength=len(starts) * cells.size)
    return flat.reshape(len(starts), cells.size).astype(np.float64)


async def hotspot_layer(
    session: AsyncSession, principal: Principal, scope: Scope, options: HotspotOptions
) -> str:
    """Getis-Ord Gi* on incident counts per cell, with FDR-adjusted p-values."""
    assert scope.area is not None
    hex_grid = grid.HexGrid(options.resolution)
    cells = area_cells(hex_grid, scope.area)
    if cells.size < 3:
        raise InvalidInput(
            ["query", "resolution"], "the area holds fewer than 3 cells; use a higher resolution"
        )
    counts = (await window_counts(session, principal, scope, hex_grid, cells, [scope.start]))[0]
    neighbours = hex_grid.neighbour_pairs(cells)
    result = hotspots.getis_ord_gi_star(counts, neighbours, alpha=options.alpha)
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
        "cells": int(cells.size),
        "cells_returned": len(features),
        "cell_area_km2": round(hex_grid.cell_area_km2, 3),
        "incidents": int(counts.sum()),
        "mean_per_cell": rounded(float(counts.mean()), 4),
        "hot_spots": int(result.hot.sum()),
        "cold_spots": int(result.cold.sum()),
        "uncorrected_p_below_alpha": int((result.p < options.alpha).sum()),
    }
    return feature_collection(features, summary, {**scope.describe(), **asdict(options)})


@dataclass(frozen=True)
class EmergingOptions:
    resolution: int = 6
    alpha: float = 0.05
    windows: int = 4
    z_change: float = 1.0


async def emerging_layer(
    session: AsyncSession, principal: Principal, scope: Scope, options: EmergingOptions
) -> str:
    """Gi* in the current window and the ``windows - 1`` equal windows before it; the trend
    of each cell that was a hot spot in any of them."""
    assert scope.area is not None
    hex_grid = grid.HexGrid(options.resolution)
    cells = area_cells(hex_grid, scope.area)
    if cells.size < 3:
        raise InvalidInput(
            ["query", "resolution"], "the area holds fewer than 3 cells; use a higher resolution"
        )
    length = scope.end - scope.start
    starts = [scope.start - length * (options.windows - 1 - k) for k in range(options.windows)]
    counts = await window_counts(session, principal, scope, hex_grid, cells, starts)
    neighbours = hex_grid.neighbour_pairs(cells)
    result = hotspots.emerging_hotspots(
        counts, neighbours, alpha=options.alpha, z_change=options.z_change
    )
    keep = np.array([t is not None for t in result.trend], dtype=bool)
    ids = hex_grid.to_strings(cells[keep])
    rings = hex_grid.polygons(cells[keep])
    features = []
    for cell, ring, k in zip(ids, rings, np.nonzero(keep)[0].tolist(), strict=True):
        features.append(
            feature(
                cell,
                {"type": "Polygon", "coordinates": [ring]},
                {
                    "cell": cell,
                    "trend": result.trend[k],
                    "hot_now": bool(result.current.hot[k]),
                    "z": [rounded(w.z[k], 4) for w in result.windows],
                    "q": [rounded(w.q[k], 6) for w in result.windows],
                    "incidents": [int(c) for c in counts[:, k]],
                },
            )
        )
    order = {t: i for i, t in enumerate(hotspots.TRENDS)}
    features.sort(key=lambda f: (order[f["properties"]["trend"]], -(f["properties"]["z"][-1] or 0)))
    summary = {
        "cells": int(cells.size),
        "windows": [
            {"start": s, "end": starts[k + 1] if k + 1 < len(starts) else scope.end}
            for k, s in enumerate(starts)
        ],
        "incidents": [int(c) for c in counts.sum(axis=1)],
        "hot_spots": [int(w.hot.sum()) for w in result.windows],
        "trend": {t: int(sum(1 for x in result.trend if x == t)) for t in hotspots.TRENDS},
    }
    return feature_collection(features, summary, {**scope.describe(), **asdict(options)})
