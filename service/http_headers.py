"""What every answer carries and every request is held to: security headers (with a
Content-Security-Policy that names the inline scripts of each HTML page by their hash), CORS
for the origins in the settings, and a limit on request bodies."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.config import Settings

MIB = 1024 * 1024
#: Multipart framing around an uploaded file: the upload's own limit answers first.
UPLOAD_FRAMING = MIB

#: JSON, GeoJSON, tiles and files are never rendered as pages: they may load nothing.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.I | re.S)


class BodyTooLarge(HTTPException):
    def __init__(self, limit_bytes: int, setting: str) -> None:
        super().__init__(
            413,
            f"the request body is larger than {limit_bytes // MIB} MiB ({setting}); "
            "send less at a time",
        )


class BodySizeLimit:
    """Refuse a request body over the limit with ``413``: at once when its Content-Length says
    so, and as soon as the limit is passed when it comes in chunks without one."""

    def __init__(
        self,
        app: ASGIApp,
        limit_bytes: int,
        setting: str,
        larger: dict[str, tuple[int, str]] | None = None,
    ) -> None:
        self.app = app
        self.limit = (limit_bytes, setting)
        #: Paths with their own, larger limit (uploads).
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.larger.get(scope["path"], self.limit)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(BodyTooLarge(limit, setting))(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge as error:  # read where no exception handler answers it
            if started:
                raise
            await _too_large(error)(scope, receive, send)


def _too_large(error: BodyTooLarge) -> JSONResponse:
    # The connection stays open: uvicorn reads the rest of the body and drops it, so a client
    # that sends the whole body before it reads gets this answer instead of a reset.
    return JSONResponse({"detail": error.detail}, status_code=413)


#: A JSON escape of a UTF-16 surrogate, or UTF-8 bytes encoding one (which Python's JSON
#: decoder also lets through): the only ways a request's text can hold a lone surrogate.
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\xed[\xa0-\xbf]")
_LONE = re.compile("[\ud800-\udfff]")
LONE_SURROGATE = (
    "text holds a lone UTF-16 surrogate (such as \\ud800), which is not a character and "
    "cannot be stored; send valid Unicode (a surrogate only as half of a pair)"
)


def _lone_surrogate(value: Any, loc: list[str | int]) -> list[str | int] | None:
    """Where in a decoded JSON document a text (or a name) holds a lone surrogate."""
    if isinstance(value, str):
        return loc if _LONE.search(value) else None
    if isinstance(value, dict):
        for name, item in value.items():
            if _LONE.search(name):
                return [*loc, name.encode("utf-8", "backslashreplace").decode()]
            found = _lone_surrogate(item, [*loc, name])
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _lone_surrogate(item, [*loc, index])
            if found is not None:
                return found
    return None


def _is_json(scope: Scope) -> bool:
    """FastAPI reads a body as JSON when it says so, or says nothing."""
    content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip()
    return content_type in (b"", b"application/json") or content_type.endswith(b"+json")


class RefuseLoneSurrogates:
    """Refuse with ``422`` a JSON body whose text holds a lone UTF-16 surrogate (``\\ud800``):
    JSON allows the escape, Python decodes it into a string, but it is not Unicode text and
    PostgreSQL cannot store it. Checked here once for every route and every field; the body
    is searched for the escape first, so most bodies are not decoded twice."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("POST", "PUT", "PATCH")
            or not _is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _SURROGATE.search(body):
            try:
                where = _lone_surrogate(json.loads(body), ["body"])
            except (ValueError, RecursionError):
                where = None  # not JSON, or nested past reading: FastAPI answers that
            if where is not None:
                detail = [{"loc": where, "msg": LONE_SURROGATE, "type": "value_error"}]
                await JSONResponse({"detail": detail}, status_code=422)(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class SecurityHeaders:
    """Security headers on every answer. HTML pages get a Content-Security-Policy that allows
    the service's own scripts and exactly the inline scripts of the page (by SHA-256), so an
    injected script does not run; everything else gets a policy that allows nothing."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hsts: bool,
        image_sources: list[str],
    ) -> None:
        self.app = app
        self.hsts = hsts
        self.image_sources = image_sources

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        body: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
                if "content-security-policy" in headers:
                    await send(message)
                elif headers.get("content-type", "").startswith("text/html"):
                    held = message  # the policy names the page's inline scripts: read it first
                else:
                    headers["Content-Security-Policy"] = API_POLICY
                    await send(message)
                return
            if held is not None and message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                page = b"".join(body)
                policy = self.page_policy(page)
                MutableHeaders(scope=held)["Content-Security-Policy"] = policy
                await send(held)
                held = None
                await send({"type": "http.response.body", "body": page})
                return
            await send(message)

        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception:
            # Starlette answers an unhandled failure outside every middleware, so its 500
            # would go out bare: answer it here, with the headers, and let the server log it.
            if not started:
                await unexpected()(scope, receive, watched_send)
            raise

    def page_policy(self, page: bytes) -> str:
        hashes = sorted(
            {
                "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
                for script in _INLINE_SCRIPT.findall(page)
            }
        )
        sources: dict[str, list[str]] = {
            "default-src": ["'self'"],
            "script-src": ["'self'", *hashes],
            # Leaflet and Folium style elements inline; styles cannot run code.
            "style-src": ["'self'", "'unsafe-inline'"],
            "img-src": ["'self'", "data:", "blob:", *self.image_sources],
            "font-src": ["'self'", "data:"],
            "connect-src": ["'self'"],
            "worker-src": ["'self'"],
            "object-src": ["'none'"],
            "base-uri": ["'none'"],
            "form-action": ["'self'"],
            "frame-ancestors": ["'none'"],
        }
        return "; ".join(f"{name} {' '.join(values)}" for name, values in sources.items())


def unexpected() -> JSONResponse:
    """The answer to a failure nobody foresaw: nothing of the failure itself is told."""
    return JSONResponse(
        {
            "detail": "the service failed unexpectedly and the failure is logged; try again, "
            "and if it persists tell the service's administrators when it happened"
        },
        status_code=500,
    )


def tile_origin(url_template: str) -> str | None:
    """The origin an XYZ tile URL template loads images from (``{s}`` subdomains as ``*``)."""
    if not url_template:
        return None
    parts = urlsplit(url_template)
    if not parts.scheme or not parts.netloc:
        return None
    first, _, rest = parts.netloc.partition(".")
    if "{" in rest:
        return f"{parts.scheme}:"  # a placeholder CSP cannot express: the scheme alone
    return f"{parts.scheme}://{'*' if '{' in first else first}{'.' if rest else ''}{rest}"


def install(app: FastAPI, settings: Settings) -> None:
    """The middleware, innermost first: lone surrogates, body limit (over the former, so it
    bounds what is read), CORS, security headers (so a refused body or a CORS answer carries
    the headers too)."""
    app.add_middleware(RefuseLoneSurrogates)
    app.add_middleware(
        BodySizeLimit,
        limit_bytes=settings.max_body_mb * MIB,
        setting="CIVOP_MAX_BODY_MB",
        larger={
            "/api/imports": (
                settings.import_max_upload_mb * MIB + UPLOAD_FRAMING,
                "CIVOP_IMPORT_MAX_UPLOAD_MB",
            )
        },
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "X-API-Key",
                "Content-Type",
                "If-None-Match",
                "Last-Event-ID",
            ],
            expose_headers=["ETag", "Location", "Retry-After", "Content-Disposition"],
            max_age=600,
        )
    basemap = tile_origin(settings.basemap_url)
    app.add_middleware(
        SecurityHeaders,
        hsts=settings.behind_tls,
        image_sources=[basemap] if basemap else [],
    )
