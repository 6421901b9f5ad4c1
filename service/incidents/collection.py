"""The collection this domain serves, as the registry lists it."""

from __future__ import annotations

from service.core.collection import Collection
from service.incidents.models import Incident
from service.incidents.schemas import IncidentProperties

INCIDENTS = Collection(
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
)
