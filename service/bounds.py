"""What a value in a request may be so that PostgreSQL can hold it: whole numbers within their
column's type, finite numbers, instants and days within the years the service keeps.

Each schema states the rules of its domain (a severity is 1 to 5); :func:`bound_to_columns`
adds what the storage needs and the schema does not already say, derived from the column
types, so a new column is bounded without anyone remembering to."""

from __future__ import annotations

import datetime as dt
import types
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    FutureDate,
    FutureDatetime,
    NaiveDatetime,
    PastDate,
    PastDatetime,
)
from pydantic.fields import FieldInfo
from pydantic.types import AllowInfNan
from sqlalchemy import BigInteger, Integer, SmallInteger, Table

#: Whole numbers each integer column type holds.
INTEGER_RANGES: list[tuple[type[Any], int, int]] = [
    (SmallInteger, -(2**15), 2**15 - 1),
    (BigInteger, -(2**63), 2**63 - 1),
    (Integer, -(2**31), 2**31 - 1),
]
#: A whole number with no column to go by is held to the widest column type.
WIDEST = (-(2**63), 2**63 - 1)
#: The years an instant or a day may lie in: wide enough for any record of a mission (archives
#: included) or a plan, narrow enough that every time zone offset stays a valid instant.
FIRST_YEAR = 1900
LAST_YEAR = 2199
EARLIEST = dt.datetime(FIRST_YEAR, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(LAST_YEAR + 1, 1, 1, tzinfo=dt.UTC)
YEARS = f"between {FIRST_YEAR} and {LAST_YEAR}"
#: Pydantic's kinds of instants and days.
TIMES = {
    dt.datetime,
    dt.date,
    AwareDatetime,
    NaiveDatetime,
    PastDatetime,
    FutureDatetime,
    PastDate,
    FutureDate,
}


def in_years(value: Any) -> Any:
    """An instant or day within the years kept (``None`` passes)."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        # Compared as offsets from the earliest instant: converting 9999-12-31T23:59-14:00 to
        # UTC would overflow Python's datetime.
        if not dt.timedelta(0) <= aware - EARLIEST < LATEST - EARLIEST:
            raise ValueError(f"the date and time must be {YEARS} (UTC)")
    elif isinstance(value, dt.date) and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"the date must be {YEARS}")
    return value


#: A date-time query parameter, held to the years kept.
Instant = Annotated[dt.datetime, AfterValidator(in_years)]
#: The largest id of a ``bigint`` column (events, alerts' numbers).
BIGINT_MAX = 2**63 - 1


def _kinds(annotation: Any) -> set[Any]:
    """The plain types a field's annotation allows (through ``Optional`` and unions)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return {kind for arg in get_args(annotation) for kind in _kinds(arg)}
    if get_origin(annotation) is Annotated:
        return _kinds(get_args(annotation)[0])
    return {annotation}


def _range_of(column: Any) -> tuple[int, int]:
    for kind, low, high in INTEGER_RANGES:
        if isinstance(column.type, kind):
            return low, high
    return WIDEST


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low: float | None = None
    high: float | None = None
    for rule in info.metadata:
        if isinstance(rule, annotated_types.Ge | annotated_types.Gt):
            low = float(getattr(rule, "ge", getattr(rule, "gt", 0)))
        if isinstance(rule, annotated_types.Le | annotated_types.Lt):
            high = float(getattr(rule, "le", getattr(rule, "lt", 0)))
    return low, high


def bound_to_columns(model: type[BaseModel], table: Table | None = None) -> type[BaseModel]:
    """Add to ``model``'s fields the limits of what the columns of ``table`` (of the same
    names) hold; fields with no column get the widest. Call before routes use the model."""
    changed = False
    for name, info in model.model_fields.items():
        kinds = _kinds(info.annotation)
        column = table.c.get(name) if table is not None else None
        if int in kinds:
            low, high = _range_of(column) if column is not None else WIDEST
            have_low, have_high = _bounds(info)
            if have_low is None or have_low < low:
                info.metadata.append(annotated_types.Ge(low))
                changed = True
            if have_high is None or have_high > high:
                info.metadata.append(annotated_types.Le(high))
                changed = True
        if float in kinds and not any(isinstance(m, AllowInfNan) for m in info.metadata):
            info.metadata.append(AllowInfNan(False))
            changed = True
        if kinds & TIMES:
            info.metadata.append(AfterValidator(in_years))
            changed = True
    if changed:
        model.model_rebuild(force=True)
    return model
