"""Routes of the workspace's base: the home page, the navigation, the workspace's own static
files, and the answer a refused workspace request gets (a 403 that says why, a 404, a 409 that
names the allowed steps) as HTML the page shows where the user acted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from service.access.policy import Principal
from service.auth.deps import PrincipalDep
from service.errors import CivopError, Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from service.i18n import _
from service.workspace import pages
from service.workspace.nav import NavEntry

router = APIRouter(tags=["Workspace"], include_in_schema=False)

STATIC = Path(__file__).resolve().parent / "static"
_static = StaticFiles(directory=STATIC, check_dir=False)


def nav_entries() -> list[NavEntry]:
    """Every area's declared entries, in the order the areas are listed."""
    from service.workspace import AREAS  # the package lists the areas; it imports this module

    return [entry for area in AREAS for entry in getattr(area, "NAV", [])]


def entries_for(principal: Principal) -> list[NavEntry]:
    return [entry for entry in nav_entries() if entry.shown_to(principal)]


@router.get("/workspace", response_class=HTMLResponse)
async def home(request: Request, principal: pages.PagePrincipal) -> Response:
    if principal is None:
        return pages.shell(request, "home.html")
    return pages.render(request, "home.html", {"entries": entries_for(principal), "me": principal})


@router.get("/workspace/nav", response_class=HTMLResponse)
async def nav(request: Request, principal: PrincipalDep) -> Response:
    """The navigation of the signed-in user: only the areas they may use."""
    return pages.fragment(request, "nav.html", {"entries": entries_for(principal), "me": principal})


@router.get("/static/workspace/{path:path}")
async def static_file(path: str, request: Request) -> Response:
    return await _static.get_response(path, request.scope)


def problem_text(error: CivopError) -> tuple[str, str]:
    """A heading and a sentence for a refused request, in the user's terms."""
    if isinstance(error, Forbidden):
        return _("You may not do this"), _("The service refused: {reason}.", reason=error.message)
    if isinstance(error, NotFound):
        return _("Not found"), _("There is no such record, or you may not see it.")
    if isinstance(error, Conflict):
        return _("This cannot be done now"), _(
            "The record's state does not allow it: {reason}.", reason=error.message
        )
    return _("The request was refused"), error.message


def install(app: FastAPI) -> None:
    """Workspace requests from htmx get refusals as HTML; every other request keeps the API's
    JSON answer (the handler installed by ``service.errors``)."""
    api_handler = app.exception_handlers[CivopError]

    async def handle(request: Request, error: Exception) -> Response:
        assert isinstance(error, CivopError)
        if (
            not request.url.path.startswith("/workspace")
            or not pages.is_fragment(request)
            or isinstance(error, Unauthorized | InvalidInput)
        ):
            answer: Callable[[Request, Exception], Awaitable[Response]] = api_handler  # type: ignore[assignment]
            return await answer(request, error)
        heading, text = problem_text(error)
        return pages.fragment(
            request,
            "problem.html",
            {"heading": heading, "text": text, "status": error.status_code},
            status_code=error.status_code,
        )

    app.add_exception_handler(CivopError, handle)
