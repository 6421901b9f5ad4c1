"""What workspace forms share on the server: errors by field from the same validation as the
API (pydantic and the services' ``InvalidInput``), times in the mission's local time, and the
records a form offers to choose by name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.access.sql import view
from service.core.collection import Collection
from service.i18n import _
from service.workspace.times import from_local_input, local_input, local_text

__all__ = [
    "FormErrors",
    "from_local_input",
    "local_input",
    "local_text",
    "named_choices",
    "user_message",
]

#: Parts of an API error's ``loc`` that are not a field's name.
_WRAPPERS = {"body", "properties", "query", "path"}


@dataclass
class FormErrors:
    """Messages by field name, in the order the form lists its fields."""

    fields: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.fields)

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, message)

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    def ordered(self, names: Sequence[str]) -> FormErrors:
        """The same errors in the order of the form's fields (``names``), others last."""
        rank = {name: i for i, name in enumerate(names)}
        ordered = sorted(self.fields.items(), key=lambda item: rank.get(item[0], len(rank)))
        return FormErrors(dict(ordered))

    @classmethod
    def of(
        cls, errors: Iterable[Mapping[str, Any]], known: Sequence[str] = (), fallback: str = ""
    ) -> FormErrors:
        """Errors as the API reports them (``loc``, ``msg``, ``type``), by the form's field
        names: the last part of ``loc`` that names a field in ``known`` (or any name when no
        field list is given); the rest under ``fallback``."""
        found = cls()
        for error in errors:
            names = [str(p) for p in error.get("loc", ()) if str(p) not in _WRAPPERS]
            name = next((n for n in reversed(names) if not known or n in known), fallback)
            if known and name not in known:
                name = fallback
            found.add(name, user_message(error))
        return found


def user_message(error: Mapping[str, Any]) -> str:
    """An API validation message as a person reads it next to a field."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if kind == "missing":
        return _("This field is required.")
    if kind in ("less_than_equal", "less_than"):
        return _(
            "Enter a number no higher than {limit}.", limit=context.get("le", context.get("lt"))
        )
    if kind in ("greater_than_equal", "greater_than"):
        return _(
            "Enter a number no lower than {limit}.", limit=context.get("ge", context.get("gt"))
        )
    if kind in ("int_parsing", "int_type", "float_parsing", "float_type"):
        return _("Enter a whole number.") if kind.startswith("int") else _("Enter a number.")
    if kind == "enum":
        return _("Choose one of the listed values.")
    if kind in ("datetime_parsing", "datetime_type", "datetime_from_date_parsing"):
        return _("Enter a date and time.")
    message = str(error.get("msg", ""))
    message = message.removeprefix("Value error, ")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


async def named_choices(
    session: AsyncSession, principal: Principal, collection: Collection, limit: int | None = None
) -> list[tuple[str, str]]:
    """(id, name) of the collection's records the reader sees by name, in the order of their
    names: the choices of a form's select."""
    table = collection.table
    v = view(table, principal)
    rows = await session.execute(
        select(table.c.id, v.columns["name"])
        .where(v.where, v.exact, table.c.deleted_at.is_(None))
        .order_by(v.columns["name"])
        .limit(limit)
    )
    return [(str(r[0]), str(r[1])) for r in rows]
