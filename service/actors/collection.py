"""The collection this domain serves, as the registry lists it."""

from __future__ import annotations

from service.actors.models import Actor
from service.actors.schemas import ActorProperties
from service.core.collection import AREA, Collection

ACTORS = Collection(
    "actors",
    "Actors",
    "UN agencies, NGOs, host-nation authorities, armed groups and others.",
    Actor,
    ActorProperties,
    AREA,
    filters=("category",),
    text=("name", "acronym"),
    tile_fields=("name", "category", "humanitarian"),
)
