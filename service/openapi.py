"""The error answers of every route, documented in the OpenAPI document from what the route
depends on: credentials (401, 403), the database (503, 504), a body (400, 413), a record it
names (404) and writes (409). What a route documents itself is kept as it is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from service.auth.deps import get_principal
from service.db import get_session
from service.read_replicas import get_read_session

ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "properties": {
        "detail": {
            "type": "string",
            "description": "What was wrong, what to do: in the request's language "
            "(the user's choice, lang=, Accept-Language).",
        },
        "code": {
            "type": "string",
            "description": "What kind of refusal it is, for programs: the same in every "
            "language (not_found, unauthorized, forbidden, conflict...).",
        },
    },
    "required": ["detail"],
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _error(description: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR}},
    }
    if headers:
        answer["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return answer


UNAUTHORIZED = _error(
    "Credentials missing, not valid or expired: log in again or check the API key.",
    {"WWW-Authenticate": "Bearer"},
)
FORBIDDEN = _error("Your role, clearance or sectors do not allow this.")
NOT_FOUND = _error("A record the request names does not exist, or you may not see it.")
CONFLICT = _error(
    "The change conflicts with what is stored: an origin and external_id that a record you "
    "see in full has, or a state that does not allow it; or a request with the same "
    "Idempotency-Key is still running (retry after Retry-After)."
)
NOT_JSON = _error("The body could not be read: it is not JSON, or not UTF-8 text.")
TOO_LARGE = _error("The body is larger than the limit (CIVOP_MAX_BODY_MB).")
UNAVAILABLE = _error(
    "The database is unreachable: retry after the given seconds.",
    {"Retry-After": "Seconds to wait before retrying."},
)
TIMEOUT = _error(
    "The query took longer than the limit (CIVOP_DB_STATEMENT_TIMEOUT_MS): ask for less "
    "(a smaller area, a shorter period, fewer records)."
)


def _calls(dependant: Dependant) -> Iterator[Any]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _has_path_parameters(dependant: Dependant) -> bool:
    return bool(dependant.path_params) or any(
        _has_path_parameters(sub) for sub in dependant.dependencies
    )


def _names_a_record(operation: dict[str, Any]) -> bool:
    """A query parameter that is the id of a record (a sector, a patrol...)."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        for option in [schema, *schema.get("anyOf", [])]:
            if option.get("format") == "uuid":
                return True
    return False


def error_responses(route: Any, method: str, operation: dict[str, Any]) -> dict[str, Any]:
    """The error answers a route can give, by what it depends on."""
    calls = set(_calls(route.dependant))
    # A write takes the primary's session itself (reads take a read session, which may be a
    # replica's); the principal's own session lookup does not count.
    writes = get_session in {sub.call for sub in route.dependant.dependencies}
    signed_in = get_principal in calls
    database = signed_in or bool(calls & {get_session, get_read_session})
    body = route.body_field is not None or "requestBody" in operation
    found: dict[str, Any] = {}
    if body:
        found["400"] = NOT_JSON
    if signed_in:
        found["401"] = UNAUTHORIZED
        found["403"] = FORBIDDEN
    if _has_path_parameters(route.dependant) or _names_a_record(operation):
        found["404"] = NOT_FOUND
    if signed_in and method in WRITES and writes:
        found["409"] = CONFLICT
    if body:
        found["413"] = TOO_LARGE
    if database:
        found["503"] = UNAVAILABLE
        found["504"] = TIMEOUT
    return found


def _routes(app: FastAPI) -> Iterator[Any]:
    """Every route, also those of included routers (which newer FastAPI keeps unflattened)."""
    contexts = getattr(routing, "iter_route_contexts", None)
    if contexts is None:
        yield from app.routes
    else:
        yield from contexts(app.routes)


def document_errors(app: FastAPI) -> None:
    """Add each route's error answers to the OpenAPI document when it is generated."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        for route in _routes(app):
            if getattr(route, "dependant", None) is None or not route.include_in_schema:
                continue
            for method in route.methods or ():
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                for status, answer in error_responses(route, method, operation).items():
                    responses.setdefault(status, answer)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


#: Swagger UI from the service's own copy (npm's swagger-ui-dist, ``make assets``): /docs works
#: without internet and under the same Content-Security-Policy as the map.
SWAGGER_UI = "/static/vendor/swagger-ui-dist"
DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def serve_docs(app: FastAPI) -> None:
    """The interactive API documentation at /docs (ReDoc is not served)."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API documentation",
            oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
            # No validator badge: it would send the document to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
