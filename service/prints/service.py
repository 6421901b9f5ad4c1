"""Prints of the map's view for a briefing: what the reader may see in the view, gathered
through the read gate, and drawn by :mod:`geo.printmap` in the job worker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from geo.basemap import read_tile
from geo.printmap import PrintLayers, PrintSheet, render_print
from service.access.policy import Principal
from service.access.sql import view
from service.basemap.service import basemap_info
from service.collections.registry import COLLECTIONS
from service.config import Settings
from service.core.params import ListQuery, parse_datetime
from service.core.records import apply_filters
from service.enums import IncidentCategory
from service.viewer.styles import INCIDENT_COLOURS, PLACE_LABELS, label

#: A print draws at most this many incidents (the view's newest); beyond, zoom in.
MAX_INCIDENTS = 50_000


class PrintRequest(BaseModel):
    """The view to print, as the map shows it."""

    title: str = Field("Situation map", min_length=1, max_length=200)
    format: Literal["pdf", "png"] = "pdf"
    bbox: tuple[float, float, float, float] = Field(
        description="The view: minLon, minLat, maxLon, maxLat (WGS 84)."
    )
    zoom: int = Field(9, ge=0, le=20, description="The map's zoom: which places are named.")
    datetime: str | None = Field(
        None, max_length=100, description="The period, as the items' `datetime` filter."
    )
    category: list[IncidentCategory] | None = Field(None, description="Incident categories shown.")
    severity: int = Field(1, ge=1, le=5, description="Least severity shown.")
    verified_only: bool = Field(
        False, description="Verified incidents only (no field report not yet judged)."
    )

    @field_validator("bbox")
    @classmethod
    def _ordered(cls, value: tuple[float, float, float, float]) -> tuple[float, ...]:
        west, south, east, north = value
        if not (-180 <= west < east <= 180 and -85 <= south < north <= 85):
            raise ValueError("bbox must be minLon, minLat, maxLon, maxLat with min below max")
        return value


def _table(name: str) -> Table:
    return COLLECTIONS[name].table


def _period(request: PrintRequest) -> str:
    interval = parse_datetime(request.datetime)
    if not interval:
        return "all time"
    start, end = interval
    first = start.date().isoformat() if start else "the beginning"
    last = end.date().isoformat() if end else "now"
    return f"{first} to {last}"


async def gather(session: AsyncSession, principal: Principal, request: PrintRequest) -> PrintLayers:
    """What ``principal`` may see in the view: every query goes through ``view()``."""
    layers = PrintLayers()
    filters: dict[str, list[Any]] = {}
    if request.category is not None:
        filters["category"] = [str(c) for c in request.category]
    if request.severity > 1:
        filters["severity"] = list(range(request.severity, 6))
    if request.verified_only:
        filters["verification_state"] = ["verified"]
    query = ListQuery(bbox=request.bbox, interval=parse_datetime(request.datetime), filters=filters)

    incidents = COLLECTIONS["incidents"]
    v = view(incidents.table, principal)
    geom = v.column("geom")
    rows = await session.execute(
        select(func.ST_X(geom), func.ST_Y(geom), v.column("category"), v.column("classification"))
        .where(v.where, *apply_filters(v, incidents, query))
        .order_by(v.column("occurred_at").desc())
        .limit(MAX_INCIDENTS)
    )
    layers.incidents = [(float(x), float(y), str(c), str(k)) for x, y, c, k in rows]

    area = ListQuery(bbox=request.bbox)
    for name in ("idp_sites", "places", "sectors"):
        collection = COLLECTIONS[name]
        v = view(collection.table, principal)
        geom = v.column("geom")
        conditions = [v.where, *apply_filters(v, collection, area)]
        if name == "idp_sites":
            found = await session.execute(
                select(v.column("name"), func.ST_X(func.ST_PointOnSurface(geom)),
                       func.ST_Y(func.ST_PointOnSurface(geom)),
                       v.column("population_individuals"), v.column("classification"))
                .where(*conditions)
            )  # fmt: skip
            layers.sites = [(n, float(x), float(y), p, str(k)) for n, x, y, p, k in found]
        elif name == "places":
            found = await session.execute(
                select(v.column("name"), func.ST_X(geom), func.ST_Y(geom),
                       v.column("place_class"), v.column("classification"))
                .where(*conditions, v.column("name").is_not(None))
            )  # fmt: skip
            layers.places = [
                (str(n), float(x), float(y), str(c), str(k)) for n, x, y, c, k in found
            ]
        else:
            found = await session.execute(
                select(v.column("name"), func.ST_AsGeoJSON(func.ST_Boundary(geom), 5),
                       v.column("level"), v.column("classification"))
                .where(*conditions)
            )  # fmt: skip
            for area_name, boundary, level, classification in found:
                shape = json.loads(boundary)
                lines = shape["coordinates"]
                if shape["type"] == "LineString":
                    lines = [lines]
                rings = [[(p[0], p[1]) for p in line] for line in lines]
                layers.areas.append((area_name, rings, str(level), str(classification)))
    return layers


async def make_print(
    session: AsyncSession,
    principal: Principal,
    request: PrintRequest,
    settings: Settings,
    folder: Path,
) -> Path:
    """Gather the view for ``principal`` and draw it into ``folder``; the file's path."""
    layers = await gather(session, principal, request)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sheet = PrintSheet(
        title=request.title,
        bbox=request.bbox,
        period=_period(request),
        printed_by=f"{principal.username} ({principal.role})",
        printed_at=now,
        fmt=request.format,
        category_colours={str(k): v for k, v in INCIDENT_COLOURS.items()},
        category_labels={str(k): label(str(k)) for k in INCIDENT_COLOURS},
        zoom=request.zoom,
    )
    classes = [str(c) for c, rule in PLACE_LABELS.items() if request.zoom >= rule["from_zoom"]]
    info = basemap_info(settings)
    raster = info is not None and not info.vector
    name = f"civop-map-{datetime.now(UTC).strftime('%Y%m%d-%H%M')}.{request.format}"
    return render_print(
        sheet,
        layers,
        folder / name,
        basemap=(lambda z, x, y: read_tile(info.path, z, x, y)) if raster and info else None,
        basemap_zooms=(info.minzoom, info.maxzoom) if info else (0, 0),
        place_classes=classes,
    )
