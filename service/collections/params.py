"""Parsing of the list filters shared by the domain API and the map layers."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, get_args

from pydantic import BaseModel

from service.errors import InvalidInput


@dataclass(frozen=True)
class Cursor:
    """A position in a keyset-ordered list: the order value and id of a row, and whether the
    page wanted is the one before it (``prev``) or after it (``next``)."""

    order_value: str
    record_id: uuid.UUID
    backward: bool = False


@dataclass(frozen=True)
class ListQuery:
    bbox: tuple[float, float, float, float] | None = None
    interval: tuple[datetime | None, datetime | None] | None = None
    sector: uuid.UUID | None = None
    q: str | None = None
    filters: dict[str, list[Any]] = field(default_factory=dict)
    limit: int = 100
    cursor: Cursor | None = None


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None or value == "":
        return None
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError as error:
        raise InvalidInput(
            ["query", "bbox"], "bbox must be four numbers: minLon,minLat,maxLon,maxLat"
        ) from error
    if len(parts) == 6:  # 3D bbox: drop the heights
        parts = [parts[0], parts[1], parts[3], parts[4]]
    if len(parts) != 4 or any(p != p for p in parts):
        raise InvalidInput(
            ["query", "bbox"], "bbox must be four numbers: minLon,minLat,maxLon,maxLat"
        )
    min_x, min_y, max_x, max_y = parts
    if not (
        -180 <= min_x <= 180 and -180 <= max_x <= 180 and -90 <= min_y <= 90 and -90 <= max_y <= 90
    ):
        raise InvalidInput(
            ["query", "bbox"], "bbox is outside -180..180 / -90..90 (longitude first)"
        )
    if min_x > max_x or min_y > max_y:
        raise InvalidInput(
            ["query", "bbox"],
            "bbox minimum is greater than its maximum (minLon,minLat,maxLon,maxLat)",
        )
    return min_x, min_y, max_x, max_y


def _instant(text: str, *, end: bool) -> datetime | None:
    if text in ("", ".."):
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return (
                moment.replace(hour=23, minute=59, second=59, microsecond=999999) if end else moment
            )
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidInput(
            ["query", "datetime"],
            f"{text!r} is not an RFC 3339 date-time; use e.g. 2026-01-01T00:00:00Z/2026-02-01T00:00:00Z",
        ) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_datetime(value: str | None) -> tuple[datetime | None, datetime | None] | None:
    """An instant or an interval ``start/end`` with ``..`` for an open end (OGC API)."""
    if value is None or value == "":
        return None
    if "/" in value:
        start_text, _, end_text = value.partition("/")
        start, finish = _instant(start_text, end=False), _instant(end_text, end=True)
        if start and finish and finish < start:
            raise InvalidInput(["query", "datetime"], "the interval ends before it starts")
        return start, finish
    return _instant(value, end=False), _instant(value, end=True if len(value) == 10 else False)


def parse_filters(
    properties: type[BaseModel], names: tuple[str, ...], raw: dict[str, str | None]
) -> dict[str, list[Any]]:
    """Comma-separated values for the collection's enumerated columns, checked against their type."""
    parsed: dict[str, list[Any]] = {}
    for name in names:
        text = raw.get(name)
        if not text:
            continue
        annotation = properties.model_fields[name].annotation
        kinds = [a for a in (get_args(annotation) or (annotation,)) if a is not type(None)]
        kind = kinds[0]
        values: list[Any] = []
        for item in (v.strip() for v in text.split(",")):
            if isinstance(kind, type) and issubclass(kind, StrEnum):
                if item not in kind.__members__.values() and item not in {m.value for m in kind}:
                    allowed = ", ".join(m.value for m in kind)
                    raise InvalidInput(
                        ["query", name], f"unknown {name} {item!r}; use one of: {allowed}"
                    )
                values.append(item)
            elif kind is int:
                try:
                    values.append(int(item))
                except ValueError as error:
                    raise InvalidInput(["query", name], f"{name} must be whole numbers") from error
            else:
                values.append(item)
        parsed[name] = values
    return parsed


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.order_value, str(cursor.record_id), cursor.backward]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None) -> Cursor | None:
    if not value:
        return None
    try:
        padded = value + "=" * (-len(value) % 4)
        order_value, record_id, backward = json.loads(base64.urlsafe_b64decode(padded))
        return Cursor(str(order_value), uuid.UUID(record_id), bool(backward))
    except (ValueError, TypeError, binascii.Error) as error:
        raise InvalidInput(
            ["query", "cursor"], "cursor is not one this service issued; start from the first page"
        ) from error
