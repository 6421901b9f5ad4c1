"""Domain exceptions and the one table that maps them, and database failures, to HTTP."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.i18n import N_, _

log = logging.getLogger("civop")

#: Refused input is echoed back at most this long (a 10 MB string is not sent back).
ECHO_CHARS = 100


def shown(value: str) -> str:
    """A user's text as an error message quotes it: at most :data:`ECHO_CHARS` characters,
    with an ellipsis when cut."""
    return value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS] + "\u2026"


#: The longest message of an :class:`InvalidInput`: room for what to do and a quoted value,
#: never a request's worth of echoed input.
MESSAGE_CHARS = 600


#: A 422 lists at most this many problems, then says how many more there were.
MAX_ERRORS = 50


def _echo(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error with its ``input`` cut to a short prefix, marked
    ``input_truncated``; text is quoted as it is, other values as JSON. The message, the
    context and the field names quote the request too (a 200,000-character tag, a
    property name of a megabyte): they are cut alike."""
    error = {
        **error,
        "loc": [shown(part) if isinstance(part, str) else part for part in error.get("loc", ())],
    }
    if isinstance(error.get("msg"), str):
        error["msg"] = _cut(error["msg"], MESSAGE_CHARS)
    if isinstance(error.get("ctx"), dict):
        error["ctx"] = {
            key: shown(value) if isinstance(value, str) else value
            for key, value in error["ctx"].items()
        }
    if "input" not in error:
        return error
    value = error["input"]
    text = value if isinstance(value, str) else json.dumps(jsonable_encoder(value), default=str)
    if len(text) <= ECHO_CHARS:
        return error
    return {**error, "input": text[:ECHO_CHARS], "input_truncated": True}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "\u2026"


def bounded_errors(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The problems a 422 lists: each cut to a short echo, at most :data:`MAX_ERRORS` of them
    and then one saying how many more there were."""
    listed = [_echo(dict(e)) for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        listed.append(
            {
                "loc": list(errors[MAX_ERRORS].get("loc", ()))[:1],
                "msg": _(
                    "and {more} more problems of the same request, not listed; correct "
                    "those above and send it again",
                    more=more,
                ),
                "type": "too_many_errors",
            }
        )
    return listed


class CivopError(Exception):
    """A refusal the user can act on: ``message`` is for people, in their language (written
    with ``_()`` where it is raised); ``code`` (the class's name in snake case, e.g.
    ``not_found``) is for programs and stays the same in every language."""

    status_code = 400

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class NotFound(CivopError):
    status_code = 404


class Unauthorized(CivopError):
    status_code = 401

    def __init__(self, message: str | None = None, *, basic: bool = False) -> None:
        message = message or _("credentials missing or not valid")
        # Basic is offered only to a request that did not come with a token: a browser
        # page whose token expired must not get the browser's own login dialog.
        challenge = 'Bearer, Basic realm="civop", charset="UTF-8"' if basic else "Bearer"
        super().__init__(message, {"WWW-Authenticate": challenge})


class Forbidden(CivopError):
    status_code = 403


class Conflict(CivopError):
    status_code = 409


class TooManyRequests(CivopError):
    status_code = 429


class DatabaseUnavailable(CivopError):
    status_code = 503


class InvalidInput(CivopError):
    """422 in FastAPI's own shape, naming the field: ``loc`` is its path in the request."""

    status_code = 422

    def __init__(self, loc: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.loc = list(loc)

    def detail(self) -> list[dict[str, Any]]:
        return [{"loc": self.loc, "msg": self.message, "type": "value_error"}]


def error_code(error: CivopError) -> str:
    """The stable, English code of a refusal: ``NotFound`` -> ``not_found``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


def _is_connection_problem(error: BaseException) -> bool:
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout | OSError | TimeoutError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        cause = getattr(error.orig, "__cause__", None)
        name = type(cause).__name__ if cause is not None else ""
        return name in {
            "CannotConnectNowError",
            "ConnectionDoesNotExistError",
            "AdminShutdownError",
            "ConnectionFailureError",
            "TooManyConnectionsError",
            "QueryCanceledError",
        }
    return False


#: SQLSTATEs of values in a request that PostgreSQL refuses, and what to tell the user.
_REFUSED_VALUES = {
    "22021": N_("text may not contain NUL (\\u0000) characters"),
    "22P05": N_("text may not contain NUL (\\u0000) characters"),
    "22003": N_("a number is too large"),
    "22008": N_("a date or time is out of range"),
}
#: Classes of SQLSTATE of a value refused for what it is: data exceptions (22).
_DATA_EXCEPTION = "22"
#: Classes of SQLSTATE of a database that is away: connection exceptions, operator
#: intervention (shutdown, restart), insufficient resources.
_OUTAGES = {"08", "57", "53"}


def _sqlstate(error: DBAPIError) -> str:
    return getattr(getattr(error.orig, "__cause__", None), "sqlstate", "") or ""


def is_statement_timeout(error: DBAPIError) -> bool:
    """PostgreSQL cancelled the query because it ran past ``statement_timeout``."""
    cause = getattr(error.orig, "__cause__", None)
    return _sqlstate(error) == "57014" and "statement timeout" in str(cause)


def constraint_of(error: IntegrityError) -> tuple[str, str]:
    """(constraint name, SQLSTATE) of a database integrity error."""
    cause = getattr(error.orig, "__cause__", None)
    return getattr(cause, "constraint_name", "") or "", getattr(cause, "sqlstate", "") or ""


def _refused_value(error: DBAPIError) -> str | None:
    """What to tell the user when the database refused a value of the request (a number or
    instant beyond its column, text it cannot store), or None for other failures. The
    schemas bound what they can; this is the last line, for what they do not foresee."""
    sqlstate = _sqlstate(error)
    if sqlstate in _REFUSED_VALUES:
        return _(_REFUSED_VALUES[sqlstate])
    if sqlstate.startswith(_DATA_EXCEPTION):
        return _(
            "a value cannot be stored: {reason}", reason=shown(str(error.orig).splitlines()[0])
        )
    cause = getattr(error.orig, "__cause__", None)
    # asyncpg refuses a value it cannot send in the column's type before the query runs
    # (e.g. "value out of int16 range"); it says which one, by position.
    if type(cause).__name__ == "DataError" and "invalid input for query argument" in str(cause):
        return _(
            "a value is out of range for its field: {reason}",
            reason=shown(str(cause).splitlines()[0]),
        )
    return None


def _where(request: Request) -> list[str | int]:
    return ["query"] if request.method in ("GET", "HEAD") else ["body"]


#: Reads of OGC API - Features and Tiles: refused input answers ``400`` there, as OGC API
#: requires; the rest of the API keeps FastAPI's ``422``.
_OGC_READ = ("/collections", "/conformance", "/tileMatrixSets")
#: Path parameters that name a resource: a value that cannot be one names nothing (``404``).
_NAMES = {
    "record_id": N_("no such feature"),
    "z": N_("no such tile"),
    "x": N_("no such tile"),
    "y": N_("no such tile"),
}


def ogc_read(request: Request) -> bool:
    """A read of an OGC API resource (landing page, conformance, collections, items, tiles)."""
    path = request.url.path
    return request.method in ("GET", "HEAD") and (path == "/" or path.startswith(_OGC_READ))


def _invalid_status(request: Request, errors: Sequence[dict[str, Any]]) -> tuple[int, str | None]:
    if not ogc_read(request):
        return 422, None
    for error in errors:
        loc = list(error.get("loc", ()))
        if len(loc) == 2 and loc[0] == "path" and loc[1] in _NAMES:
            return 404, _(_NAMES[str(loc[1])])
    return 400, None


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = bounded_errors(error.errors())
        status, missing = _invalid_status(request, errors)
        if missing is not None:
            return JSONResponse({"detail": missing}, status_code=status)
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=status)

    @app.exception_handler(CivopError)
    async def _civop(request: Request, error: CivopError) -> JSONResponse:
        if isinstance(error, InvalidInput):
            detail = error.detail()
            for item in detail:
                if len(item["msg"]) > MESSAGE_CHARS:
                    item["msg"] = item["msg"][:MESSAGE_CHARS] + "\u2026"
            status, missing = _invalid_status(request, detail)
            if missing is not None:
                return JSONResponse({"detail": missing}, status_code=status)
            return JSONResponse({"detail": detail}, status_code=status)
        return JSONResponse(
            {"detail": error.message, "code": error_code(error)},
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, error: DBAPIError) -> JSONResponse:
        refused = _refused_value(error)
        if refused is not None:  # a value the database cannot take, from the request
            return JSONResponse({"detail": InvalidInput(_where(request), refused).detail()}, 422)
        if is_statement_timeout(error):
            return _timed_out()
        if _is_connection_problem(error):
            log.warning("database unavailable: %s", type(error.orig).__name__)
            return _unavailable()
        raise error

    @app.exception_handler(asyncpg.PostgresError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.InternalClientError)
    async def _driver(request: Request, error: Exception) -> JSONResponse:
        # Rows read through a server-side cursor (exports) come from the driver directly:
        # its failures are not wrapped as DBAPIError, so they are told apart here.
        sqlstate = getattr(error, "sqlstate", "") or ""
        if sqlstate == "57014" and "statement timeout" in str(error):
            return _timed_out()
        if sqlstate.startswith(_DATA_EXCEPTION):
            refused = _(
                "a value cannot be stored: {reason}", reason=shown(str(error).splitlines()[0])
            )
            return JSONResponse({"detail": InvalidInput(_where(request), refused).detail()}, 422)
        # A connection the database dropped mid-statement (a restart) can leave the driver in
        # a state it refuses to go on from (InternalClientError): the database is away too.
        lost = isinstance(error, asyncpg.InterfaceError | asyncpg.InternalClientError)
        if lost or sqlstate[:2] in _OUTAGES:
            log.warning("database unavailable: %s", type(error).__name__)
            return _unavailable()
        raise error

    for kind in (PoolTimeout, ConnectionError, TimeoutError):

        @app.exception_handler(kind)
        async def _unreachable(_: Request, error: Exception) -> JSONResponse:
            log.warning("database unreachable: %s", type(error).__name__)
            return _unavailable()


def _timed_out() -> JSONResponse:
    log.warning("query cancelled: it ran past the statement timeout")
    return JSONResponse(
        {
            "detail": _(
                "the query took longer than the limit "
                "(CIVOP_DB_STATEMENT_TIMEOUT_MS) and was stopped; ask for less: a smaller "
                "area, a shorter period or fewer records"
            ),
            "code": "statement_timeout",
        },
        status_code=504,
    )


def _unavailable() -> JSONResponse:
    return JSONResponse(
        {
            "detail": _("the database is unavailable; retry in a few seconds"),
            "code": "database_unavailable",
        },
        status_code=503,
        headers={"Retry-After": "5"},
    )
