"""An alert's title and description in every language civop speaks.

A rule says what it found once, as a message of the catalogs and its values (:class:`Say`);
the alert keeps it rendered in English (``title``, ``description``, what programs read) and in
every other language (``texts``: ``{"fr": {"title": ..., "description": ...}, ...}``), so the
map, the API and CAP give each reader their own language without rendering anything again.
Values are written per language when rendered: an enumerated value by its label
(:class:`Label`), an instant in the mission's local time (:class:`Moment`), a number as the
language writes it (:class:`Number`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service import labels
from service.i18n import (
    SOURCE_LANGUAGE,
    _,
    format_moment,
    format_number,
    format_percent,
    in_language,
    languages,
    supported,
)


@dataclass(frozen=True)
class Label:
    code: str
    #: Written inside a sentence: ``armed clash`` rather than ``Armed clash`` (acronyms kept).
    inside: bool = False


@dataclass(frozen=True)
class Moment:
    at: datetime


@dataclass(frozen=True)
class Number:
    value: float
    digits: int | None = None


@dataclass(frozen=True)
class Percent:
    """A share (0.95) written as each language writes a percentage (``95 %``, ``95%``)."""

    share: float


class Say:
    """A message of the catalogs (marked with ``N_``) and its values."""

    def __init__(self, message: str, /, **values: Any) -> None:
        self.message = message
        self.values = values

    def render(self) -> str:
        """The message in the current language, its values written for it."""
        return _(self.message, **{name: _written(value) for name, value in self.values.items()})


def _written(value: Any) -> Any:
    if isinstance(value, Say):
        return value.render()
    if isinstance(value, Label):
        text = labels.label(value.code)
        if value.inside and text[1:2].islower():
            text = text[:1].lower() + text[1:]
        return text
    if isinstance(value, Moment):
        return format_moment(value.at)
    if isinstance(value, Number):
        return format_number(value.value, digits=value.digits)
    if isinstance(value, Percent):
        return format_percent(value.share)
    return value


def rendered(title: str | Say, description: str | Say) -> tuple[str, str, dict[str, Any]]:
    """(English title, English description, the other languages' ``texts``)."""
    with in_language(SOURCE_LANGUAGE):
        english = (_text(title), _text(description))
    texts: dict[str, Any] = {}
    for language in languages():
        if language == SOURCE_LANGUAGE:
            continue
        with in_language(language):
            texts[language] = {"title": _text(title), "description": _text(description)}
    return english[0], english[1], texts


def _text(value: str | Say) -> str:
    return value.render() if isinstance(value, Say) else value


def published(wanted: Sequence[str]) -> list[str]:
    """The languages of ``alert_languages`` civop speaks, in order, each once; English when
    none is (a language without a catalog is left out rather than published in English)."""
    found = [code for code in (supported(w) for w in wanted) if code]
    return list(dict.fromkeys(found)) or [SOURCE_LANGUAGE]


def in_languages(
    title: str, description: str, texts: Mapping[str, Any] | None, wanted: Sequence[str]
) -> dict[str, dict[str, str]]:
    """An alert's ``{language: {"title", "description"}}`` for the ``wanted`` languages (from
    its English columns and ``texts``; English where an older alert has no translation)."""
    english = {"title": title, "description": description}
    found: dict[str, dict[str, str]] = {}
    for language in wanted:
        there = (texts or {}).get(language) if language != SOURCE_LANGUAGE else None
        found[language] = {**english, **there} if isinstance(there, dict) else dict(english)
    return found
