"""The map page's JavaScript and CSS, served by the service itself: our own files from
``static/`` and the libraries npm installed (``make assets``) from ``node_modules/``. Only the
folders named here are served, never the whole of node_modules."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request, Response
from starlette.staticfiles import StaticFiles

from service.errors import NotFound
from service.i18n import _

HERE = Path(__file__).resolve().parent
OWN = HERE / "static"
NODE_MODULES = HERE / "node_modules"

#: URL folder under /static/vendor -> the package folder that holds the built files.
VENDOR: dict[str, Path] = {
    "leaflet": NODE_MODULES / "leaflet" / "dist",
    "leaflet.vectorgrid": NODE_MODULES / "leaflet.vectorgrid" / "dist",
    "leaflet.heat": NODE_MODULES / "leaflet.heat" / "dist",
    "event-source-polyfill": NODE_MODULES / "event-source-polyfill" / "src",
    "mgrs": NODE_MODULES / "mgrs" / "dist",
    "rbush": NODE_MODULES / "rbush",  # the map's labels: which overlap (R-tree of their boxes)
    "htmx.org": NODE_MODULES / "htmx.org" / "dist",  # the workspace pages (service.workspace)
    "swagger-ui-dist": NODE_MODULES / "swagger-ui-dist",  # the API documentation at /docs
    # Drawing sites, projects and routes in the workspace.
    "leaflet-geoman-free": NODE_MODULES / "@geoman-io" / "leaflet-geoman-free" / "dist",
}

#: The files the page loads, in order (URLs under /static).
SCRIPTS = [
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    "vendor/leaflet.heat/leaflet-heat.js",
    "vendor/event-source-polyfill/eventsource.min.js",
    "vendor/mgrs/mgrs.min.js",
    "vendor/rbush/rbush.min.js",
    "viewer/signed-in-tiles.js",  # the basemap's tiles, read with the user's token
    "viewer/civop-map.js",
]
STYLESHEETS = ["vendor/leaflet/leaflet.css", "viewer/civop-map.css"]

_own = StaticFiles(directory=OWN, check_dir=False)
_vendor = {name: StaticFiles(directory=path, check_dir=False) for name, path in VENDOR.items()}


TEMPLATES = HERE / "templates"


def missing() -> list[str]:
    """Files the page needs that are not installed (empty when the map can be served)."""
    needed = [_path(name) for name in [*SCRIPTS, *STYLESHEETS]] + [TEMPLATES / "panels.html"]
    return [str(path.relative_to(HERE)) for path in needed if not path.is_file()]


def _path(name: str) -> Path:
    folder, _, rest = name.partition("/")
    if folder == "viewer":
        return OWN / rest
    package, _, file = rest.partition("/")
    return VENDOR[package] / file


async def own_file(path: str, request: Request) -> Response:
    return await _own.get_response(path, request.scope)


async def vendor_file(package: str, path: str, request: Request) -> Response:
    files = _vendor.get(package)
    if files is None:
        raise NotFound(_("no static package {package!r}", package=package))
    return await files.get_response(path, request.scope)
