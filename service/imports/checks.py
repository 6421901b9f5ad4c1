"""Checks on the staging table: the record each row names, and set-wise checks that need the database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    case,
    cast,
    column,
    exists,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from geo.formats import Input, Problem, ProblemLog
from geo.formats.base import Severity
from geo.formats.pipeline import KEY
from geo.formats.schema import IDENTITY
from service.access.policy import Principal, floors_for
from service.access.sql import below_floor, row_filter, seen_in_full, within_scope
from service.collections.registry import COLLECTIONS
from service.config import Settings
from service.core import dates, keys
from service.db import driver_of
from service.imports.bulk import roomy
from service.imports.sql import fetch, runner
from service.imports.staging import LOCATED, Staging
from service.sectors.models import Sector


@dataclass
class Matching:
    """The record each staged row names, found once (``_match``) and joined by row number
    (an outer join: rows naming no record have no match row):
    by civop id if the row gives one, else by origin + external_id, among the records the
    importer sees in full only."""

    joined: Any
    #: The record the row's civop id names, and the one its key names (checked to agree).
    by_id: ColumnElement[Any]
    by_key: ColumnElement[Any]
    matched: ColumnElement[Any]
    deleted_at: ColumnElement[Any]
    #: Rows whose record was deleted: skipped, not brought back.
    skipped: int = 0


async def _match(
    session: AsyncSession, staging: Staging, principal: Principal, settings: Settings
) -> Matching:
    """Find the record each row names, among the records the importer sees in full (deleted
    ones included, so that a row of a record they deleted is skipped, not brought back). A key
    or an id held only by records hidden from them names nothing: the row is a new record, as
    if the key had never been used. When several records the importer sees share the key, the
    live one at the highest classification is matched, the oldest of those when several
    (``service.core.keys``).

    The matches are kept in a temporary table read by the checks and the merge (a bulk load
    drops the index on the key before it merges). It holds the rows that name a record only,
    joined to the staging table by an outer join: a file of new records (a first load) costs
    no sort and no copy of its rows."""
    target = staging.collection.table
    st = staging.table
    name = f"{staging.name}_match"
    await session.execute(
        text(
            f'CREATE TEMP TABLE "{name}" (row_no bigint PRIMARY KEY, by_id uuid, by_key uuid, '
            "record_id uuid, deleted_at timestamptz) ON COMMIT DROP"
        )
    )
    # A plain outer join, one record kept per row (DISTINCT ON): a hash join on the key, and a
    # join Citus plans as it did the join it replaces.
    by_key = target.alias("by_key")
    joined = st.outerjoin(
        by_key,
        and_(
            by_key.c.origin == staging.origin_expr(),
            by_key.c.external_id == st.c.external_id,
            seen_in_full(target, principal, live=False, alias=by_key),
        ),
    )
    by_id_found: ColumnElement[Any] = null()
    deleted: ColumnElement[Any] = by_key.c.deleted_at
    if staging.has(IDENTITY):
        by_id = target.alias("by_id")
        joined = joined.outerjoin(
            by_id,
            and_(
                by_id.c.id == cast(st.c.id, postgresql.UUID),
                seen_in_full(target, principal, live=False, alias=by_id),
            ),
        )
        by_id_found = by_id.c.id
        deleted = case((by_id.c.id.is_not(None), by_id.c.deleted_at), else_=by_key.c.deleted_at)
    named: ColumnElement[bool] = by_key.c.id.is_not(None)
    if staging.has(IDENTITY):
        named = or_(named, by_id_found.is_not(None))
    found = table(
        name,
        column("row_no"),
        column("by_id"),
        column("by_key"),
        column("record_id"),
        column("deleted_at"),
    )
    rows = (
        select(
            st.c.row_no, by_id_found, by_key.c.id, func.coalesce(by_id_found, by_key.c.id), deleted
        )
        .select_from(joined)
        .where(named)
        .distinct(st.c.row_no)
        .order_by(
            st.c.row_no,
            by_key.c.deleted_at.is_not(None),
            keys.classification_rank(by_key).desc(),
            by_key.c.created_at,
            by_key.c.id,
        )
    )
    await runner(session, settings)(
        postgresql.insert(found).from_select(list(found.c.keys()), rows)
    )
    await session.execute(text(f'ANALYZE "{name}"'))
    return Matching(
        joined=st.outerjoin(found, found.c.row_no == st.c.row_no),
        by_id=found.c.by_id,
        by_key=found.c.by_key,
        matched=found.c.record_id,
        deleted_at=found.c.deleted_at,
    )


def _listed(statement: Select[Any], limit: int) -> Select[Any]:
    return statement.add_columns(func.count().over().label("total")).limit(limit)


def _source_of(opened: Input, name: str) -> str:
    return opened.mapping.label(opened.mapping.fields.get(name)) or name


async def check(
    session: AsyncSession,
    opened: Input,
    staging: Staging,
    principal: Principal,
    log: ProblemLog,
    settings: Settings,
) -> Matching:
    """Set-wise checks that need the database; problems go to ``log``."""
    limit = settings.import_max_problems
    st = staging.table
    target = staging.collection.table
    if settings.import_bulk_rows and staging.rows >= settings.import_bulk_rows:
        await roomy(await driver_of(session))
    match = await _match(session, staging, principal, settings)

    async def report(
        statement: Select[Any],
        field: str | None,
        message: Callable[[Any], str],
        severity: Severity = "error",
    ) -> int:
        rows = await fetch(session, _listed(statement, limit), settings)
        for row in rows:
            log.add(Problem(int(row[0]), field, message(row), severity, None))
        total = int(rows[0]["total"]) if rows else 0
        if total > len(rows):
            log.count_more(field, total - len(rows), severity)
        return total

    key_field = _source_of(opened, KEY) if KEY in opened.mapping.fields else "(whole record)"
    first = func.min(st.c.row_no).over(partition_by=(staging.origin_expr(), st.c.external_id))
    repeats = select(st.c.row_no, st.c.external_id, first.label("first")).subquery("repeats")
    await report(
        select(repeats.c.row_no, repeats.c.external_id, repeats.c.first).where(
            repeats.c.row_no != repeats.c.first
        ),
        key_field,
        lambda r: (
            f"repeats row {r['first']}"
            + ("" if KEY not in opened.mapping.fields else f" (external_id {r['external_id']!r})")
            + ": each record may appear once in a file"
        ),
    )
    if staging.has(IDENTITY):
        first_id = func.min(st.c.row_no).over(partition_by=st.c.id)
        same_id = select(st.c.row_no, st.c.id, first_id.label("first")).where(st.c.id.is_not(None))
        same = same_id.subquery("same_id")
        await report(
            select(same.c.row_no, same.c.first).where(same.c.row_no != same.c.first),
            _source_of(opened, IDENTITY),
            lambda r: f"names the same record as row {r['first']}: each record may appear once",
        )
        await report(
            select(st.c.row_no)
            .select_from(match.joined)
            .where(
                match.by_id.is_not(None),
                match.by_key.is_not(None),
                match.by_id != match.by_key,
            ),
            _source_of(opened, IDENTITY),
            lambda r: "its id and its external_id name two different records; remove one",
        )
        # One row may name a record by its id and another row the same record by its key.
        by_id_row = func.min(case((st.c.id.is_not(None), st.c.row_no))).over(
            partition_by=match.matched
        )
        both = (
            select(st.c.row_no, st.c.id, by_id_row.label("first"))
            .select_from(match.joined)
            .where(match.matched.is_not(None))
            .subquery("both_ways")
        )
        await report(
            select(both.c.row_no, both.c.first).where(
                both.c.id.is_(None), both.c.first.is_not(None)
            ),
            key_field,
            lambda r: (
                f"its external_id names the record row {r['first']} names by id: "
                "each record may appear once"
            ),
        )
    match.skipped = await report(
        select(st.c.row_no).select_from(match.joined).where(match.deleted_at.is_not(None)),
        key_field,
        lambda r: "the record it matches was deleted; it is skipped (not brought back)",
        "warning",
    )
    if principal.sector_scope is not None:
        # Rows match only records the importer sees in full; one of those may still reach
        # beyond the importer's sectors (an area filed under the sector of one point in it).
        reaching = select(st.c.row_no).select_from(
            match.joined.join(target, target.c.id == match.matched)
        )
        await report(
            reaching.where(
                target.c.deleted_at.is_(None), not_(within_scope(target.c.geom, principal))
            ),
            key_field,
            lambda r: (
                "it would change a record that reaches beyond the sectors you are assigned "
                "to; an officer responsible for the whole area it covers may import it"
            ),
        )
    await _check_references(session, opened, staging, principal, report)
    if staging.has("classification"):
        cleared = sorted(principal.cleared_for)
        await report(
            select(st.c.row_no, st.c.classification).where(
                st.c.classification.is_not(None), st.c.classification.not_in(cleared)
            ),
            _source_of(opened, "classification"),
            lambda r: f"you are not cleared to write {r['classification']} records",
        )
    for fact, future in dates.in_future(target, st.c):

        def dated_ahead(r: Any, fact: dates.Fact = fact) -> str:
            return dates.message(fact.column, r["value"], fact.hint)

        await report(
            select(st.c.row_no, st.c[fact.column].label("value")).where(future),
            _source_of(opened, fact.column),
            dated_ahead,
        )
    scope = principal.sector_scope
    sectored = "sector_id" in target.c
    if scope is not None:
        # The whole geometry, not only the point its sector is found from.
        outside: list[ColumnElement[bool]] = [not_(within_scope(st.c.geom, principal))]
        if sectored and scope:
            sector = sector_expr(staging)
            outside += [sector.is_(None), sector.not_in(sorted(scope))]
        await report(
            select(st.c.row_no).where(or_(*outside)),
            "geometry",
            lambda r: "it lies outside the sectors you are assigned to, wholly or in part",
        )
    if sectored and staging.has("sector_id") and scope != frozenset():
        located = sector_expr(staging)
        disagrees = and_(
            st.c.sector_id.is_not(None),
            cast(st.c.sector_id, postgresql.UUID).is_distinct_from(located),
        )
        if scope is not None:  # rows outside have their problem; their sector is not named
            disagrees = and_(disagrees, located.in_(sorted(scope)))
        # A sector the importer may not see is not named, and reads as no sector at all.
        sectors = COLLECTIONS["sectors"].table
        seen = (
            select(sectors.c.id)
            .where(sectors.c.id == located, row_filter(sectors, principal))
            .scalar_subquery()
        )
        await report(
            select(st.c.row_no, seen.label("located")).where(disagrees),
            _source_of(opened, "sector_id"),
            lambda r: (
                "the geometry lies in no area of responsibility you may see; leave sector_id empty"
                if r["located"] is None
                else f"the geometry lies in the area of responsibility {r['located']}: "
                "correct sector_id or leave it empty (it follows from the geometry)"
            ),
        )
    await _check_floors(opened, staging, match, principal, settings, report)
    return match


async def _check_floors(
    opened: Input,
    staging: Staging,
    match: Matching,
    principal: Principal,
    settings: Settings,
    report: Callable[..., Awaitable[int]],
) -> None:
    """Records below their category's floor (``service.access.policy``): raised to it when
    the importer is cleared for it (a warning per row), refused when not."""
    target = staging.collection.table
    if "category" not in target.c or not floors_for(target.name, settings.category_floors):
        return
    st = staging.table
    category, requested, joined = _requested(staging, match)
    field = _source_of(opened, "classification")
    cases = below_floor(target.name, category, requested, settings)
    for floor, condition in cases.items():
        cleared = floor in principal.cleared_for
        await report(
            select(st.c.row_no, category.label("category"), requested.label("requested"))
            .select_from(joined)
            .where(condition, match.deleted_at.is_(None)),
            field,
            (
                lambda r, floor=floor: (
                    f"classification raised from {r['requested']} to {floor}: "
                    f"{r['category']} records are classified {floor} at least"
                )
            )
            if cleared
            else (
                lambda r, floor=floor: (
                    f"{r['category']} records are classified {floor} at least and you are not "
                    f"cleared for {floor} records; ask an officer cleared for them to import them"
                )
            ),
            "warning" if cleared else "error",
        )


def _requested(staging: Staging, match: Matching) -> tuple[Any, Any, Any]:
    """(category, classification asked for, the join they are read from) of each staged row:
    the file's, else the import's, else the matched record's (which the merge keeps)."""
    st = staging.table
    default = literal(staging.classification)
    joined = match.joined
    current = staging.collection.table.alias("current")
    needs_current = not staging.has("category") or not (
        staging.has("classification") or staging.classification_given
    )
    if needs_current:
        joined = joined.outerjoin(current, current.c.id == match.matched)
    category = st.c.category if staging.has("category") else current.c.category
    requested: ColumnElement[Any]
    if staging.has("classification"):
        requested = func.coalesce(st.c.classification, default)
    elif staging.classification_given:
        requested = default
    else:
        requested = func.coalesce(current.c.classification, default)
    return category, requested, joined


async def _check_references(
    session: AsyncSession,
    opened: Input,
    staging: Staging,
    principal: Principal,
    report: Callable[..., Awaitable[int]],
) -> None:
    st = staging.table
    for target_column in staging.collection.table.c:
        if not target_column.foreign_keys or not staging.has(target_column.name):
            continue
        (foreign_key,) = target_column.foreign_keys
        referenced = foreign_key.column.table
        assert isinstance(referenced, Table)
        value = cast(st.c[target_column.name], postgresql.UUID)
        visible = exists(
            select(literal(1))
            .select_from(referenced)
            .where(referenced.c.id == value, row_filter(referenced, principal))
        )
        name = target_column.name
        await report(
            select(st.c.row_no, st.c[name]).where(st.c[name].is_not(None), not_(visible)),
            _source_of(opened, name),
            lambda r, name=name, other=referenced.name: (
                f"{name} names no {other} record that you may see: {r[1]}"
            ),
        )


def sector_expr(staging: Staging) -> ColumnElement[Any]:
    """The record's area of responsibility, from its geometry by the rule of ``civop_sector_at``
    (the smallest area holding the record, ranked by ``civop_sector_rank``): found as the file was read for points, else from the
    point on surface by a subquery, planned once rather than per row."""
    st = staging.table
    located: ColumnElement[Any]
    if staging.has(LOCATED):
        located = st.c[LOCATED]
    else:
        sectors = Sector.__table__
        located = (
            select(sectors.c.id)
            .where(
                sectors.c.deleted_at.is_(None),
                func.ST_Intersects(sectors.c.geom, func.ST_PointOnSurface(st.c.geom)),
            )
            .order_by(func.civop_sector_rank(sectors.c.level), sectors.c.id)
            .limit(1)
            .scalar_subquery()
        )
    # A sector_id in the file is never taken over: ``check`` refuses one that disagrees.
    return located
