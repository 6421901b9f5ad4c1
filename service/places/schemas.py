from __future__ import annotations

from pydantic import Field

from service.bounds import bound_to_columns
from service.core.schemas import SectoredProperties
from service.enums import Classification, PlaceClass
from service.places.models import Place


class PlaceProperties(SectoredProperties):
    classification: Classification = Field(
        Classification.public,
        description="Who may see the place; a gazetteer is public unless said otherwise.",
    )
    name: str = Field(min_length=1, max_length=300)
    alternate_names: str | None = Field(
        None, max_length=10_000, description="Other names and spellings, separated by commas."
    )
    place_class: PlaceClass = Field(
        PlaceClass.village, description="city, town, village or hamlet (OpenStreetMap's place=*)."
    )
    population: int | None = Field(None, ge=0)
    admin1: str | None = Field(None, max_length=300, description="First-level administrative area.")
    admin2: str | None = Field(
        None, max_length=300, description="Second-level administrative area."
    )


bound_to_columns(PlaceProperties, Place.__table__)  # type: ignore[arg-type]
