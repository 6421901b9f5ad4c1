"""The workspace: the browser side of civop for people who write, server-rendered pages with
htmx at ``/workspace/...`` (see docs/developers.md, "Workspace pages").

Each area is a module with a ``router`` and its navigation entries (``NAV``); list it in
``AREAS``, one line per area."""

from __future__ import annotations

from types import ModuleType

from fastapi import FastAPI

from service.workspace import (
    actors,
    admin,
    alerts,
    exports,
    gazetteer,
    imports,
    incidents,
    intake_forms,
    patrols,
    projects,
    records,
    requests,
    sites,
    triage,
    views,
)

#: The workspace's areas, in the order the navigation shows them.
AREAS: list[ModuleType] = [
    records,
    incidents,
    triage,
    sites,
    projects,
    patrols,
    actors,
    requests,
    alerts,
    imports,
    exports,
    gazetteer,
    admin,
    intake_forms,
]


def install(app: FastAPI) -> None:
    """Mount the base and every area, and answer refused workspace requests as HTML."""
    app.include_router(views.router)
    for area in AREAS:
        app.include_router(area.router)
    views.install(app)
