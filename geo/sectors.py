"""The area of responsibility of many points at once.

The rule is the database's (``civop_sector_at``, service/sql/sectors.sql): of the live sectors
holding the point (its boundary included), the first in the order the database gives them
(``civop_sector_rank``: the smallest level, then the lowest id) wins. ``SectorIndex`` applies
it to a batch of points, taking the sectors in that order, so that an import gives each record
its sector while the file is read, instead of one index scan per record in the database. The
order is not written here: only "the first that holds the point".
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import shapely


class SectorIndex:
    """Sectors in the order in which they claim a point.

    Parameters
    ----------
    sectors : sequence of (id, WKB)
        The live sectors, in the order in which they claim a point (as the database orders
        them: ``ORDER BY civop_sector_rank(level), id``).

    Examples
    --------
    >>> import shapely
    >>> north = uuid.UUID(int=2)
    >>> force = uuid.UUID(int=1)
    >>> index = SectorIndex([
    ...     (north, shapely.box(0, 5, 10, 10).wkb),
    ...     (force, shapely.box(0, 0, 10, 10).wkb),
    ... ])
    >>> x, y = np.array([1.0, 1.0, 1.0, 20.0, np.nan]), np.array([1.0, 6.0, 5.0, 20.0, np.nan])
    >>> [None if s is None else s[-1] for s in index.locate(x, y).to_pylist()]
    ['1', '2', '2', None, None]
    """

    def __init__(self, sectors: Sequence[tuple[uuid.UUID, bytes]]) -> None:
        self.ids = np.array([str(sector_id) for sector_id, _ in sectors], dtype=object)
        self.shapes = shapely.from_wkb([wkb for _, wkb in sectors])
        shapely.prepare(self.shapes)
        self.bounds = shapely.bounds(self.shapes)

    def __len__(self) -> int:
        return len(self.ids)

    def locate(self, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> pa.Array:
        """The sector id (text) of each point (x, y); null where no sector holds it or the
        coordinates are NaN (no point).

        Each sector in turn claims the points it holds among those still unclaimed, so a
        point is tested against its bounding boxes first and only against the outlines of
        the areas whose box holds it, until one claims it.
        """
        found = np.full(len(x), -1, dtype=np.int64)
        unclaimed = ~(np.isnan(x) | np.isnan(y))
        for position, (shape, (x0, y0, x1, y1)) in enumerate(
            zip(self.shapes, self.bounds, strict=True)
        ):
            if not unclaimed.any():
                break
            boxed = unclaimed & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
            candidates = np.flatnonzero(boxed)
            if not len(candidates):
                continue
            held = candidates[shapely.intersects_xy(shape, x[candidates], y[candidates])]
            found[held] = position
            unclaimed[held] = False
        ids = np.full(len(x), None, dtype=object)
        located = found >= 0
        ids[located] = self.ids[found[located]]
        return pa.array(ids, pa.string())
