"""Alert webhooks: the URLs every new alert is POSTed to (through ``service.alerts.outbox``).

Two sources: the setting ``alert_webhook_urls`` (fixed at deployment) and the URLs admins add
and remove (``alert_webhooks``). Adding, testing and removing ask
:func:`~service.access.actions.authorize` first.

A delivery's ``title`` and ``description`` are in the webhook's language (``language``, chosen
when it is added; English for the setting's URLs and when none is chosen), and its ``texts``
member holds both in every language the mission publishes in (``alert_languages``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.actions import authorize
from service.access.policy import Principal
from service.alerts.models import AlertWebhook
from service.config import Settings, get_settings
from service.errors import Conflict, InvalidInput, NotFound
from service.i18n import _, languages, supported


@dataclass(frozen=True)
class Tried:
    """What a test delivery got: ``ok`` when the receiver answered 2xx; ``outcome`` the HTTP
    status it answered or the kind of failure (no answer, a refused connection)."""

    ok: bool
    outcome: str


async def urls(session: AsyncSession, settings: Settings | None = None) -> list[str]:
    """Every URL a new alert goes to: the setting's, then those admins added."""
    settings = settings or get_settings()
    added = (await session.scalars(select(AlertWebhook.url).order_by(AlertWebhook.url))).all()
    return list(dict.fromkeys([*settings.alert_webhook_urls, *added]))


async def listed(session: AsyncSession, principal: Principal) -> list[AlertWebhook]:
    """The webhooks admins added, by name."""
    authorize(principal, "manage_webhooks")
    rows = await session.scalars(select(AlertWebhook).order_by(AlertWebhook.name))
    return list(rows.all())


def _checked_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(["url"], _("enter a web address starting with https:// or http://"))
    return url


def checked_language(language: str | None) -> str | None:
    """A webhook's language as civop names it (``fr-FR`` -> ``fr``); none stays none (English);
    one civop does not speak is refused."""
    if language is None or not language.strip():
        return None
    found = supported(language)
    if found is None:
        raise InvalidInput(
            ["language"],
            _(
                "civop does not speak {language!r}; choose one of: {languages}",
                language=language,
                languages=", ".join(languages()),
            ),
        )
    return found


async def add(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    url: str,
    language: str | None = None,
) -> AlertWebhook:
    """Add a webhook: every new alert a receiver may see is POSTed to ``url`` from now on, its
    title and description in ``language`` (English when none)."""
    authorize(principal, "manage_webhooks")
    if not name.strip():
        raise InvalidInput(["name"], _("name who receives the alerts"))
    url = _checked_url(url)
    language = checked_language(language)
    await session.execute(select(func.set_config("civop.actor", principal.username, True)))
    webhook_id = await session.scalar(
        insert(AlertWebhook)
        .values(name=name.strip(), url=url, language=language)
        .on_conflict_do_nothing(index_elements=["url"])
        .returning(AlertWebhook.id)
    )
    if webhook_id is None or url in get_settings().alert_webhook_urls:
        await session.rollback()
        raise Conflict(_("alerts are already sent to this address"))
    await session.commit()
    found = await session.get(AlertWebhook, webhook_id)
    assert found is not None
    return found


async def remove(session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> None:
    """Remove a webhook: no new alert goes to it (deliveries already queued still go)."""
    authorize(principal, "manage_webhooks")
    await session.execute(select(func.set_config("civop.actor", principal.username, True)))
    gone = await session.execute(delete(AlertWebhook).where(AlertWebhook.id == webhook_id))
    if gone.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(_("no webhook {webhook_id}", webhook_id=webhook_id))
    await session.commit()


async def test(
    session: AsyncSession,
    principal: Principal,
    webhook_id: uuid.UUID,
    settings: Settings | None = None,
) -> Tried:
    """POST a test message (no alert, no record) to a webhook and say what it answered."""
    authorize(principal, "manage_webhooks")
    settings = settings or get_settings()
    found = await session.get(AlertWebhook, webhook_id)
    if found is None:
        raise NotFound(_("no webhook {webhook_id}", webhook_id=webhook_id))
    message = {
        "type": "civop.test",
        "sent_at": datetime.now(UTC).isoformat(),
        "sent_by": principal.username,
    }
    try:
        async with httpx.AsyncClient() as http:
            response = await http.post(
                found.url,
                json=message,
                headers={"X-Civop-Test": "1"},
                timeout=settings.alert_webhook_timeout_s,
            )
    except httpx.HTTPError as failure:
        return Tried(False, type(failure).__name__)
    return Tried(response.status_code < 300, f"HTTP {response.status_code}")
