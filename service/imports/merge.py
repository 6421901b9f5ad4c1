"""The merge of the staging table into the collection, and what it would do."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    func,
    literal,
    not_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from geo.formats.pipeline import GEOM, KEY, ROW
from geo.formats.schema import IDENTITY
from service.access.policy import floors_for
from service.access.sql import floored
from service.audit import trail
from service.config import Settings
from service.imports.bulk import bulk_load
from service.imports.checks import Matching, sector_expr
from service.imports.sql import fetch, runner
from service.imports.staging import LOCATED, Staging


def _incoming(
    staging: Staging, match: Matching, settings: Settings
) -> tuple[dict[str, ColumnElement[Any]], list[str]]:
    """What each staged row writes (column -> expression over the staging table and its
    match), and the columns an import changes in a record it matches."""
    target = staging.collection.table
    st = staging.table
    fields = [
        n
        for n in staging.columns
        if n not in (ROW, IDENTITY, GEOM, LOCATED, "origin", KEY, "classification")
        and n in target.c
    ]
    # A new record's id is random, whatever id or key the row gives: an id derived from a
    # public key, or taken from the file, would be another one exactly when a record hidden
    # from the importer holds it (service.core.keys).
    values: dict[str, ColumnElement[Any]] = {
        "id": func.coalesce(match.matched, func.gen_random_uuid()),
        "origin": staging.origin_expr(),
        KEY: st.c.external_id,
        "classification": (
            func.coalesce(st.c.classification, literal(staging.classification))
            if staging.has("classification")
            else literal(staging.classification)
        ),
    }
    if staging.has("category") and "category" in target.c:
        values["classification"] = floored(
            target.name, st.c.category, values["classification"], settings
        )
    for name in fields:
        values[name] = st.c[name]
    geometry = st.c.geom
    values["geom"] = func.ST_Multi(geometry) if staging.collection.multi else geometry
    sectored = "sector_id" in target.c
    if sectored:
        # Set-wise here, so the per-row trigger has nothing left to look up.
        values["sector_id"] = sector_expr(staging)
    changed = [*fields, "geom"]
    if sectored:
        changed.append("sector_id")
    if staging.classification_given or staging.has("classification"):
        changed.append("classification")
    return values, changed


async def merge(
    session: AsyncSession,
    staging: Staging,
    match: Matching,
    settings: Settings,
    timings: dict[str, float],
) -> tuple[int, int]:
    """One INSERT ... ON CONFLICT (id) DO UPDATE (in a bulk load, an UPDATE of the matched
    records and an INSERT of the new ones, then the indexes built again: ``timings`` gets
    ``indexes``); returns (created, updated)."""
    target = staging.collection.table
    values, changed = _incoming(staging, match, settings)
    source = select(*values.values()).select_from(match.joined).where(match.deleted_at.is_(None))
    # Server defaults (not Python-side ones) fill the fields the file does not carry.
    statement = pg_insert(target).from_select(list(values), source, include_defaults=False)
    excluded = statement.excluded
    assign = _assignments(staging, changed, excluded, settings)
    merge = statement.on_conflict_do_update(
        index_elements=[target.c.id],
        set_=assign,
        where=tuple_(*(target.c[n] for n in assign)).is_distinct_from(tuple_(*assign.values())),
    )
    # The records the merge may change (for their previous values when the service writes
    # the audit itself, see service.audit.trail).
    existing = (
        select(match.matched)
        .select_from(match.joined)
        .where(match.matched.is_not(None), match.deleted_at.is_(None))
    )
    run = runner(session, settings)
    bulk = await bulk_load(session, staging, settings)
    if bulk is None:
        merged = await trail.write(run, target, merge, kind="upsert", targets=existing)
        return merged.created, merged.changed
    # No one else writes the collection while the bulk load holds its lock, so new records go
    # in with a plain INSERT and matched ones are updated in place: the speculative insertion
    # of ON CONFLICT costs about 3 s per million rows.
    rows = source.with_only_columns(
        *(expression.label(name) for name, expression in values.items()),
        match.matched.label("matched"),
    ).subquery("incoming")
    fresh = pg_insert(target).from_select(
        list(values),
        select(*(rows.c[name] for name in values)).where(rows.c.matched.is_(None)),
        include_defaults=False,
    )
    assign = _assignments(staging, changed, rows.c, settings)
    stale = (
        update(target)
        .where(
            target.c.id == rows.c.id,
            rows.c.matched.is_not(None),
            tuple_(*(target.c[n] for n in assign)).is_distinct_from(tuple_(*assign.values())),
        )
        .values(assign)
    )
    # Updates first: once the new records are in, they would match their own rows.
    updated = await trail.write(run, target, stale, kind="update", targets=existing, lock=False)
    await bulk.drop_primary_key()
    created = await trail.write(run, target, fresh, kind="insert")
    clock = time.monotonic()
    await bulk.rebuild(settings)
    timings["indexes"] = time.monotonic() - clock
    return created.created, updated.changed


def _assignments(
    staging: Staging, changed: list[str], incoming: Any, settings: Settings
) -> dict[str, Any]:
    """What a matched record's columns become: the incoming row's (``incoming`` is the ON
    CONFLICT ``excluded`` row or the bulk load's rows), with the classification raised to
    its category's floor, the record's own classification included when the import leaves
    it as it is."""
    target = staging.collection.table
    assign: dict[str, Any] = {name: incoming[name] for name in changed}
    if "category" not in target.c or not floors_for(target.name, settings.category_floors):
        return assign
    category = incoming["category"] if "category" in changed else target.c.category
    classification = (
        incoming["classification"] if "classification" in changed else target.c.classification
    )
    assign["classification"] = floored(target.name, category, classification, settings)
    return assign


async def would_do(
    session: AsyncSession, staging: Staging, match: Matching, settings: Settings
) -> dict[str, int]:
    """What the merge would do with each row: create a record, update one, leave one
    unchanged (the file holds what it holds already), or skip it (deleted)."""
    target = staging.collection.table
    values, changed = _incoming(staging, match, settings)
    rows = (
        select(
            *(expression.label(name) for name, expression in values.items()),
            match.matched.label("matched"),
            match.deleted_at.label("deleted_at"),
        )
        .select_from(match.joined)
        .subquery("incoming")
    )
    assign = _assignments(staging, changed, rows.c, settings)
    differs = tuple_(*(target.c[n] for n in assign)).is_distinct_from(tuple_(*assign.values()))
    live = and_(rows.c.matched.is_not(None), rows.c.deleted_at.is_(None))
    counting = select(
        func.count().filter(rows.c.matched.is_(None)),
        func.count().filter(and_(live, differs)),
        func.count().filter(and_(live, not_(differs))),
        func.count().filter(rows.c.deleted_at.is_not(None)),
    ).select_from(rows.outerjoin(target, target.c.id == rows.c.matched))
    (row,) = await fetch(session, counting, settings)
    return {
        "create": int(row[0]),
        "update": int(row[1]),
        "unchanged": int(row[2]),
        "skip": int(row[3]),
    }
