"""The collections this domain serves, as the registry lists them."""

from __future__ import annotations

from service.core.collection import Collection
from service.places.models import Place
from service.places.schemas import PlaceProperties

PLACES = Collection(
    "places",
    "Places",
    "The gazetteer: cities, towns, villages and hamlets, with other names and spellings.",
    Place,
    PlaceProperties,
    ("Point",),
    filters=("place_class",),
    text=("name", "alternate_names"),
    tile_fields=("name", "place_class", "population"),
)
