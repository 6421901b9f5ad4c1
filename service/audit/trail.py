"""Every write of a collection, with its audit rows, change events and layer version.

On one PostgreSQL node, statement triggers record each write of a collection: ``civop_audit``
writes the audit rows (from the statement's transition tables), ``civop_record_events`` the
change events the alert engine and the live map read, and ``civop_bump_layer`` the layer version
the tile and extent caches key on; projects and assistance requests have one more each, for
their status histories. They also record writes made outside the service.

Citus does not run statement triggers on distributed tables (incidents and patrols there, see
docs/scaling.md), so every write of a collection in the service runs through :func:`write`.
When the table has its triggers, :func:`write` runs the statement and the triggers record it.
When it lacks them, it writes the same records itself, in the same statement: the write becomes
a data-modifying CTE whose ``RETURNING`` feeds the audit and event inserts, with the records'
previous values read in that statement too, after locking them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    CTE,
    ColumnElement,
    Executable,
    Select,
    Table,
    bindparam,
    func,
    literal_column,
    not_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import UpdateBase

from service.access.policy import DEFAULT_POLICIES, policy_for

#: What each statement trigger writes; a table without the trigger gets it from here.
DUTIES = {
    "civop_audit": "audit",
    "civop_record_events": "events",
    "civop_bump_layer": "layer",
    "civop_bump_layer_parts": "parts",
}
#: The status histories two collections keep, written by a statement trigger of their own on
#: one node: a project's changes of status, and the state a request was recorded in.
HISTORIES = {
    "projects": "civop_project_status_history",
    "assistance_requests": "civop_request_recorded",
}

#: The statements, one per row, that drop the statement triggers of every collection: what a
#: Citus set-up runs (docs/scaling.md). Under Citus each collection's table is a reference or a
#: distributed table, or a local one that Citus manages because of its foreign keys to them, and
#: none of these runs the triggers.
DROP_STATEMENT_TRIGGERS = f"""
SELECT format('DROP TRIGGER %I ON %s;', t.tgname, t.tgrelid::regclass)
FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
WHERE t.tgrelid::regclass::text IN ({", ".join(f"'{name}'" for name in DEFAULT_POLICIES)})
  AND p.proname IN ({", ".join(f"'{name}'" for name in [*DUTIES, *HISTORIES.values()])})
ORDER BY 1
"""

#: The audit rows themselves (which rows, their values, lean rows and an import's bulk row) are
#: defined once, in service/sql/audit.sql, for the triggers and for :func:`write` alike.
#: A statement changing more records than this announces one 'reload' event instead of one
#: event per record (as ``civop_record_events`` does).
RELOAD_EVENTS = 500

#: ``insert`` creates records, ``update`` changes existing ones (a soft delete included),
#: ``upsert`` does either (``INSERT ... ON CONFLICT DO UPDATE``), ``purge`` removes them.
Kind = Literal["insert", "update", "upsert", "purge"]

#: The trigger functions each table runs, by database and table: looked up once per process,
#: since triggers change only with the schema (a migration, a Citus set-up), after which the
#: service starts again. :func:`forget_triggers` is for whatever changes them while it runs.
_PRESENT: dict[tuple[str, str], frozenset[str]] = {}


def forget_triggers() -> None:
    """Look the tables' triggers up again (after dropping or creating some)."""
    _PRESENT.clear()
    _AUDITS.clear()


async def _present(run: Run, table: Table) -> frozenset[str]:
    """The trigger functions ``table`` runs; cached when ``run`` names its database."""
    database: str | None = getattr(run, "database", None)
    key = (database or "", table.name)
    if database is not None and key in _PRESENT:
        return _PRESENT[key]
    ((duties,),) = await run(text(_OWED).bindparams(table=table.name))
    found = frozenset(duties or ())
    if database is not None:
        _PRESENT[key] = found
    return found


#: The trigger functions the table runs (a disabled trigger runs nothing).
_OWED = """
SELECT array_agg(p.proname::text) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
WHERE t.tgrelid = CAST(:table AS regclass) AND t.tgenabled <> 'D'
"""


@dataclass(frozen=True)
class Written:
    """How many records a write created and how many it changed (or removed)."""

    created: int
    changed: int


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _cte(sql: str, name: str) -> CTE:
    return text(sql).columns().cte(name)


#: The statement writing a write's audit rows, asked of ``civop_audit_statement``
#: (service/sql/audit.sql, the function the triggers run), by database, table and kind.
_AUDITS: dict[tuple[str, str, str], str] = {}

_AUDIT_STATEMENT = """
SELECT civop_audit_statement(CAST(:rel AS text)::regclass, CAST(:collection AS text),
                             CAST(:rows AS text), CAST(:created AS text),
                             '(SELECT fresh FROM counted)', :has_before, :has_after)
"""


def _rows(kind: Kind) -> str:
    """The rows a write changed, as the statements of :func:`recording` read them: each
    record after the write is ``n``, before it ``o`` (a purge's record, removed, is ``o``)."""
    if kind == "purge":
        return "changed o"
    if kind == "insert":
        return "changed n"
    return "changed n LEFT JOIN previous o ON o.id = n.id"


def _created(kind: Kind) -> str:
    """Whether a row was created: an upsert says so itself (the row it inserted has no xmax)."""
    return {"insert": "true", "upsert": "n.civop_created"}.get(kind, "false")


async def audit_statement(run: Run, table: Table, kind: Kind) -> str:
    """The statement writing the audit rows of a write of ``table`` (over the CTEs of
    :func:`recording`), as the database's ``civop_audit_statement`` writes it for the
    triggers too; asked once per process when ``run`` names its database."""
    key = (getattr(run, "database", None) or "", table.name, kind)
    if key[0] and key in _AUDITS:
        return _AUDITS[key]
    asked = text(_AUDIT_STATEMENT).bindparams(
        rel=_quoted(table.name),
        collection=table.name,
        rows=_rows(kind),
        created=_created(kind),
        has_before=kind != "insert",
        has_after=kind != "purge",
    )
    ((statement,),) = await run(asked)
    if key[0]:
        _AUDITS[key] = statement
    return str(statement)


def recording(
    table: Table,
    statement: UpdateBase,
    kind: Kind,
    duties: frozenset[str],
    targets: Select[Any] | None = None,
    audit: str | None = None,
) -> Executable:
    """``statement`` as one statement that returns (created, changed) and also writes the audit
    rows and change events ``duties`` asks for. ``targets`` (for ``update`` and ``upsert``)
    selects the ids of the existing records it may change: their rows, read in the same
    statement, are the previous values. ``audit`` is the statement writing the audit rows
    (:func:`audit_statement`), when ``duties`` asks for them."""
    name = _quoted(table.name)
    collection = _literal(table.name)
    ctes = []
    if kind in ("update", "upsert"):
        if targets is None:
            raise ValueError(f"an {kind} of {table.name} needs the ids of the records it changes")
        ctes.append(targets.cte("targets"))
        ctes.append(_cte(f"SELECT * FROM {name} WHERE id IN (SELECT * FROM targets)", "previous"))
    rows = _rows(kind)
    fresh = _created(kind)
    record = "o" if kind == "purge" else "n"
    # The changes first, then the creations, as the triggers of an upsert fire.
    order = "n.civop_created, n.id" if kind == "upsert" else f"{record}.id"
    returned: list[ColumnElement[Any]] = [literal_column(f"{name}.*")]
    if kind == "upsert":
        returned.append(literal_column("(xmax = 0)").label("civop_created"))
    ctes.append(statement.returning(*returned).cte("changed"))
    ctes.append(
        _cte(
            f"SELECT count(*) FILTER (WHERE {fresh}) AS fresh, "
            f"count(*) FILTER (WHERE NOT ({fresh})) AS stale FROM {rows}",
            "counted",
        )
    )
    soft = "deleted_at" in table.c
    if "audit" in duties:
        if audit is None:
            raise ValueError(f"the audit rows of a write of {table.name} need their statement")
        ctes.append(_cte(audit, "audit"))
    if "events" in duties and kind != "purge":
        gone = "WHEN n.deleted_at IS NOT NULL THEN 'deleted' " if soft else ""
        event = f"CASE WHEN {fresh} THEN 'created' {gone}ELSE 'updated' END"
        # One event per record, or one 'reload' for the records created and one for those
        # changed when there are too many of them, as the trigger does for its two statements.
        one_by_one = (
            f"CASE WHEN {fresh} THEN (SELECT fresh FROM counted) "
            f"ELSE (SELECT stale FROM counted) END <= {RELOAD_EVENTS}"
        )
        ctes.append(
            _cte(
                "INSERT INTO events (collection, record_id, action) "
                f"SELECT {collection}, e.id, e.action FROM ("
                f"SELECT {fresh} AS fresh, n.id, {event} AS action FROM {rows} "
                f"WHERE {one_by_one} "
                "UNION ALL SELECT part.fresh, NULL, 'reload' FROM counted "
                "CROSS JOIN LATERAL (VALUES (true, fresh), (false, stale)) AS part(fresh, n) "
                f"WHERE part.n > {RELOAD_EVENTS}) e ORDER BY e.fresh, e.id",
                "events",
            )
        )
    if "parts" in duties:
        ctes.append(
            _cte(
                _parts(table, rows, fresh, record, previous=kind in ("update", "upsert")),
                "parts",
            )
        )
    if "history" in duties and kind != "purge":
        history = _history(
            table.name, rows, fresh, order, previous="o." if kind != "insert" else None
        )
        if history is not None:
            ctes.append(_cte(history, "history"))
    return (
        select(literal_column("fresh"), literal_column("stale"))
        .select_from(text("counted"))
        .add_cte(*ctes)
    )


def _parts(table: Table, rows: str, fresh: str, record: str, *, previous: bool) -> str:
    """The layer version parts (classification, sector, owner) the records were in before
    and are in after, each bumped once for the records created and once for those changed,
    as ``civop_bump_layer_parts`` does for the INSERT and the UPDATE of an upsert."""
    sector = "id" if table.name == "sectors" else "sector_id"
    owner = policy_for(table.name).owner_column

    def part(alias: str) -> str:
        owned = f"{alias}.{_quoted(owner)}" if owner else "NULL::uuid"
        return f"({fresh}, {alias}.classification, {alias}.{_quoted(sector)}, {owned})"

    values = ", ".join([part(record), part("o")] if previous else [part(record)])
    return (
        "INSERT INTO layer_version_parts AS p "
        "(collection, classification, sector_id, owner_id, version) "
        f"SELECT {_literal(table.name)}, d.classification, d.sector_id, d.owner_id, count(*) "
        f"FROM (SELECT DISTINCT s.* FROM {rows} CROSS JOIN LATERAL (VALUES {values}) "
        "AS s(fresh, classification, sector_id, owner_id) WHERE s.classification IS NOT NULL) d "
        "GROUP BY d.classification, d.sector_id, d.owner_id "
        "ON CONFLICT (collection, classification, sector_id, owner_id) "
        "DO UPDATE SET version = p.version + excluded.version"
    )


def _history(table: str, rows: str, fresh: str, order: str, previous: str | None) -> str | None:
    """The history rows the table's own trigger writes on one node (``HISTORIES``)."""
    if table == "projects":
        before = f"CASE WHEN {fresh} THEN NULL ELSE {previous}status END" if previous else "NULL"
        changed = f"{fresh} OR {previous}status IS DISTINCT FROM n.status" if previous else "true"
        return (
            "INSERT INTO project_status_history "
            "(project_id, from_status, to_status, reason, context) "
            f"SELECT n.id, {before}, n.status, nullif(current_setting('civop.reason', true), ''), "
            f"current_setting('civop.context', true) FROM {rows} WHERE {changed} ORDER BY {order}"
        )
    if table == "assistance_requests":
        return (
            "INSERT INTO assistance_request_history "
            "(request_id, step, from_status, to_status, happened_at) "
            f"SELECT n.id, 'recorded', NULL, n.status, n.requested_at FROM {rows} "
            f"WHERE {fresh} ORDER BY {order}"
        )
    return None


def counting(statement: UpdateBase, kind: Kind) -> Executable:
    """``statement`` returning (created, changed), for a table whose triggers record it."""
    created = {"insert": "true", "upsert": "(xmax = 0)"}.get(kind, "false")
    changed = statement.returning(literal_column(created).label("created")).cte("changed")
    return select(
        func.count().filter(changed.c.created), func.count().filter(not_(changed.c.created))
    )


_BUMP = """
WITH bumped AS (
  INSERT INTO layer_versions (collection, version, changed_at) VALUES (:collection, 1, now())
  ON CONFLICT (collection) DO UPDATE
    SET version = layer_versions.version + 1, changed_at = now()
  RETURNING collection
)
SELECT pg_notify('civop_changes', collection) FROM bumped
"""

#: Runs a statement in the writer's transaction and returns its rows.
Run = Callable[[Executable], Awaitable[Sequence[Sequence[Any]]]]


def on_session(session: AsyncSession) -> Run:
    """Statements run through ``session`` (with its values' conversions and error mapping)."""

    async def run(statement: Executable) -> Sequence[Sequence[Any]]:
        return (await session.execute(statement)).all()

    engine = getattr(session.bind, "engine", session.bind)  # a connection's engine, or the engine
    url = getattr(engine, "url", None)
    if url is not None:
        run.database = url.render_as_string(hide_password=True)  # type: ignore[attr-defined]
    return run


async def write(
    run: Run,
    table: Table,
    statement: UpdateBase,
    *,
    kind: Kind,
    targets: Select[Any] | Sequence[uuid.UUID] | None = None,
    lock: bool = True,
) -> Written:
    """Run one write of ``table`` (``statement``, an INSERT, UPDATE or DELETE without
    RETURNING) and record it.

    ``targets`` (for ``update`` and ``upsert``) are the ids, or a query of the ids, of the
    existing records the write may change. When the service records the write, they are locked
    first (one record's row, or the table against other writers; not when ``lock`` is false:
    the caller holds the table's lock), so that their previous values, read for the audit, are
    the ones the write replaces.
    """
    present = await _present(run, table)
    owed = {duty for trigger, duty in DUTIES.items() if trigger not in present}
    if table.name in HISTORIES and HISTORIES[table.name] not in present:
        owed.add("history")
    if not owed:
        ((created, changed),) = await run(counting(statement, kind))
        return Written(int(created), int(changed))
    chosen: Select[Any] | None = None
    if targets is not None:
        if isinstance(targets, Select):
            chosen = targets
        else:
            ids = bindparam("civop_targets", list(targets), type_=postgresql.ARRAY(postgresql.UUID))
            chosen = select(func.unnest(ids))
        if lock and isinstance(targets, Sequence) and len(targets) == 1:
            # One record (the API): its row, which Citus locks on the one shard holding it.
            one = select(table.c.id).where(table.c.id == targets[0]).with_for_update()
            await run(one)
        elif lock:
            # Several (an import's merge, its rollback): the table, against other writers
            # only, until the transaction ends. Row locks alone would miss a record another
            # transaction inserts meanwhile, which the upsert would then find and update.
            await run(text(f"LOCK TABLE {_quoted(table.name)} IN SHARE ROW EXCLUSIVE MODE"))
    audit = await audit_statement(run, table, kind) if "audit" in owed else None
    written = recording(table, statement, kind, frozenset(owed), chosen, audit)
    ((created, changed),) = await run(written)
    if created or changed:
        if "layer" in owed:
            await run(text(_BUMP).bindparams(collection=table.name))
        if "events" in owed and kind != "purge":
            await run(text("SELECT pg_notify('civop_changes', 'events')"))
    return Written(int(created), int(changed))
