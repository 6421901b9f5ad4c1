"""The gazetteer's places and the areas of responsibility (sectors) in the workspace: a place's
names, class and population corrected and its point moved, a sector's name, level and outline
corrected; both created and deleted where the service allows (its actions decide who)."""

from __future__ import annotations

from fastapi import APIRouter

from service.enums import PlaceClass, SectorLevel
from service.i18n import N_
from service.places.collection import PLACES
from service.sectors.collection import SECTORS
from service.workspace.drawing import DrawnArea, Field, drawn_router
from service.workspace.nav import NavEntry

PLACE_CLASSES = (
    (PlaceClass.city.value, N_("City")),
    (PlaceClass.town.value, N_("Town")),
    (PlaceClass.village.value, N_("Village")),
    (PlaceClass.hamlet.value, N_("Hamlet")),
)
SECTOR_LEVELS = (
    (SectorLevel.force.value, N_("Force area")),
    (SectorLevel.sector.value, N_("Sector")),
    (SectorLevel.battalion.value, N_("Battalion area")),
)

PLACES_AREA = DrawnArea(
    collection=PLACES,
    path="places",
    title=N_("Places"),
    one=N_("Place"),
    create_label=N_("Add a new place"),
    label_title=N_("Name"),
    coordinates_label=N_("Location of the place"),
    label="name",
    shapes="point",
    fields=(
        Field("name", N_("Name")),
        Field(
            "alternate_names",
            N_("Other names and spellings"),
            "textarea",
            hint=N_("Separated by commas; searches find the place by any of them."),
        ),
        Field("place_class", N_("Class of place"), "select", PLACE_CLASSES),
        Field("population", N_("Population"), "number"),
    ),
    listed=(("place_class", N_("Class")), ("population", N_("Population"))),
)

SECTORS_AREA = DrawnArea(
    collection=SECTORS,
    path="sectors",
    title=N_("Sectors"),
    one=N_("Sector"),
    create_label=N_("Draw a new sector"),
    label_title=N_("Name"),
    coordinates_label=N_("Outline of the sector"),
    label="name",
    shapes="area",
    fields=(
        Field("name", N_("Name")),
        Field("level", N_("Level"), "select", SECTOR_LEVELS),
    ),
    listed=(("level", N_("Level")),),
)

NAV = [
    NavEntry(N_("Places"), PLACES_AREA.base, action="create", collection=PLACES.name),
    NavEntry(N_("Sectors"), SECTORS_AREA.base, action="create", collection=SECTORS.name),
]

#: The area's pages: places and sectors.
router = APIRouter()
router.include_router(drawn_router(PLACES_AREA))
router.include_router(drawn_router(SECTORS_AREA))
