"""Routes of the analysts' map: the page, and the scripts and stylesheets it loads. None of
them returns data: the page reads every layer from the API with the signed-in user's token."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.routing import Match

from service.config import get_settings
from service.i18n import LANGUAGE, _
from service.viewer import assets
from service.viewer.page import PageOptions, build_page

router = APIRouter(tags=["Map viewer"])

ALERTS_API = "/api/alerts"


def alerts_available(request: Request) -> bool:
    """The page offers an alerts layer when the service answers ``/api/alerts``."""
    scope = {**request.scope, "path": ALERTS_API, "method": "GET", "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes)


@router.get(
    "/map",
    summary="The analysts' map (HTML)",
    description="A Leaflet map of every layer you may see: sign in on the page; it keeps the "
    "token in the tab's session storage and reads the layers from the API with it.",
    response_class=HTMLResponse,
)
async def map_page(request: Request) -> Response:
    not_installed = assets.missing()
    if not_installed:
        title = escape(_("civop map: assets missing"))
        text = escape(
            _(
                "The map's JavaScript libraries are not installed ({packages}). Run "
                "make assets (npm ci in service/viewer) and reload.",
                packages=", ".join(not_installed),
            )
        )
        return HTMLResponse(f"<!DOCTYPE html><title>{title}</title><p>{text}</p>", status_code=503)
    # The page's language: lang= in the address, else the browser's (the script moves to the
    # user's own language once they have signed in).
    options = PageOptions.of(
        get_settings(), alerts_available=alerts_available(request), language=LANGUAGE.get()
    )
    html = build_page(options)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@router.get("/static/viewer/{path:path}", include_in_schema=False)
async def own_file(path: str, request: Request) -> Response:
    return await assets.own_file(path, request)


@router.get("/static/vendor/{package}/{path:path}", include_in_schema=False)
async def vendor_file(package: str, path: str, request: Request) -> Response:
    return await assets.vendor_file(package, path, request)
