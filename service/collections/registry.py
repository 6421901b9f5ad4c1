"""The collections the service serves: one entry each, read by the API, the map layers and the
exports. Adding a collection is adding an entry here (and its model and schema)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import Table

from service.actors.models import Actor
from service.actors.schemas import ActorProperties
from service.base import Base
from service.incidents.models import Incident
from service.incidents.schemas import IncidentProperties
from service.patrols.models import OperatingBase, Patrol
from service.patrols.schemas import BaseProperties, PatrolProperties
from service.places.models import Place
from service.places.schemas import PlaceProperties
from service.projects.models import Project
from service.projects.schemas import ProjectProperties
from service.requests.models import AssistanceRequest
from service.requests.schemas import AssistanceRequestProperties
from service.sectors.models import Sector
from service.sectors.schemas import SectorProperties
from service.sites.models import IdpSite
from service.sites.schemas import IdpSiteProperties

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

    @property
    def table(self) -> Table:
        table = self.model.__table__
        assert isinstance(table, Table)
        return table


COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in (
        Collection(
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
        ),
        Collection(
            "actors",
            "Actors",
            "UN agencies, NGOs, host-nation authorities, armed groups and others.",
            Actor,
            ActorProperties,
            AREA,
            filters=("category",),
            text=("name", "acronym"),
            tile_fields=("name", "category", "humanitarian"),
        ),
        Collection(
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
        ),
        Collection(
            "projects",
            "Projects",
            "Quick impact projects, civil assistance and community support.",
            Project,
            ProjectProperties,
            AREA,
            filters=("status", "kind"),
            time=("start_date", "end_date"),
            text=("title", "description"),
            tile_fields=("title", "kind", "status"),
        ),
        Collection(
            "incidents",
            "Incidents and threats",
            "What happened, when, where and how bad.",
            Incident,
            IncidentProperties,
            ("Point",),
            filters=("category", "severity"),
            time=("occurred_at", None),
            text=("description",),
            order="occurred_at",
            tile_fields=("category", "severity", "occurred_at"),
        ),
        Collection(
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
        ),
        Collection(
            "bases",
            "Bases",
            "Unit positions and team sites.",
            OperatingBase,
            BaseProperties,
            ("Point",),
            filters=("base_kind",),
            text=("name", "unit"),
            tile_fields=("name", "base_kind"),
        ),
        Collection(
            "assistance_requests",
            "Requests for civil assistance",
            "Requests from humanitarian and development actors for military support, with the "
            "decisions taken on them and their outcome.",
            AssistanceRequest,
            AssistanceRequestProperties,
            AREA,
            filters=("status", "capability"),
            time=("needed_from", "needed_until"),
            text=("title", "need"),
            order="requested_at",
            tile_fields=("title", "status", "capability", "life_saving"),
            domain_routes=False,
        ),
        Collection(
            "places",
            "Places",
            "The gazetteer: cities, towns, villages and hamlets, with other names and spellings.",
            Place,
            PlaceProperties,
            ("Point",),
            filters=("place_class",),
            text=("name", "alternate_names"),
            tile_fields=("name", "place_class", "population"),
        ),
    )
}
