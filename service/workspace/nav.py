"""The navigation entries areas declare, and which of them a user sees."""

from __future__ import annotations

from dataclasses import dataclass

from service.access.actions import allowed
from service.access.policy import Principal


@dataclass(frozen=True)
class NavEntry:
    """A link in the workspace's navigation: shown to users who may take ``action`` (on
    ``collection`` when the action is on a collection, such as ``create``); ``None``: every
    signed-in user. ``label`` is marked with ``N_`` and translated when shown."""

    label: str
    href: str
    action: str | None = None
    collection: str | None = None

    def shown_to(self, principal: Principal) -> bool:
        if self.action is None:
            return True
        return allowed(principal, self.action, owner=principal.actor_id, collection=self.collection)
