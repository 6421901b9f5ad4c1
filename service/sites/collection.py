"""The collection this domain serves, as the registry lists it."""

from __future__ import annotations

from service.core.collection import AREA, Collection
from service.sites.models import IdpSite
from service.sites.schemas import IdpSiteProperties

IDP_SITES = Collection(
    "idp_sites",
    "IDP sites",
    "Camps, collective centres, spontaneous settlements and host communities.",
    IdpSite,
    IdpSiteProperties,
    AREA,
    filters=("status", "site_type"),
    time=("population_date", None),
    text=("name",),
    tile_fields=("name", "site_type", "status", "population_individuals"),
)
