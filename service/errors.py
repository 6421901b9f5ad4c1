"""Domain exceptions and the one table that maps them, and database failures, to HTTP."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger("civop")


class CivopError(Exception):
    status_code = 400

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class NotFound(CivopError):
    status_code = 404


class Unauthorized(CivopError):
    status_code = 401

    def __init__(self, message: str = "credentials missing or not valid") -> None:
        super().__init__(message, {"WWW-Authenticate": "Bearer"})


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
    "22021": "text may not contain NUL (\\u0000) characters",
    "22P05": "text may not contain NUL (\\u0000) characters",
    "22003": "a number is too large",
}


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


def install(app: FastAPI) -> None:
    @app.exception_handler(CivopError)
    async def _civop(_: Request, error: CivopError) -> JSONResponse:
        if isinstance(error, InvalidInput):
            return JSONResponse({"detail": error.detail()}, status_code=422)
        return JSONResponse(
            {"detail": error.message}, status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, error: DBAPIError) -> JSONResponse:
        refused = _REFUSED_VALUES.get(_sqlstate(error))
        if refused is not None:  # a value PostgreSQL cannot store, from the request
            return JSONResponse({"detail": InvalidInput(["request"], refused).detail()}, 422)
        if is_statement_timeout(error):
            log.warning("query cancelled: it ran past the statement timeout")
            return JSONResponse(
                {
                    "detail": "the query took longer than the limit "
                    "(CIVOP_DB_STATEMENT_TIMEOUT_MS) and was stopped; ask for less: a smaller "
                    "area, a shorter period or fewer records"
                },
                status_code=504,
            )
        if _is_connection_problem(error):
            log.warning("database unavailable: %s", type(error.orig).__name__)
            return _unavailable()
        raise error

    for kind in (PoolTimeout, ConnectionError, TimeoutError):

        @app.exception_handler(kind)
        async def _unreachable(_: Request, error: Exception) -> JSONResponse:
            log.warning("database unreachable: %s", type(error).__name__)
            return _unavailable()


def _unavailable() -> JSONResponse:
    return JSONResponse(
        {"detail": "the database is unavailable; retry in a few seconds"},
        status_code=503,
        headers={"Retry-After": "5"},
    )
