"""The live picture as server-sent events: new and changed features and alerts, each filtered
for the subscriber through the access rules at the moment it is sent.

Every change writes a row to ``events`` (bigserial id) in its own transaction, and PostgreSQL
announces it on commit. The stream replays ``id > Last-Event-ID`` and then follows. Ids are
handed out before commit, so a later id can become visible before an earlier one: the stream
waits (up to ``GAP_WAIT_S``) for a missing id before it passes it, so a reconnecting client
resumes without gaps; an id that never appears (a rolled-back transaction) is passed after
the wait.

The log is pruned after ``events_retention_hours`` (``service.alerts.scheduled``): a client
resuming from an id that was pruned cannot be given what it missed, so it gets a ``reset``
event (reload everything) and the stream goes on from the newest event.

The log's ids count every change, those the subscriber may not see included: a client given
them would learn how many hidden records were written, and when, from the gaps between ids or
by reconnecting. So the stream sends each position as an opaque token (``event_token``), new
at every message, which only this service can read back (``cursor_of``); keep-alives are sent
on their own schedule, whatever happens out of the subscriber's sight.

Texts people read (an alert's title and description) are in the subscriber's language: the
one kept with their account (``users.language``), English when they chose none. The stream
lasts longer than the request that opened it, so it does not follow the request's ``lang=``
or ``Accept-Language``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import and_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.access.policy import Principal
from service.access.sql import row_filter
from service.alerts.service import get_alert
from service.changes import ChangeListener
from service.collections.registry import COLLECTIONS
from service.config import get_settings
from service.core.records import get_feature
from service.errors import NotFound
from service.i18n import choose, in_language

#: Bytes of an event token: a random nonce, the position masked with a pad drawn from it, a tag.
_NONCE, _POSITION, _TAG = 8, 8, 12


def _token_key() -> bytes:
    return hmac.new(get_settings().signing_key().encode(), b"civop stream ids", "sha256").digest()


def event_token(cursor: int) -> str:
    """A position in the event log as a client is given it: different every time it is sent,
    meaningless without the service's key, and not to be altered."""
    key = _token_key()
    nonce = secrets.token_bytes(_NONCE)
    pad = hmac.new(key, b"pad" + nonce, "sha256").digest()[:_POSITION]
    body = (cursor ^ int.from_bytes(pad, "big")).to_bytes(_POSITION, "big")
    tag = hmac.new(key, b"tag" + nonce + body, "sha256").digest()[:_TAG]
    return base64.urlsafe_b64encode(nonce + body + tag).decode().rstrip("=")


def cursor_of(token: str) -> int | None:
    """The position an ``event_token`` stands for; None when it is not one of this service's."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error):
        return None
    if len(raw) != _NONCE + _POSITION + _TAG:
        return None
    nonce, body, tag = raw[:_NONCE], raw[_NONCE : _NONCE + _POSITION], raw[_NONCE + _POSITION :]
    key = _token_key()
    expected = hmac.new(key, b"tag" + nonce + body, "sha256").digest()[:_TAG]
    if not hmac.compare_digest(tag, expected):
        return None
    pad = hmac.new(key, b"pad" + nonce, "sha256").digest()[:_POSITION]
    return int.from_bytes(body, "big") ^ int.from_bytes(pad, "big")


GAP_WAIT_S = 2.0
KEEPALIVE_S = 15.0
BATCH = 200
STREAMS = (*COLLECTIONS, "alerts", "jobs")


class LiveEvents:
    """Wakes every open stream when an event may have been committed."""

    def __init__(self, listener: ChangeListener) -> None:
        self.waiters: set[asyncio.Event] = set()
        listener.subscribe(self._changed)

    def _changed(self, table: str | None) -> None:
        for waiter in self.waiters:
            waiter.set()

    def waiter(self) -> asyncio.Event:
        event = asyncio.Event()
        self.waiters.add(event)
        return event

    def forget(self, event: asyncio.Event) -> None:
        self.waiters.discard(event)


async def _was_visible(
    session: AsyncSession, collection: str, record_id: uuid.UUID, principal: Principal
) -> bool:
    """Whether the principal saw a record that is now deleted (every rule but deletion)."""
    table = COLLECTIONS[collection].table
    clauses = [c for c in row_filter(table, principal).clauses if "deleted_at" not in str(c)]
    found = await session.scalar(select(table.c.id).where(table.c.id == record_id, and_(*clauses)))
    return found is not None


def subscriber_language(principal: Principal) -> str:
    """The language a subscriber reads the stream in: their own choice, else English."""
    return choose(principal.language)


async def render(session: AsyncSession, principal: Principal, row: Any) -> tuple[str, str] | None:
    """(event name, data) of one event as ``principal`` may see it, in their language, or
    None."""
    with in_language(subscriber_language(principal)):
        return await _render(session, principal, row)


async def _render(session: AsyncSession, principal: Principal, row: Any) -> tuple[str, str] | None:
    if row.action == "reload":
        return "reload", json.dumps({"collection": row.collection})
    if row.collection == "jobs":
        # A job's progress is its owner's only (not even an admin's).
        from service.jobs.service import job_event

        shown = await job_event(session, principal, row.record_id)
        return None if shown is None else ("job", shown)
    if row.collection == "alerts":
        try:
            alert = await get_alert(session, principal, row.record_id)
        except NotFound:
            return None
        return "alert", f'{{"action":"{row.action}","alert":{alert}}}'
    collection = COLLECTIONS.get(row.collection)
    if collection is None:
        return None
    head = f'{{"collection":"{row.collection}","action":"{row.action}","id":"{row.record_id}"'
    if row.action == "deleted":
        if not await _was_visible(session, row.collection, row.record_id, principal):
            return None
        return "feature", head + "}"
    try:
        feature = await get_feature(session, collection, principal, row.record_id)
    except NotFound:
        return None
    return "feature", head + f',"feature":{feature}}}'


async def latest_id(session: AsyncSession) -> int:
    return int(await session.scalar(text("SELECT coalesce(max(id), 0) FROM events")) or 0)


async def pruned_through(session: AsyncSession) -> int:
    """Every event up to this id has been pruned from the log."""
    found = await session.scalar(text("SELECT events_pruned_through FROM alert_schedule_state"))
    return int(found or 0)


async def stream(
    sessionmaker: async_sessionmaker[AsyncSession],
    live: LiveEvents,
    principal: Principal,
    last_event_id: str | None,
    collections: set[str],
    is_disconnected: Any,
) -> AsyncIterator[str]:
    """The text/event-stream body, resuming after the position ``last_event_id`` (a token)."""
    waiter = live.waiter()
    try:
        async with sessionmaker() as session:
            latest = await latest_id(session)
            pruned = await pruned_through(session)
            await session.commit()
        resumed = None if last_event_id is None else cursor_of(last_event_id)
        reason = None
        if last_event_id is not None and resumed is None:
            reason = "unknown-event-id"  # not one of ours (or from before a change of key)
        elif resumed is not None and resumed < pruned:
            reason = "events-pruned"
        cursor = resumed if resumed is not None and reason is None else latest
        yield f"retry: 1000\nid: {event_token(cursor)}\n: connected\n\n"
        if reason is not None:
            reset = json.dumps({"reason": reason})
            yield f"id: {event_token(cursor)}\nevent: reset\ndata: {reset}\n\n"
        gap_since: float | None = None
        last_sent = time.monotonic()
        while True:
            waiter.clear()
            async with sessionmaker() as session:
                rows = (
                    await session.execute(
                        text(
                            "SELECT id, collection, record_id, action FROM events "
                            "WHERE id > :cursor ORDER BY id LIMIT :n"
                        ),
                        {"cursor": cursor, "n": BATCH},
                    )
                ).all()
                out: list[str] = []
                for row in rows:
                    if row.id != cursor + 1:
                        gap_since = gap_since or time.monotonic()
                        if time.monotonic() - gap_since < GAP_WAIT_S:
                            break
                    gap_since = None
                    cursor = int(row.id)
                    if row.collection not in collections:
                        continue
                    shown = await render(session, principal, row)
                    if shown is not None:
                        out.append(
                            f"id: {event_token(cursor)}\nevent: {shown[0]}\ndata: {shown[1]}\n\n"
                        )
                await session.commit()
            for chunk in out:
                yield chunk
            if out:
                last_sent = time.monotonic()
            if len(rows) == BATCH and gap_since is None:
                continue
            if await is_disconnected():
                return
            if time.monotonic() - last_sent >= KEEPALIVE_S:
                # Moves the client's last id past events it may not see. Sent on its own
                # schedule, also while changes the subscriber may not see keep the loop awake.
                yield f"id: {event_token(cursor)}\n: keepalive\n\n"
                last_sent = time.monotonic()
            timeout = 0.2 if gap_since is not None else 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), timeout)
    finally:
        live.forget(waiter)
