"""Parsing of the list filters shared by the domain API and the map layers."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, get_args

from pydantic import BaseModel, TypeAdapter

from service.bounds import YEARS, in_years
from service.core.crs import CRS84, Crs
from service.errors import InvalidInput, shown
from service.i18n import _, local_day_start


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
    #: The CRS the features are written in (OGC API - Features Part 2 ``crs``).
    crs: Crs = CRS84
    #: Further conditions, each built on the principal's view of the table (a CQL2 filter,
    #: one geometry type): ``apply_filters`` adds them to the others.
    where: tuple[Callable[[Any], Any], ...] = ()


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None or value == "":
        return None
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError as error:
        raise InvalidInput(
            ["query", "bbox"], _("bbox must be four numbers: minLon,minLat,maxLon,maxLat")
        ) from error
    if len(parts) == 6:  # 3D bbox: drop the heights
        parts = [parts[0], parts[1], parts[3], parts[4]]
    if len(parts) != 4 or any(p != p for p in parts):
        raise InvalidInput(
            ["query", "bbox"], _("bbox must be four numbers: minLon,minLat,maxLon,maxLat")
        )
    min_x, min_y, max_x, max_y = parts
    if not (
        -180 <= min_x <= 180 and -180 <= max_x <= 180 and -90 <= min_y <= 90 and -90 <= max_y <= 90
    ):
        raise InvalidInput(
            ["query", "bbox"], _("bbox is outside -180..180 / -90..90 (longitude first)")
        )
    if min_x > max_x or min_y > max_y:
        raise InvalidInput(
            ["query", "bbox"],
            _("bbox minimum is greater than its maximum (minLon,minLat,maxLon,maxLat)"),
        )
    return min_x, min_y, max_x, max_y


def _instant(text: str, *, end: bool) -> datetime | None:
    if text in ("", ".."):
        return None
    try:
        if len(text) == 10:
            # A bare day is a day of the mission's time zone (setting time_zone), from its
            # local midnight to the next one.
            day = date.fromisoformat(text)
            moment = local_day_start(day)
            if end:
                moment = local_day_start(day + timedelta(days=1)) - timedelta(microseconds=1)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidInput(
            ["query", "datetime"],
            _(
                "{text!r} is not an RFC 3339 date-time; use e.g. 2026-01-01T00:00:00Z/2026-02-01T00:00:00Z",
                text=shown(text),
            ),
        ) from error
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        return in_years(moment)  # type: ignore[no-any-return]
    except ValueError as error:
        raise InvalidInput(
            ["query", "datetime"], _("datetime must be {YEARS}", YEARS=YEARS)
        ) from error


def parse_datetime(value: str | None) -> tuple[datetime | None, datetime | None] | None:
    """An instant or an interval ``start/end`` with ``..`` for an open end (OGC API)."""
    if value is None or value == "":
        return None
    if "/" in value:
        start_text, _sep, end_text = value.partition("/")
        start, finish = _instant(start_text, end=False), _instant(end_text, end=True)
        if start and finish and finish < start:
            raise InvalidInput(["query", "datetime"], _("the interval ends before it starts"))
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
                        ["query", name],
                        _(
                            "unknown {name} {item!r}; use one of: {allowed}",
                            name=name,
                            item=shown(item),
                            allowed=allowed,
                        ),
                    )
                values.append(item)
            elif kind is int:
                values.append(_whole_number(properties, name, item))
            else:
                values.append(item)
        parsed[name] = values
    return parsed


def _whole_number(properties: type[BaseModel], name: str, item: str) -> int:
    """A filter value held to the same limits as the field it filters (which include what
    its column holds), so a value no record can have is refused rather than sent to the
    database."""
    info = properties.model_fields[name]
    try:
        number = int(item)
        _bounded_int(properties, name).validate_python(number)
    except ValueError as error:
        low, high = _limits(info.metadata)
        raise InvalidInput(
            ["query", name],
            _("{name} must be whole numbers from {low} to {high}", name=name, low=low, high=high),
        ) from error
    return number


@functools.cache
def _bounded_int(properties: type[BaseModel], name: str) -> TypeAdapter[int]:
    metadata = properties.model_fields[name].metadata
    return TypeAdapter(Annotated[int, *metadata] if metadata else int)


def _limits(metadata: list[Any]) -> tuple[int, int]:
    low, high = -(2**63), 2**63 - 1
    for rule in metadata:
        low = max(low, int(getattr(rule, "ge", low)))
        high = min(high, int(getattr(rule, "le", high)))
    return low, high


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.order_value, str(cursor.record_id), cursor.backward]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None) -> Cursor | None:
    if not value:
        return None
    try:
        padded = value + "=" * (-len(value) % 4)
        order_value, record_id, backward = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(order_value, str) or not isinstance(record_id, str):
            raise TypeError("a cursor holds an order value and an id, as text")
        # Every list is ordered on an instant: one that does not read as an instant, or lies
        # outside what PostgreSQL and Python both hold, was not issued here.
        datetime.fromisoformat(order_value)
        return Cursor(order_value, uuid.UUID(record_id), bool(backward))
    except (ValueError, TypeError, binascii.Error) as error:
        raise InvalidInput(["query", "cursor"], NOT_A_CURSOR) from error


NOT_A_CURSOR = "cursor is not one this service issued; start from the first page"


def list_query(
    properties: type[BaseModel],
    filter_names: tuple[str, ...],
    *,
    bbox: str | None = None,
    datetime: str | None = None,
    sector: uuid.UUID | None = None,
    q: str | None = None,
    filters: dict[str, str | None] | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> ListQuery:
    """The list filters of a collection from their text (a query string, command options),
    checked once for every door: the list and export routes, the command line, the jobs."""
    # The enumerated filters first: a request wrong in several places is told of those first.
    parsed = parse_filters(properties, filter_names, filters or {})
    return ListQuery(
        bbox=parse_bbox(bbox),
        interval=parse_datetime(datetime),
        sector=sector,
        q=q,
        filters=parsed,
        limit=limit,
        cursor=decode_cursor(cursor),
    )


def interval_params(
    interval: tuple[datetime | None, datetime | None] | None,
) -> list[str | None] | None:
    """A time interval as JSON (ISO 8601 instants, ``None`` for an open end)."""
    if interval is None:
        return None
    return [t.isoformat() if t else None for t in interval]


def query_params(query: ListQuery) -> dict[str, Any]:
    """A list query as JSON, to run again in a worker."""
    return {
        "bbox": list(query.bbox) if query.bbox else None,
        "interval": interval_params(query.interval),
        "sector": str(query.sector) if query.sector else None,
        "q": query.q,
        "filters": query.filters,
    }


def query_from_params(params: dict[str, Any]) -> ListQuery:
    """The list query :func:`query_params` wrote, in the worker that runs it."""
    interval = params.get("interval")
    bbox = params.get("bbox")
    return ListQuery(
        bbox=(bbox[0], bbox[1], bbox[2], bbox[3]) if bbox else None,
        interval=(
            (
                datetime.fromisoformat(interval[0]) if interval[0] else None,
                datetime.fromisoformat(interval[1]) if interval[1] else None,
            )
            if interval
            else None
        ),
        sector=uuid.UUID(params["sector"]) if params.get("sector") else None,
        q=params.get("q"),
        filters=params.get("filters") or {},
    )
