"""What a collection is: its model, schema, geometry, filters, time, text search, order and
map-layer fields. Each domain declares its own (``service.<domain>.collection``); the registry
(``service.collections.registry``) only lists them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Table

from service.base import Base

AREA = ("Point", "Polygon", "MultiPolygon")


@dataclass(frozen=True)
class Collection:
    name: str
    title: str
    description: str
    model: type[Base]
    properties: type[BaseModel]
    #: GeoJSON geometry types accepted on write.
    geometry_types: tuple[str, ...]
    #: Enumerated columns that list endpoints filter on (``?category=a,b``).
    filters: tuple[str, ...] = ()
    #: (start, end) columns the ``datetime`` filter applies to; ``None``: no time dimension.
    time: tuple[str, str | None] | None = None
    #: Columns searched by ``q``.
    text: tuple[str, ...] = ()
    #: Keyset order: newest first on this column, then id.
    order: str = "created_at"
    #: The stored geometry is multi-part: single parts are promoted on write.
    multi: bool = False
    #: Attributes carried in vector tiles (kept small: tiles are drawn, popups fetch the item).
    tile_fields: tuple[str, ...] = ()
    #: False when the collection's ``/api`` routes come from its own router (its records
    #: follow a workflow: ``service.requests.views``); map layers and exports stay generic.
    domain_routes: bool = True
    #: Columns a record's state is read from, and the actions that state allows (a request's
    #: workflow steps): the record answer offers only actions its state allows. ``None``: any.
    state_columns: tuple[str, ...] = ()
    possible_actions: Callable[[Mapping[str, Any]], frozenset[str]] | None = None

    @property
    def table(self) -> Table:
        table = self.model.__table__
        assert isinstance(table, Table)
        return table
