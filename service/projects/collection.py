"""The collection this domain serves, as the registry lists it."""

from __future__ import annotations

from service.core.collection import AREA, Collection
from service.projects.models import Project
from service.projects.schemas import ProjectProperties

PROJECTS = Collection(
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
)
