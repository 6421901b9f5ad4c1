"""How a workspace page is answered: a *shell* (layout, navigation placeholder, no data) for a
plain ``GET``, the page's ``content`` block for an htmx request (header ``HX-Request``), both
from the same Jinja2 template (``render``). Every text passes through ``service/i18n.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from service.access.policy import Principal
from service.auth.deps import api_key_header, bearer, get_principal
from service.basemap.service import basemap_info
from service.config import get_settings
from service.db import SessionDep
from service.i18n import LANGUAGE, N_, _, direction, format_number
from service.workspace.times import local_input, local_text

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"

#: Fragments hold what one user may see: never kept by a cache, never mistaken for a shell.
FRAGMENT_HEADERS = {"Cache-Control": "no-store", "Vary": "HX-Request, Authorization"}
SHELL_HEADERS = {"Cache-Control": "no-cache", "Vary": "HX-Request"}


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(_=_, N_=N_, direction=direction)
    env.filters.update(local_input=local_input, local_text=local_text, number=format_number)
    return env


ENVIRONMENT = _environment()


def is_fragment(request: Request) -> bool:
    """Whether htmx asks for the page's content (rather than a browser for the shell)."""
    return request.headers.get("hx-request") == "true"


async def page_principal(request: Request, session: SessionDep) -> Principal | None:
    """The principal of a fragment request (401 without valid credentials, as the API), or
    ``None`` for a plain ``GET``, which gets the shell: a shell needs no sign-in."""
    if not is_fragment(request):
        return None
    token = await bearer(request)
    api_key = await api_key_header(request)
    return await get_principal(request, session, token, api_key, None)


#: ``None`` for a shell request; otherwise the signed-in principal.
PagePrincipal = Annotated[Principal | None, Depends(page_principal)]


def map_config() -> dict[str, Any]:
    """What the workspace's small maps need (no data): the basemap and the mission's box."""
    settings = get_settings()
    info = basemap_info(settings)
    west, south, east, north = settings.mission_bbox
    if info is not None:
        basemap: dict[str, Any] | None = {
            "url": "/basemap/tiles/{z}/{x}/{y}",
            "minZoom": info.minzoom,
            "maxZoom": info.maxzoom,
            "attribution": info.attribution,
        }
    elif settings.basemap_url:
        basemap = {"url": settings.basemap_url, "attribution": ""}
    else:
        basemap = None
    return {"basemap": basemap, "bounds": [[south, west], [north, east]]}


def _common(request: Request) -> dict[str, Any]:
    return {
        "request": request,
        "language": LANGUAGE.get(),
        "time_zone": get_settings().time_zone,
        "map_config": map_config(),
    }


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """``template`` for ``request``: its ``title`` and ``content`` blocks for an htmx request,
    else the whole layout (``base.html``)."""
    page = ENVIRONMENT.get_template(template)
    values = {**_common(request), "shell": False, **(context or {})}
    if is_fragment(request) and "content" in page.blocks:
        ctx = page.new_context(values)
        title = "".join(page.blocks["title"](ctx)) if "title" in page.blocks else ""
        body = "".join(page.blocks["content"](ctx))
        html = (f"<title>{title.strip()}</title>\n" if title.strip() else "") + body
    else:
        html = page.render(values)
    return HTMLResponse(
        html, status_code=status_code, headers={**FRAGMENT_HEADERS, **(headers or {})}
    )


def shell(request: Request, template: str, context: dict[str, Any] | None = None) -> HTMLResponse:
    """The page's shell: its layout, title and scripts, with its content loaded by htmx from the
    same URL once the user is signed in. ``context`` must hold no record data."""
    page = ENVIRONMENT.get_template(template)
    values = {**_common(request), **(context or {}), "shell": True}
    return HTMLResponse(page.render(values), headers=SHELL_HEADERS)


def fragment(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """A template that is a fragment in itself (no layout): a form's answer, a panel."""
    values = {**_common(request), "shell": False, **(context or {})}
    html = ENVIRONMENT.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers=FRAGMENT_HEADERS)
