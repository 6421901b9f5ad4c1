"""The collection this domain serves, as the registry lists it."""

from __future__ import annotations

from service.core.collection import AREA, Collection
from service.requests import workflow
from service.requests.models import AssistanceRequest
from service.requests.schemas import AssistanceRequestProperties

ASSISTANCE_REQUESTS = Collection(
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
    state_columns=workflow.STATE_COLUMNS,
    possible_actions=workflow.possible_steps,
)
