"""What tiles and analyses read of a stored geometry: the geometry itself, or its bounded
outline where it has more vertices than a request can work through (see the
``geometry_outlines`` migration)."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import Column, Integer, MetaData, String, Table, case, func, select
from sqlalchemy.dialects.postgresql import UUID

from service.access.sql import View

OUTLINES = Table(
    "geometry_outlines",
    MetaData(),
    Column("collection", String, primary_key=True),
    Column("record_id", UUID(as_uuid=True), primary_key=True),
    Column("vertices", Integer, nullable=False),
    Column("geom", Geometry(srid=4326), nullable=False),
)

#: Tables whose geometries may have an outline (lines and areas).
OUTLINED = frozenset(
    {"sectors", "actors", "idp_sites", "projects", "patrols", "assistance_requests"}
)


def workable_geometry(v: View) -> Any:
    """The geometry the principal sees in ``v``, with its outline in place of an exact
    geometry too big to work through within a request."""
    shown = v.column("geom")
    if v.table.name not in OUTLINED:
        return shown
    outline = (
        select(OUTLINES.c.geom)
        .where(OUTLINES.c.collection == v.table.name, OUTLINES.c.record_id == v.table.c.id)
        .scalar_subquery()
    )
    return case((v.exact, func.coalesce(outline, shown)), else_=shown)
