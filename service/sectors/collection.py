"""The collection this domain serves, as the registry lists it."""

from __future__ import annotations

from service.core.collection import Collection
from service.sectors.models import Sector
from service.sectors.schemas import SectorProperties

SECTORS = Collection(
    "sectors",
    "Sectors",
    "Areas of responsibility: the force area, sectors and battalion areas.",
    Sector,
    SectorProperties,
    ("Polygon", "MultiPolygon"),
    filters=("level",),
    text=("name",),
    multi=True,
    tile_fields=("name", "level"),
)
