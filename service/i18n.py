"""The translation layer: every text a person reads passes through here.

Texts are written in English in the code and the templates and marked for extraction:

- ``_("Save the report")`` translates at once into the language of the current request,
  task or report (``LANGUAGE``, set by the page, the request or the job that renders);
- ``N_("Save the report")`` only marks a text kept in a table at import time; the code that
  shows it later passes it through ``_()``.

``{name}`` placeholders are filled from keyword arguments after translation, so a translated
text may move them: ``_("{count} incidents in view", count=12)``.

The translations are gettext catalogs (``service/locale/<language>/LC_MESSAGES/civop.po``),
extracted from the code and templates with Babel (``make messages``, see ``babel.cfg``) and
compiled to ``.mo`` by ``make catalogs`` (part of ``make setup``). A catalog whose ``.mo`` is
missing or older than its ``.po`` is read from the ``.po`` itself, so a fresh checkout
translates before its first compilation.

Dates, times and numbers are written per language with Babel too (:func:`format_moment`,
:func:`format_number`...), times in the mission's time zone (setting ``time_zone``) with the
zone named.
"""

from __future__ import annotations

import gettext
import os
import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError, dates, lists, numbers, units
from babel.messages.pofile import read_po
from babel.support import Translations

#: The language texts are shown in, for the request, task or report being rendered.
LANGUAGE: ContextVar[str] = ContextVar("civop_language", default="en")

#: Where the catalogs are: ``<language>/LC_MESSAGES/civop.po`` (and its compiled ``.mo``).
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "civop"
#: The language the texts are written in.
SOURCE_LANGUAGE = "en"
#: Languages written right to left: their pages are laid out mirrored (``dir="rtl"``).
RIGHT_TO_LEFT = frozenset({"ar", "fa", "he", "ur", "ps"})


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs without translating it yet."""
    return message


@lru_cache(maxsize=1)
def languages() -> tuple[str, ...]:
    """The languages civop speaks: English and every language with a catalog."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (SOURCE_LANGUAGE, *[code for code in found if code != SOURCE_LANGUAGE])


@lru_cache(maxsize=16)
def _translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language``, or its ``.po`` read at once when the ``.mo`` is
    missing or older than it; no translation for English or a language without a catalog."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if language == SOURCE_LANGUAGE or not po.exists():
        return gettext.NullTranslations()
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as file:
            return Translations(file, domain=DOMAIN)
    with po.open("rb") as file:
        catalog = read_po(file, locale=language, domain=DOMAIN)
    translations = Translations(domain=DOMAIN)
    translations._catalog = {  # the same table gettext builds from a .mo
        message.id: message.string
        for message in catalog
        if isinstance(message.id, str)
        and message.id
        and isinstance(message.string, str)
        and message.string
        and not message.fuzzy
    }
    return translations


def translate(message: str, language: str) -> str:
    """``message`` in ``language`` (the English text where the catalogs have none)."""
    if not message or language == SOURCE_LANGUAGE:
        return message
    return _translations(language).gettext(message)


def _(message: str, /, **values: object) -> str:
    """``message`` in the current language, ``{name}`` placeholders filled from ``values``."""
    text = translate(message, LANGUAGE.get())
    return text.format(**values) if values else text


def in_language(language: str) -> _Switch:
    """``with in_language("fr"):`` renders what is inside in French (a report, an e-mail,
    one ``<info>`` block of an alert), then returns to the language before."""
    return _Switch(language)


class _Switch:
    def __init__(self, language: str) -> None:
        self.language = language

    def __enter__(self) -> str:
        self._token = LANGUAGE.set(self.language)
        return self.language

    def __exit__(self, *_: object) -> None:
        LANGUAGE.reset(self._token)


def is_rtl(language: str | None = None) -> bool:
    """Whether ``language`` (the current one by default) is written right to left."""
    return (language or LANGUAGE.get()).split("-")[0] in RIGHT_TO_LEFT


def direction(language: str | None = None) -> str:
    """``rtl`` or ``ltr``: the ``dir`` of a page in ``language``."""
    return "rtl" if is_rtl(language) else "ltr"


# ---------------------------------------------------------------------------------------------
# Choosing the language
# ---------------------------------------------------------------------------------------------

_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


def supported(tag: str | None) -> str | None:
    """The language civop speaks for ``tag`` (``fr-CA`` -> ``fr``), or None."""
    if not tag or not _TAG.match(tag.strip()):
        return None
    code = tag.strip().replace("_", "-").split("-")[0].lower()
    return code if code in languages() else None


def from_accept_language(header: str | None) -> str | None:
    """The best language civop speaks among a browser's ``Accept-Language``, or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:32]):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        code = supported(tag)
        if code and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else None


def choose(*candidates: str | None) -> str:
    """The first of ``candidates`` civop speaks, else English."""
    for candidate in candidates:
        code = supported(candidate)
        if code:
            return code
    return SOURCE_LANGUAGE


def from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The language of a program run from a shell (the command line), read as gettext reads
    it: the first of ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` that is set (and
    in ``LANGUAGE``, a list like ``ar:fr``, the first language civop speaks); ``C`` or
    ``POSIX`` is English."""
    environ = os.environ if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if not value:
            continue
        for tag in value.split(":"):
            tag = tag.split(".")[0].split("@")[0]  # fr_FR.UTF-8, sr_RS@latin
            if tag in ("C", "POSIX"):
                return SOURCE_LANGUAGE
            code = supported(tag)
            if code:
                return code
        break
    return SOURCE_LANGUAGE


def language_name(code: str) -> str:
    """A language's name in itself (``fr`` -> ``français``, ``ar`` -> ``العربية``)."""
    try:
        return Locale.parse(code).get_display_name(code) or code
    except (UnknownLocaleError, ValueError):
        return code


# ---------------------------------------------------------------------------------------------
# Dates, times and numbers, per language, in the mission's time zone
# ---------------------------------------------------------------------------------------------


def _locale(language: str | None) -> str:
    return language or LANGUAGE.get()


@lru_cache(maxsize=32)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def mission_zone() -> ZoneInfo:
    """The mission's time zone (setting ``time_zone``)."""
    from service.config import get_settings

    return zone(get_settings().time_zone)


def local(moment: datetime, tz: tzinfo | None = None) -> datetime:
    """``moment`` (stored in UTC) in the mission's time zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz or mission_zone())


def zone_label(moment: datetime | None = None, tz: ZoneInfo | None = None) -> str:
    """How the zone is named next to a time: its IANA name and offset,
    ``Africa/Bangui, UTC+01:00``."""
    tz = tz or mission_zone()
    moment = local(moment or datetime.now(UTC), tz)
    offset = moment.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return "UTC" if tz.key in ("UTC", "Etc/UTC") else f"{tz.key}, UTC"
    sign = "+" if offset >= timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{tz.key}, UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def format_moment(
    moment: datetime | None,
    language: str | None = None,
    *,
    tz: ZoneInfo | None = None,
    zone_named: bool = True,
) -> str:
    """A stored instant in the mission's local time, written for ``language``, the zone named:
    ``7 déc. 2026, 14:05 (Africa/Bangui, UTC+01:00)``."""
    if moment is None:
        return "—"
    there = local(moment, tz)
    locale = _locale(language)
    # Babel's medium date and short time (a reader needs the minute, not the second), joined
    # the way the language joins them.
    day = dates.format_date(there.date(), "medium", locale=locale)
    time = dates.format_time(there.timetz(), "short", locale=locale)
    text = str(dates.get_datetime_format("medium", locale=locale))
    text = text.replace("{1}", day).replace("{0}", time)
    return f"{text} ({zone_label(there, tz)})" if zone_named else text


def format_day(value: date | datetime | None, language: str | None = None) -> str:
    """A day written for ``language`` (``7 déc. 2026``); an instant is taken on its local day."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = local(value).date()
    return dates.format_date(value, "medium", locale=_locale(language))


def format_number(
    value: float | int | Decimal | None, language: str | None = None, *, digits: int | None = None
) -> str:
    """A number written for ``language``: ``12 345,6`` in French, ``12,345.6`` in English."""
    if value is None:
        return "—"
    if digits is None:
        return numbers.format_decimal(value, locale=_locale(language))
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return numbers.format_decimal(value, format=pattern, locale=_locale(language))


def format_kilometres(value: float, language: str | None = None) -> str:
    """A distance in kilometres, number and unit written for ``language``: ``20 km``,
    ``20 km`` (narrow no-break space) in French, ``20 كم`` in Arabic."""
    return units.format_unit(value, "length-kilometer", length="short", locale=_locale(language))


def format_instant(
    moment: datetime, skeleton: str, language: str | None = None, *, tz: ZoneInfo | None = None
) -> str:
    """An instant in the mission's local time, as much of it as Babel's ``skeleton`` asks
    for, in the order ``language`` writes it: ``MMMd`` gives ``Aug 3``, ``3 août``,
    ``3 أغسطس``; ``yMMM`` gives ``Aug 2026``."""
    there = local(moment, tz)
    return dates.format_skeleton(skeleton, there, tzinfo=there.tzinfo, locale=_locale(language))


def format_percent(value: float, language: str | None = None, *, signed: bool = False) -> str:
    text = numbers.format_percent(
        value, format="+#,##0%;-#,##0%" if signed else None, locale=_locale(language)
    )
    return text


def format_list(items: Iterable[str], language: str | None = None) -> str:
    """Items joined the way ``language`` joins them: ``admins, officers and partners``,
    ``a, b et c``, ``أ وب وج`` (English as the UN writes it, no comma before *and*)."""
    locale = _locale(language)
    return lists.format_list(list(items), locale="en_GB" if locale == "en" else locale)


def local_day_start(day: date, tz: ZoneInfo | None = None) -> datetime:
    """The UTC instant a local day of the mission begins (periods are local days)."""
    tz = tz or mission_zone()
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def local_today(tz: ZoneInfo | None = None) -> date:
    """Today in the mission's time zone."""
    return datetime.now(tz or mission_zone()).date()


def spoken(text: str) -> str:
    """A text ``geo`` said (``say(...)``: English that keeps its message and values, see
    ``geo.formats.base.Said``) in the current language; any other text as it is."""
    message, values = getattr(text, "message", None), getattr(text, "values", None)
    if not isinstance(message, str) or not isinstance(values, dict):
        return str(text)
    return _(
        message, **{name: spoken(v) if isinstance(v, str) else v for name, v in values.items()}
    )


def translated(messages: Iterable[str]) -> dict[str, str]:
    """``{English: translation}`` for ``messages`` in the current language."""
    return {message: _(message) for message in messages}
