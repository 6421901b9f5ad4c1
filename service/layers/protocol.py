"""HTTP as OGC API clients use it: ``HEAD`` on every read, byte ranges on tiles (GDAL reads a
remote file with ``HEAD`` and ``Range`` requests), and unknown query parameters refused with
``400`` (OGC API - Features Part 1, /req/core/query-param-unknown)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import InvalidInput, shown
from service.i18n import _

_OGC_READ = re.compile(r"^/(collections|conformance|tileMatrixSets)?(/|$)")
_TILE = re.compile(r"^/collections/[^/]+/tiles/[^/]+/\d+/\d+/\d+(\.pbf)?$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
#: Accepted on every OGC read: the output format (only JSON/GeoJSON/MVT are served).
ALWAYS_KNOWN = frozenset({"f"})

_known: dict[int, frozenset[str]] = {}


async def known_parameters(request: Request) -> None:
    """Refuse a query parameter the resource does not define: a typo (``bbbox``) or a filter
    it does not support would otherwise be silently ignored and return everything."""
    if request.method not in ("GET", "HEAD"):
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _known.get(id(route))
    if known is None:
        known = frozenset(_query_names(dependant)) | ALWAYS_KNOWN
        _known[id(route)] = known
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        takes = ", ".join(sorted(known)) or _("no parameters")
        raise InvalidInput(
            ["query", shown(unknown[0])],
            _(
                "unknown query parameter {name!r}; this resource takes: {takes}",
                name=shown(unknown[0]),
                takes=takes,
            ),
        )


def _query_names(dependant: Dependant) -> list[str]:
    names = [field.alias for field in dependant.query_params]
    for sub in dependant.dependencies:
        names.extend(_query_names(sub))
    return names


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``bytes=`` range within ``size``; ``None`` if it is not
    one this answers (several ranges, or none satisfiable)."""
    match = _RANGE.match(header.strip())
    if match is None or match.group(0) == "bytes=-":
        return None
    first_text, last_text = match.groups()
    if first_text == "":  # the last N bytes
        length = int(last_text)
        if length == 0:
            return None
        return max(0, size - length), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or last < first:
        return None
    return first, last


class OgcHttp:
    """``HEAD`` answered as ``GET`` without the body on OGC reads; ``Range`` on tiles."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _OGC_READ.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        tile = bool(_TILE.match(scope["path"]))
        wanted = Headers(scope=scope).get("range") if tile else None
        if not head and not tile:
            await self.app(scope, receive, send)
            return
        if tile and not head and not wanted:
            # The whole tile: passed on as it is sent, saying ranges may be asked for.
            async def accept_ranges(message: Message) -> None:
                if message["type"] == "http.response.start" and message.get("status") == 200:
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), (b"accept-ranges", b"bytes")],
                    }
                await send(message)

            await self.app(scope, receive, accept_ranges)
            return
        inner: Scope = {**scope, "method": "GET"} if head else scope
        start: dict[str, Any] = {}
        body = bytearray()

        async def collect(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(inner, receive, collect)
        headers = MutableHeaders(raw=list(start.get("headers", [])))
        status = int(start.get("status", 500))
        content = bytes(body)
        if tile and status == 200:
            headers["Accept-Ranges"] = "bytes"
            if wanted:
                found = _byte_range(wanted, len(content))
                if found is None:
                    status, content = 416, b""
                    headers["Content-Range"] = f"bytes */{len(body)}"
                else:
                    first, last = found
                    status, content = 206, content[first : last + 1]
                    headers["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
        headers["Content-Length"] = str(len(content))
        await send({"type": "http.response.start", "status": status, "headers": headers.raw})
        await send({"type": "http.response.body", "body": b"" if head else content})
