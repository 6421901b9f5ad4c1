"""The collections this domain serves, as the registry lists them."""

from __future__ import annotations

from service.core.collection import Collection
from service.patrols.models import OperatingBase, Patrol
from service.patrols.schemas import BaseProperties, PatrolProperties

PATROLS = Collection(
    "patrols",
    "Patrols",
    "Planned and conducted patrols and their routes.",
    Patrol,
    PatrolProperties,
    ("LineString",),
    filters=("state", "patrol_type"),
    time=("start_at", "end_at"),
    text=("unit", "description"),
    order="start_at",
    tile_fields=("unit", "patrol_type", "state", "start_at"),
)

BASES = Collection(
    "bases",
    "Bases",
    "Unit positions and team sites.",
    OperatingBase,
    BaseProperties,
    ("Point",),
    filters=("base_kind",),
    text=("name", "unit"),
    tile_fields=("name", "base_kind"),
)
