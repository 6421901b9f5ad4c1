"""The collection this domain serves, as the registry lists it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.core.collection import Collection
from service.incidents.models import Incident
from service.incidents.schemas import IncidentProperties


def judgements(state: Mapping[str, Any]) -> frozenset[str]:
    """The judgements a report's state allows: verify what is not verified, discredit what is
    not discredited (either can be revised later, with its reason)."""
    current = state.get("verification_state")
    return frozenset(
        action
        for action, reached in (("verify", "verified"), ("discredit", "discredited"))
        if current != reached
    )


INCIDENTS = Collection(
    "incidents",
    "Incidents and threats",
    "What happened, when, where and how bad.",
    Incident,
    IncidentProperties,
    ("Point",),
    filters=("category", "severity", "verification_state"),
    time=("occurred_at", None),
    text=("description",),
    order="occurred_at",
    tile_fields=("category", "severity", "occurred_at", "verification_state"),
    state_columns=("verification_state",),
    possible_actions=judgements,
)
