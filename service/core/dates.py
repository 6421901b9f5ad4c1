"""Dates that record what happened cannot lie in the future.

An incident's time, the date a population was counted, when a request was made: these record
facts, and a fact cannot have happened yet. They may be at most ``future_tolerance_minutes``
ahead of the server's clock (a device's clock drifts). A date without a time is in the future
when it has not begun anywhere on Earth yet (UTC+14), so a date written in the mission's own
time zone is never refused for being "tomorrow" in UTC. Dates that plan (a patrol's start,
a project's dates, when support is needed) may lie in the future, until the record says the
plan was carried out: a conducted patrol has started, a completed project has started and ended.

The same rules hold on every write path: the API and OGC API - Features (:func:`check_record`,
after the write, on the record as stored, so a PATCH is judged with the fields it leaves
alone), imports (:func:`in_future` on the staged rows, with row and field) and population
figures (:func:`not_in_future`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, Table, and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from service.config import get_settings
from service.errors import InvalidInput
from service.i18n import _

#: The time zone whose day begins first: a date has begun once it has begun there.
EARLIEST_ZONE = dt.timedelta(hours=14)


@dataclass(frozen=True)
class Fact:
    """A date column that records what happened (always, or while ``when`` holds)."""

    column: str
    #: What to give instead, in the users' words.
    hint: str
    #: (column, values): the date records a fact only while the record is in one of them.
    when: tuple[str, tuple[str, ...]] | None = None


#: Per collection, its dates that record what happened. Not listed: dates that plan (a planned
#: patrol's times, a project's dates before it is completed, when a request's support is needed).
FACTS: dict[str, tuple[Fact, ...]] = {
    "incidents": (
        Fact("occurred_at", "give when it happened"),
        Fact("reported_at", "give when it was reported"),
    ),
    "idp_sites": (Fact("population_date", "give the date the population was counted"),),
    "patrols": (
        Fact(
            "start_at",
            "a conducted patrol has started: give when it did, or keep the patrol planned",
            ("state", ("conducted",)),
        ),
        Fact(
            "end_at",
            "a conducted patrol has ended: give when it did, or keep the patrol planned",
            ("state", ("conducted",)),
        ),
    ),
    "projects": (
        Fact(
            "start_date",
            "a completed project has started: give when it did, or leave it ongoing",
            ("status", ("completed",)),
        ),
        Fact(
            "end_date",
            "a completed project has ended: give when it did, or leave it ongoing",
            ("status", ("completed",)),
        ),
    ),
    "assistance_requests": (Fact("requested_at", "give when it was asked"),),
}


def tolerance() -> dt.timedelta:
    return dt.timedelta(minutes=get_settings().future_tolerance_minutes)


def latest_instant() -> dt.datetime:
    """The latest time that can have happened yet."""
    return dt.datetime.now(dt.UTC) + tolerance()


def latest_date() -> dt.date:
    """The latest date that has begun somewhere."""
    return (latest_instant() + EARLIEST_ZONE).date()


def too_late(value: dt.date | dt.datetime | None) -> bool:
    if value is None:
        return False
    if isinstance(value, dt.datetime):
        return value > latest_instant()
    return value > latest_date()


def message(column: str, value: Any, hint: str) -> str:
    shown = value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)
    minutes = get_settings().future_tolerance_minutes
    return (
        f"{column} ({shown}) is in the future; {hint}. Dates of what happened may be at most "
        f"{minutes:g} minutes ahead of the server's clock"
    )


def not_in_future(value: dt.date | dt.datetime | None, loc: list[str | int], hint: str) -> None:
    """422 at ``loc`` when ``value`` records something that cannot have happened yet."""
    if too_late(value):
        raise InvalidInput(loc, message(str(loc[-1]), value, hint))


def in_future(table: Table, columns: Any = None) -> list[tuple[Fact, ColumnElement[bool]]]:
    """For each fact of ``table`` that ``columns`` hold (the table's own, or an import's staged
    rows), the condition that its value lies in the future."""
    columns = table.c if columns is None else columns
    found = []
    for fact in FACTS.get(table.name, ()):
        if fact.column not in columns:
            continue
        column = columns[fact.column]
        dated = isinstance(table.c[fact.column].type, Date)
        limit: Any = latest_date() if dated else latest_instant()
        condition: ColumnElement[bool] = column > limit
        if fact.when is not None:
            name, values = fact.when
            if name not in columns:
                continue
            condition = and_(condition, columns[name].in_(values))
        found.append((fact, condition))
    return found


#: Per collection, (the date a plan starts, the dates that record it was carried out): a
#: request's support is not delivered before it is needed.
NOT_BEFORE: dict[str, tuple[str, tuple[str, ...]]] = {
    "assistance_requests": ("needed_from", ("completed_at", "delivered_at")),
}


async def check_record(
    session: AsyncSession, table: Table, record_id: uuid.UUID, written: Iterable[str] = ()
) -> None:
    """422 naming the field when the record, as written, dates what happened in the future,
    or (when ``written`` changes the start of a plan) says it was carried out before it."""
    if table.name in NOT_BEFORE and NOT_BEFORE[table.name][0] in set(written):
        start, done = NOT_BEFORE[table.name]
        plan = (
            await session.execute(
                select(table.c[start], *(table.c[d] for d in done)).where(table.c.id == record_id)
            )
        ).one()
        for name, moment in zip(done, plan[1:], strict=True):
            if moment is not None and moment < plan[0]:
                raise InvalidInput(
                    ["body", "properties", start],
                    _(
                        "{start} ({started}) is after the request's {name} ({moment}): support "
                        "is not delivered before it is needed; give the date it was needed from",
                        start=start,
                        started=plan[0].isoformat(),
                        name=name,
                        moment=moment.isoformat(),
                    ),
                )
    rules = in_future(table)
    if not rules:
        return
    row = (
        await session.execute(
            select(*(c.label(f"future_{i}") for i, (_fact, c) in enumerate(rules))).where(
                table.c.id == record_id
            )
        )
    ).one_or_none()
    if row is None:
        return
    for i, (fact, _column) in enumerate(rules):
        if row[i]:
            value = await session.scalar(
                select(table.c[fact.column]).where(table.c.id == record_id)
            )
            raise InvalidInput(
                ["body", "properties", fact.column], message(fact.column, value, fact.hint)
            )
