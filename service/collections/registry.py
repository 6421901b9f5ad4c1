"""The collections the service serves, listed: read by the API, the map layers and the
exports. Each domain declares its own collection (``service.<domain>.collection``: model,
schema, geometry, filters, tile fields); adding a collection is declaring it there and listing
it here. Nothing below this module imports it."""

from __future__ import annotations

from service.actors.collection import ACTORS
from service.core.collection import AREA, Collection
from service.errors import NotFound
from service.i18n import _
from service.incidents.collection import INCIDENTS
from service.patrols.collection import BASES, PATROLS
from service.places.collection import PLACES
from service.projects.collection import PROJECTS
from service.requests.collection import ASSISTANCE_REQUESTS
from service.sectors.collection import SECTORS
from service.sites.collection import IDP_SITES

__all__ = ["AREA", "COLLECTIONS", "Collection", "collection_named"]

COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in (
        SECTORS,
        ACTORS,
        IDP_SITES,
        PROJECTS,
        INCIDENTS,
        PATROLS,
        BASES,
        ASSISTANCE_REQUESTS,
        PLACES,
    )
}


def collection_named(name: str) -> Collection:
    """The collection called ``name``, or a refusal that lists the known ones."""
    found = COLLECTIONS.get(name)
    if found is None:
        raise NotFound(
            _(
                "unknown collection {name!r}; use one of: {known}",
                name=name,
                known=", ".join(COLLECTIONS),
            )
        )
    return found
