"""Times in the mission's local time (setting ``time_zone``, ``CIVOP_TIME_ZONE``): what forms
show and what they read back."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from service.config import get_settings


def mission_zone() -> ZoneInfo:
    """The mission's local time zone."""
    return ZoneInfo(get_settings().time_zone)


def local_input(value: datetime | str | None) -> str:
    """A stored time as a ``datetime-local`` input's value in the mission's local time."""
    if value is None or value == "":
        return ""
    moment = (
        datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(mission_zone()).strftime("%Y-%m-%dT%H:%M")


def from_local_input(text: str) -> datetime | None:
    """A ``datetime-local`` input's value (the mission's local time) as an aware time; ``None``
    when empty. Raises ``ValueError`` for a text that is not a date and time."""
    text = text.strip()
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=mission_zone())
    return moment


def local_text(value: datetime | str | None) -> str:
    """A stored time as people read it in the mission's local time."""
    shown = local_input(value)
    return shown.replace("T", " ") if shown else ""
