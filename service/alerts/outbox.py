"""Webhook delivery through an outbox: a row per (alert, URL) written in the same transaction
as the alert, delivered by a background worker with retries and exponential backoff. Rows
stay until delivered, so no alert is lost when the service (or the receiver) restarts.

A delivery is the alert as a GeoJSON Feature, as a receiver of the setting
``alert_webhook_role`` sees it: its ``title`` and ``description`` in the webhook's language
(English unless an admin chose another, ``properties.language`` and ``Content-Language`` say
which), and ``properties.texts`` both in every language the mission publishes in
(``alert_languages``): ``{"en": {"title": ..., "description": ...}, "fr": {...}}``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.access.policy import Principal
from service.alerts.access import ALERTS, alert_visible
from service.alerts.service import alert_feature
from service.alerts.texts import in_languages, published
from service.config import Settings, get_settings
from service.enums import Role
from service.i18n import choose, in_language

log = logging.getLogger("civop.alerts.webhooks")


def webhook_principal(settings: Settings | None = None) -> Principal:
    """Webhook receivers see what a user of the configured role sees."""
    settings = settings or get_settings()
    return Principal(username="webhook", role=Role(settings.alert_webhook_role))


async def enqueue(
    session: AsyncSession, alert_ids: Sequence[uuid.UUID], urls: Sequence[str]
) -> None:
    """Queue new alerts for every URL, in the caller's transaction; alerts the receivers may
    not see are not queued."""
    from sqlalchemy import select

    visible = list(
        await session.scalars(
            select(ALERTS.c.id).where(
                ALERTS.c.id.in_(list(alert_ids)), alert_visible(webhook_principal())
            )
        )
    )
    for alert_id in visible:
        for url in urls:
            await session.execute(
                text(
                    "INSERT INTO webhook_outbox (alert_id, url) VALUES (:a, :u) "
                    "ON CONFLICT DO NOTHING"
                ),
                {"a": alert_id, "u": url},
            )


async def delivery(
    session: AsyncSession,
    principal: Principal,
    alert_id: uuid.UUID,
    language: str | None,
    settings: Settings,
) -> dict[str, Any] | None:
    """What a webhook whose people read ``language`` (English when none) is sent for an
    alert: the Feature, its title and description in that language, ``texts`` in every
    published language. None when the alert is gone."""
    from sqlalchemy import select

    language = choose(language)
    with in_language(language):  # the Feature's title and description are in it
        feature = alert_feature(principal)
    found = (
        await session.execute(
            select(feature, ALERTS.c.title, ALERTS.c.description, ALERTS.c.texts).where(
                ALERTS.c.id == alert_id
            )
        )
    ).one_or_none()
    if found is None:
        return None
    body: dict[str, Any] = json.loads(str(found[0]))
    body["properties"]["language"] = language
    body["properties"]["texts"] = in_languages(
        found.title, found.description, found.texts, published(settings.alert_languages)
    )
    return body


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession], http: httpx.AsyncClient, settings: Settings
) -> int:
    """Try every delivery that is due once; returns how many were delivered."""
    delivered = 0
    principal = webhook_principal(settings)
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT o.id, o.alert_id, o.url, o.attempts, "
                    "(SELECT w.language FROM alert_webhooks w WHERE w.url = o.url) AS language "
                    "FROM webhook_outbox o "
                    "WHERE o.delivered_at IS NULL AND o.next_attempt_at <= now() "
                    "ORDER BY o.id LIMIT 50 FOR UPDATE OF o SKIP LOCKED"
                )
            )
        ).all()
        for row in rows:
            body = await delivery(session, principal, row.alert_id, row.language, settings)
            error: str | None = None
            try:
                response = await http.post(
                    row.url,
                    content=json.dumps(body, ensure_ascii=False).encode(),
                    headers={
                        "Content-Type": "application/geo+json",
                        "Content-Language": choose(row.language),
                        "X-Civop-Alert": str(row.alert_id),
                        "X-Civop-Delivery": str(row.id),
                    },
                    timeout=settings.alert_webhook_timeout_s,
                )
                if response.status_code >= 300:
                    error = f"HTTP {response.status_code}"
            except httpx.HTTPError as failure:
                error = type(failure).__name__
            if error is None:
                delivered += 1
                await session.execute(
                    text(
                        "UPDATE webhook_outbox SET delivered_at = now(), attempts = attempts + 1, "
                        "last_error = NULL WHERE id = :id"
                    ),
                    {"id": row.id},
                )
            else:
                delay = min(
                    settings.alert_webhook_backoff_s * 2 ** min(row.attempts, 30),
                    settings.alert_webhook_backoff_max_s,
                )
                await session.execute(
                    text(
                        "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = :e, "
                        "next_attempt_at = now() + make_interval(secs => :d) WHERE id = :id"
                    ),
                    {"id": row.id, "e": error, "d": delay},
                )
        await session.commit()
    return delivered


class OutboxWorker:
    """Delivers due webhooks every ``alert_webhook_poll_s`` seconds."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with httpx.AsyncClient() as http:
            while not self._stopping.is_set():
                try:
                    await deliver_due(self.sessionmaker, http, self.settings)
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # the database is away: try again later
                    log.warning("webhook outbox: %s", type(error).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stopping.wait(), self.settings.alert_webhook_poll_s
                    )

    def start(self) -> None:
        # Always: admins add webhooks while the service runs (service.alerts.webhooks).
        self._task = asyncio.create_task(self._run(), name="civop-webhook-outbox")

    async def stop(self, grace_s: float = 10.0) -> None:
        """Let a delivery in progress finish (it is bounded by the webhook timeout), then stop."""
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_s)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
