"""Texts ``geo`` says to people: English that keeps its message and values, so the service
can say them in the reader's language. A module of its own (no dependency), so that anything in
``geo`` may say things without loading the formats' machinery."""

from __future__ import annotations

from typing import Any


class Said(str):
    """A text for a person, as English, that remembers its message and values so the service
    can say it in the reader's language (the message is in the catalogs: ``make messages``
    extracts ``say(...)``; ``geo`` itself never translates).

    Examples
    --------
    >>> text = say("not a number: {value!r}", value="x")
    >>> text, text.message, text.values
    ("not a number: 'x'", 'not a number: {value!r}', {'value': 'x'})
    """

    message: str
    values: dict[str, Any]

    def __new__(cls, message: str, values: dict[str, Any]) -> Said:
        said = super().__new__(cls, message.format(**values) if values else message)
        said.message = message
        said.values = values
        return said

    def as_dict(self) -> dict[str, Any]:
        """The message and its values (a value that is itself said, as its own dict)."""
        return {
            "message": self.message,
            "values": {
                name: value.as_dict() if isinstance(value, Said) else value
                for name, value in self.values.items()
            },
        }


def say(message: str, /, **values: Any) -> Said:
    """``message`` with ``{name}`` placeholders filled, kept for translation (see Said)."""
    return Said(message, values)
