"""Safe retries of writes: the ``Idempotency-Key`` request header (IETF draft "The
Idempotency-Key HTTP Header Field").

A POST that carries a key runs in one database transaction that also records the key, the
request's fingerprint and the answer, committed just before the answer is sent: a write that
committed always has its key, and a retry (the answer was lost, the client timed out) gets the
first answer again, from the same principal, without writing again. The same key with another
request is refused (422); a request whose key is still in use by another one in flight is
refused (409, retry shortly), never run twice.

Routes opt in by their router's ``route_class`` (:class:`IdempotentRoute`): every POST of such
a router accepts the header and documents it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import DateTime, LargeBinary, SmallInteger, Text, delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from service.auth.deps import PrincipalDep
from service.base import Base
from service.config import get_settings
from service.db import OUTER_TRANSACTION, SessionDep
from service.errors import Conflict, InvalidInput, log
from service.i18n import _

HEADER = "Idempotency-Key"
#: Longest key accepted (a UUID is 36 characters).
KEY_MAX_LENGTH = 255
_KEY = re.compile(r"[\x20-\x7e]{1,255}")
#: Headers of an answer that are replayed with it.
KEPT_HEADERS = ("content-type", "location", "content-disposition", "etag")
#: Expired keys removed by each write that records one.
EXPIRED_PER_WRITE = 100
#: Marks a replayed answer.
REPLAYED = "Idempotent-Replayed"


class IdempotencyKey(Base):
    """A key a principal sent with a write, what the request was and what it was answered."""

    __tablename__ = "idempotency_keys"

    principal: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    #: SHA-256 of the method, path, query, content type and body.
    fingerprint: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(SmallInteger)
    headers: Mapped[list[list[str]]] = mapped_column(JSONB)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Replay(Exception):
    """The request was answered before: send that answer again."""

    def __init__(self, stored: IdempotencyKey) -> None:
        super().__init__("replay")
        self.stored = stored


@dataclass
class Pending:
    """A new key: recorded with the answer, in the write's transaction."""

    session: AsyncSession
    principal: str
    key: str
    fingerprint: str
    method: str
    path: str


def _key_of(header: str) -> str:
    """The key as sent: the draft's structured-field string (``"..."``), or bare."""
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not _KEY.fullmatch(value):
        raise InvalidInput(
            ["header", HEADER],
            _(
                "{HEADER} must be 1 to {KEY_MAX_LENGTH} printable ASCII characters; send a new random value (a UUID) for each new request",
                HEADER=HEADER,
                KEY_MAX_LENGTH=KEY_MAX_LENGTH,
            ),
        )
    return value


#: Form fields (and files) read to fingerprint a form: the import form's, with room.
FORM_MAX_FIELDS = 50


async def _fingerprint(request: Request) -> str:
    """What makes two requests the same: method, path, query and body. A form is taken by
    its fields and files, as a client sends it again with another multipart boundary."""
    digest = hashlib.sha256()
    content_type = request.headers.get("content-type", "")
    form = content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded"))
    for part in (request.method, request.url.path, request.url.query, "" if form else content_type):
        digest.update(part.encode() + b"\0")
    if not form:
        digest.update(await request.body())
        return digest.hexdigest()
    fields = await request.form(max_files=1, max_fields=FORM_MAX_FIELDS)
    for name, value in fields.multi_items():
        digest.update(name.encode() + b"\0")
        if isinstance(value, str):
            digest.update(b"text\0" + value.encode() + b"\0")
            continue
        digest.update(b"file\0" + (value.filename or "").encode() + b"\0")
        while chunk := await value.read(1024 * 1024):
            digest.update(chunk)
        await value.seek(0)
        digest.update(b"\0")
    return digest.hexdigest()


def _lock_id(principal: str, key: str) -> Any:
    return func.hashtextextended(principal + "\n" + key, 0)


async def check_key(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            max_length=KEY_MAX_LENGTH + 2,
            pattern=r"^[\x20-\x7e]+$",
            description="A new random value (a UUID) per request: a retry with the same key "
            "and body gets the first answer without writing again (kept "
            "CIVOP_IDEMPOTENCY_KEY_HOURS, default 24 h).",
        ),
    ] = None,
) -> None:
    """Replay the answer to a key seen before, refuse a key reused for another request or in
    use by one in flight; otherwise hold the key until this request's write commits."""
    if idempotency_key is None:
        return
    key = _key_of(idempotency_key)
    fingerprint = await _fingerprint(request)
    # Held until the transaction ends, which commits the key with the write: a second request
    # with the key cannot run alongside and write twice.
    locked = await session.scalar(
        select(func.pg_try_advisory_xact_lock(_lock_id(principal.username, key)))
    )
    if not locked:
        raise Conflict(
            _(
                "a request with this {HEADER} is still being processed; retry in a moment",
                HEADER=HEADER,
            ),
            headers={"Retry-After": "1"},
        )
    stored = await session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.principal == principal.username,
            IdempotencyKey.key == key,
            IdempotencyKey.expires_at > func.now(),
        )
    )
    # Commit the savepoint the lock was taken in: the lock passes to the request's transaction.
    await session.commit()
    if stored is not None:
        if stored.fingerprint != fingerprint:
            raise InvalidInput(
                ["header", HEADER],
                _(
                    "this {HEADER} was already used for a different request ({method} {path} with another body); use a new key for a new request",
                    HEADER=HEADER,
                    method=stored.method,
                    path=stored.path,
                ),
            )
        raise Replay(stored)
    request.state.idempotency = Pending(
        session, principal.username, key, fingerprint, request.method, request.url.path
    )


async def _record(pending: Pending, response: Response) -> None:
    """The key and the answer, in the write's transaction."""
    hours = get_settings().idempotency_key_hours
    body = bytes(getattr(response, "body", b"") or b"")
    headers = [[name, value] for name, value in response.headers.items() if name in KEPT_HEADERS]
    values = {
        "principal": pending.principal,
        "key": pending.key,
        "fingerprint": pending.fingerprint,
        "method": pending.method,
        "path": pending.path,
        "status": response.status_code,
        "headers": headers,
        "body": body,
        "created_at": func.now(),
        "expires_at": func.now() + timedelta(hours=hours),
    }
    session = pending.session
    # Each write clears away a few expired keys (anyone's, oldest first, none another write
    # is clearing): the table keeps to about a day of writes without a job of its own.
    expired = (
        select(IdempotencyKey.principal, IdempotencyKey.key)
        .where(IdempotencyKey.expires_at <= func.now())
        .order_by(IdempotencyKey.expires_at)
        .limit(EXPIRED_PER_WRITE)
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        delete(IdempotencyKey).where(
            tuple_(IdempotencyKey.principal, IdempotencyKey.key).in_(expired)
        )
    )
    statement = insert(IdempotencyKey).values(values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[IdempotencyKey.principal, IdempotencyKey.key],
            set_={
                name: statement.excluded[name]
                for name in values
                if name not in ("principal", "key")
            },
        )
    )
    await session.commit()


async def _settle(request: Request, pending: Pending | None, response: Response | None) -> None:
    """Commit the request's transaction: with the key and the answer when there is one."""
    if pending is not None and response is not None:
        await _record(pending, response)
    outer = getattr(request.state, OUTER_TRANSACTION, None)
    if outer is not None and outer.is_active:
        await outer.commit()


class IdempotentRoute(APIRoute):
    """A route whose POST accepts ``Idempotency-Key``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        methods = options.get("methods") or ()
        self.idempotent = "POST" in {m.upper() for m in methods}
        if self.idempotent:
            options["dependencies"] = [*(options.get("dependencies") or []), Depends(check_key)]
        super().__init__(path, endpoint, **options)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        if not self.idempotent:
            return handle

        async def handle_with_key(request: Request) -> Response:
            try:
                response = await handle(request)
            except BaseException:
                pending = getattr(request.state, "idempotency", None)
                try:  # what the services committed stays committed, as without a key
                    if pending is not None:
                        await pending.session.rollback()
                    await _settle(request, None, None)
                except Exception as error:  # the failure itself is what the client hears
                    log.warning("idempotent request: commit after a failure: %s", error)
                raise
            await _settle(request, getattr(request.state, "idempotency", None), response)
            return response

        return handle_with_key


def install(app: FastAPI) -> None:
    @app.exception_handler(Replay)
    async def _replay(_: Request, replay: Replay) -> Response:
        stored = replay.stored
        headers = {name: value for name, value in stored.headers}
        headers[REPLAYED] = "true"
        media_type = headers.pop("content-type", None)
        return Response(
            stored.body, status_code=stored.status, headers=headers, media_type=media_type
        )
