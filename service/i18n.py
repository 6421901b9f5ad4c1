"""The translation layer: every text a person reads passes through here.

Texts are written in English in the code and the templates and marked for extraction:

- ``_("Save the report")`` translates at once into the language of the current request,
  task or report (``LANGUAGE``, set by the page, the request or the job that renders);
- ``N_("Save the report")`` only marks a text kept in a table at import time; the code that
  shows it later passes it through ``_()``.

``{name}`` placeholders are filled from keyword arguments after translation, so a translated
text may move them: ``_("{count} incidents in view", count=12)``.
"""

from __future__ import annotations

from contextvars import ContextVar

#: The language texts are shown in, for the request, task or report being rendered.
LANGUAGE: ContextVar[str] = ContextVar("civop_language", default="en")


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs without translating it yet."""
    return message


def translate(message: str, language: str) -> str:
    """``message`` in ``language`` (the English text where the catalogs have none)."""
    return message


def _(message: str, /, **values: object) -> str:
    """``message`` in the current language, ``{name}`` placeholders filled from ``values``."""
    text = translate(message, LANGUAGE.get())
    return text.format(**values) if values else text
