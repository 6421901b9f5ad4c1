"""The language of each request: the user's own choice (set when the principal is known, see
``service/auth/deps.py``), else ``lang=`` in the query, else the browser's ``Accept-Language``,
else English. Set in :data:`service.i18n.LANGUAGE` for everything the request renders; the
answer says which language it is in (``Content-Language``) and that it varies with the
browser's (``Vary: Accept-Language``)."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import InvalidInput
from service.i18n import LANGUAGE, _, choose, from_accept_language, languages, supported


def request_language(scope: Scope) -> str:
    """``lang=`` of the query, else the best of ``Accept-Language``, else English."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    asked = (query.get("lang") or [None])[0]
    return choose(asked, from_accept_language(Headers(scope=scope).get("accept-language")))


def asked_language(lang: str | None, default: str) -> str:
    """The language a ``lang=`` parameter asks for (a report's, an export's), ``default``
    without one; one civop does not speak is refused."""
    if lang is None:
        return default
    code = supported(lang)
    if code is None:
        raise InvalidInput(
            ["query", "lang"],
            _(
                "civop does not speak {language!r}; choose one of: {languages}",
                language=lang,
                languages=", ".join(languages()),
            ),
        )
    return code


#: Media types whose words depend on the language.
WORDED = (
    "text/html",
    "application/json",
    "application/geo+json",
    "application/problem+json",
    "application/cap+xml",
    "application/atom+xml",
    "application/pdf",
    "text/csv",
)


class RequestLanguage:
    """Pure ASGI middleware: sets ``LANGUAGE`` for the request, names it on the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = LANGUAGE.set(request_language(scope))

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # Texts people read; tiles, images, scripts and styles are the same in every
                # language and stay cacheable as one.
                if headers.get("content-type", "").startswith(WORDED):
                    headers.setdefault("Content-Language", LANGUAGE.get())
                    headers.add_vary_header("Accept-Language")
            await send(message)

        try:
            await self.app(scope, receive, named)
        finally:
            LANGUAGE.reset(token)
