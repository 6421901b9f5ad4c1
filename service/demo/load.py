"""Load the fictional demo mission (:mod:`service.demo`) into the database, fast.

Everything goes in one transaction, table by table in foreign-key order, as
``INSERT ... SELECT ... FROM unnest(CAST(:id AS uuid[]), CAST(:name AS text[]), ...)``
statements of up to :data:`BATCH_ROWS` rows with bound array parameters on the asyncpg
connection underneath SQLAlchemy. The writes of collections are recorded as every write is
(:mod:`service.audit.trail`), with ``civop.actor = 'demo-loader'`` and
``civop.context = 'demo-seed-<seed>-<reference date>'``; ``sector_id`` is always given, so
the sector trigger has nothing to compute.

The mission's period ends with the reference date (by default yesterday, the last full day
before the load, so that no incident lies in the future), so the last incidents are of the
last days and every "last N days" view has something to show; the same seed and reference
date load the same records. The demo also brings a few alert rules
(:data:`DEMO_RULES`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Insert, Table, and_, column, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo.demo_map import demo_geography
from service.access.sql import below_floor
from service.alerts.schemas import RuleIn
from service.alerts.service import RULES
from service.audit import trail
from service.collections.registry import COLLECTIONS
from service.db import on_driver
from service.demo import (
    MISSION_BBOX,
    ORIGIN,
    Record,
    Scenario,
    generate_scenario,
    period_end,
)
from service.errors import Conflict
from service.i18n import _
from service.models import Base

__all__ = ["BATCH_ROWS", "DEMO_ACTOR", "DEMO_RULES", "load_demo"]

#: Rows per INSERT statement.
BATCH_ROWS = 25_000
#: ``civop.actor`` of every row and audit entry the loader writes.
DEMO_ACTOR = "demo-loader"
#: Client-side limit for one statement (the service's engine has a short default).
_STATEMENT_TIMEOUT_S = 3_600.0

Progress = Callable[[str, int], None]

#: Alert rules the demo mission comes with (officers change or retire them through the API):
#: one of each kind the engine evaluates.
DEMO_RULES: tuple[RuleIn, ...] = (
    RuleIn(
        name="Attack on civilians within 5 km of an IDP site",
        kind="incident_near_site",
        categories=["attack_on_civilians"],
        min_severity=3,
        radius_km=5,
        alert_severity=4,
    ),
    RuleIn(
        name="3 or more serious incidents in one 10 km cell within 24 hours",
        kind="incident_cluster",
        min_count=3,
        window_hours=24,
        cell_km=10,
        min_severity=3,
    ),
    RuleIn(
        name="Armed group within 5 km of an IDP site",
        kind="armed_group_near_site",
        radius_km=5,
        alert_severity=4,
    ),
    RuleIn(name="IDP site at high risk", kind="risk_threshold", threshold=1.5, alert_severity=4),
    RuleIn(name="New or intensifying hot spot", kind="hotspot"),
)


@dataclass(frozen=True)
class _Column:
    name: str
    pg_type: str  # element type of the bound array
    expression: str | None = None  # SQL over ``u.<name>``; ``u.<name>`` when None


def _geometry(name: str, multi: bool = False) -> _Column:
    expression = f"ST_GeomFromText(u.{name}, 4326)"
    return _Column(name, "text", f"ST_Multi({expression})" if multi else expression)


_RECORD = (
    _Column("id", "uuid"),
    _Column("origin", "text"),
    _Column("external_id", "text"),
    _Column("classification", "text"),
)

#: The columns written per table, in foreign-key order (incidents are handled on their own).
TABLES: dict[str, tuple[_Column, ...]] = {
    "sectors": (
        *_RECORD,
        _Column("name", "text"),
        _Column("level", "text"),
        _Column("parent_id", "uuid"),
        _geometry("geom", multi=True),
        _geometry("hq"),
    ),
    "actors": (
        *_RECORD,
        _Column("name", "text"),
        _Column("acronym", "text"),
        _Column("category", "text"),
        _Column("humanitarian", "bool"),
        _Column("focal_point", "text"),
        _Column("phone", "text"),
        _Column("email", "text"),
        _Column("description", "text"),
        _geometry("geom"),
        _Column("sector_id", "uuid"),
    ),
    "bases": (
        *_RECORD,
        _Column("name", "text"),
        _Column("unit", "text"),
        _Column("base_kind", "text"),
        _geometry("geom"),
        _Column("sector_id", "uuid"),
    ),
    "idp_sites": (
        *_RECORD,
        _Column("name", "text"),
        _Column("site_type", "text"),
        _Column("status", "text"),
        _Column("population_individuals", "int4"),
        _Column("population_households", "int4"),
        _Column("population_date", "date"),
        _Column("managing_actor_id", "uuid"),
        _Column("description", "text"),
        _geometry("geom"),
        _Column("sector_id", "uuid"),
    ),
    "site_population": (
        _Column("id", "uuid"),
        _Column("site_id", "uuid"),
        _Column("observed_on", "date"),
        _Column("individuals", "int4"),
        _Column("households", "int4"),
        _Column("source", "text"),
    ),
    "projects": (
        *_RECORD,
        _Column("title", "text"),
        _Column("kind", "text"),
        _Column("status", "text"),
        _Column("implementing_actor_id", "uuid"),
        _Column("budget_usd", "numeric"),
        _Column("start_date", "date"),
        _Column("end_date", "date"),
        _Column("beneficiaries", "int4"),
        _Column("description", "text"),
        _geometry("geom"),
        _Column("sector_id", "uuid"),
    ),
    "patrols": (
        *_RECORD,
        _Column("unit", "text"),
        _Column("patrol_type", "text"),
        _Column("state", "text"),
        _Column("start_at", "timestamptz"),
        _Column("end_at", "timestamptz"),
        _Column("base_id", "uuid"),
        _Column("description", "text"),
        _geometry("geom"),
        _Column("sector_id", "uuid"),
    ),
    "assistance_requests": (
        *_RECORD,
        *(_Column(name, "text") for name in ("title", "need")),
        _Column("requesting_actor_id", "uuid"),
        _Column("capability", "text"),
        *(_Column(name, "timestamptz") for name in ("requested_at", "needed_from", "needed_until")),
        *(
            _Column(name, "bool")
            for name in (
                "capability_unique",
                "no_civilian_alternative",
                "limited_in_time_and_space",
            )
        ),
        _Column("justification", "text"),
        _Column("life_saving", "bool"),
        _Column("status", "text"),
        *(
            _Column(f"{side}_{part}", "timestamptz" if part == "decided_at" else "text")
            for side in ("humanitarian", "military", "srsg")
            for part in ("decision", "decided_by", "decided_at", "reason")
        ),
        _Column("decided_at", "timestamptz"),
        _Column("denial_reason", "text"),
        _Column("completed_at", "timestamptz"),
        _Column("delivered_by_actor_id", "uuid"),
        _Column("delivered_by_name", "text"),
        *(_Column(name, "timestamptz") for name in ("delivered_at", "withdrawn_at")),
        _Column("withdrawal_reason", "text"),
        _geometry("geom"),
        _Column("sector_id", "uuid"),
    ),
    "places": (
        *_RECORD,
        *(_Column(name, "text") for name in ("name", "alternate_names", "place_class")),
        _Column("population", "int4"),
        _geometry("geom"),
    ),
}

#: Incident batches arrive as columns (see ``Scenario.incident_batches``): times as epoch
#: seconds, the point as lon/lat.
_INCIDENTS: tuple[_Column, ...] = (
    *_RECORD,
    _Column("category", "text"),
    _Column("occurred_at", "int8", "to_timestamp(u.occurred_at)"),
    _Column("reported_at", "int8", "to_timestamp(u.reported_at)"),
    _Column("severity", "int2"),
    _Column("killed", "int4"),
    _Column("injured", "int4"),
    _Column("displaced", "int4"),
    _Column("perpetrator_actor_id", "uuid"),
    _Column("source", "text"),
    _Column("source_reliability", "text"),
    _Column("source_credibility", "int2"),
    _Column("location_precision", "text"),
    _Column("description", "text"),
    _Column("lon", "float8"),
    _Column("lat", "float8"),
    _Column("sector_id", "uuid"),
)
_INCIDENT_TARGETS = [c.name for c in _INCIDENTS if c.name not in ("lon", "lat")] + ["geom"]
_INCIDENT_EXPRESSIONS = [
    c.expression or f"u.{c.name}" for c in _INCIDENTS if c.name not in ("lon", "lat")
] + ["ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)"]

_ANALYZE = (*TABLES, "incidents", "audit_log")


@dataclass(frozen=True)
class _Insert:
    """``INSERT INTO table (targets) SELECT expressions FROM unnest(:a, :b, ...) AS u(a, b, ...)``
    with one bound array per column.

    Only module constants are formatted in: every value is a bound parameter.
    """

    table: Table
    targets: tuple[str, ...]
    rows: str

    @classmethod
    def of(
        cls,
        table: str,
        targets: Sequence[str],
        expressions: Sequence[str],
        columns: Sequence[_Column],
    ) -> _Insert:
        arrays = ", ".join(f"CAST(:{c.name} AS {c.pg_type}[])" for c in columns)
        names = ", ".join(c.name for c in columns)
        rows = f"SELECT {', '.join(expressions)} FROM unnest({arrays}) AS u({names})"  # noqa: S608
        return cls(Base.metadata.tables[table], tuple(targets), rows)

    def of_batch(self, arrays: dict[str, Any]) -> Insert:
        rows = text(self.rows).bindparams(**arrays).columns(*map(column, self.targets))
        return insert(self.table).from_select(list(self.targets), rows)


_TABLE_INSERT = {
    table: _Insert.of(
        table, [c.name for c in columns], [c.expression or f"u.{c.name}" for c in columns], columns
    )
    for table, columns in TABLES.items()
}
_INCIDENT_INSERT = _Insert.of("incidents", _INCIDENT_TARGETS, _INCIDENT_EXPRESSIONS, _INCIDENTS)


async def load_demo(
    engine: AsyncEngine,
    *,
    seed: int = 7,
    incidents: int = 20_000,
    reference_date: date | None = None,
    alert_rules: bool = True,
    if_empty: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Generate the demo mission for ``seed`` and load it, with :data:`DEMO_RULES`, in one
    transaction.

    Parameters
    ----------
    engine
        An async engine on the asyncpg driver.
    seed
        Seed of :func:`service.demo.generate_scenario`: the same seed loads the same records.
    incidents
        Number of incidents; a million take a little over two minutes on two cores,
        most of it in the audit trigger.
    reference_date
        The last day of the mission's 24 months (UTC); yesterday when not given. The same
        seed and reference date load the same records.
    alert_rules
        Load :data:`DEMO_RULES` too (tests that count alerts of their own leave them out).
    if_empty
        Do nothing (and return ``{}``) when the ``incidents`` table already holds rows.
    progress
        Called as ``progress(table, rows_loaded_so_far)`` after every statement.

    Returns
    -------
    dict[str, int]
        Rows loaded per table, in load order; ``{}`` when nothing was loaded.

    Raises
    ------
    Conflict
        When demo records (``origin = 'demo'``) are already there and ``if_empty`` is false.

    Examples
    --------
    >>> engine = create_engine(get_settings())  # doctest: +SKIP
    >>> asyncio.run(load_demo(engine, incidents=1_000))  # doctest: +SKIP
    {'sectors': 13, 'actors': 150, ..., 'incidents': 1000}
    """
    if if_empty and await _has_incidents(engine):
        return {}
    last_day = reference_date or datetime.now(UTC).date() - timedelta(days=1)
    scenario = await asyncio.to_thread(
        generate_scenario, seed=seed, incidents=incidents, end=period_end(last_day)
    )
    counts: dict[str, int] = {}
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "SELECT set_config('civop.actor', :actor, true), "
                "set_config('civop.context', :context, true), "
                "set_config('statement_timeout', '0', true), "
                # Under Citus, the reference tables are written after the distributed
                # incidents were read in this transaction; elsewhere a setting of no effect.
                "set_config('citus.multi_shard_modify_mode', 'sequential', true), "
                "pg_advisory_xact_lock(hashtext('civop-demo-load'))"
            ),
            {"actor": DEMO_ACTOR, "context": f"demo-seed-{seed}-{last_day.isoformat()}"},
        )
        # Checked again under the lock: another loader may have finished meanwhile.
        if if_empty and await conn.scalar(text("SELECT EXISTS (SELECT 1 FROM incidents)")):
            return {}
        if await _has_demo_records(conn):
            raise Conflict(
                _(
                    "the demo mission is already loaded (records with origin 'demo' exist); "
                    "use an empty database or --if-empty"
                )
            )
        run = on_driver(conn, _STATEMENT_TIMEOUT_S)
        for table, records in scenario.tables().items():
            counts[table] = await _load_records(run, table, records, progress)
        places = demo_geography(scenario, MISSION_BBOX).place_records(ORIGIN)
        counts["places"] = await _load_records(run, "places", places, progress)
        counts["incidents"] = await _load_incidents(run, scenario, progress)
        await _raise_to_floors(run)
        for rule in DEMO_RULES if alert_rules else ():
            # The same ids at every load, as the records have.
            rule_id = uuid.uuid5(uuid.NAMESPACE_URL, f"civop:demo:{seed}:alert-rule:{rule.name}")
            values = rule.model_dump(exclude_none=True)
            await conn.execute(insert(RULES).values(id=rule_id, **values))
        if alert_rules:
            counts["alert_rules"] = len(DEMO_RULES)
    async with engine.connect() as conn:
        await conn.execute(text(f"ANALYZE {', '.join(_ANALYZE)}"))
        await conn.commit()
    return counts


async def _raise_to_floors(run: trail.Run) -> None:
    """The scenario keeps sexual violence restricted (the default floor); floors set in the
    settings hold for the demo records too (``service.access.policy``)."""
    for name, collection in COLLECTIONS.items():
        table = collection.table
        if "category" not in table.c:
            continue
        below = below_floor(name, table.c.category, table.c.classification)
        for floor, condition in below.items():
            mine = and_(condition, table.c.origin == ORIGIN)
            await trail.write(
                run,
                table,
                update(table).where(mine).values(classification=floor.value),
                kind="update",
                targets=select(table.c.id).where(mine),
            )


async def _has_incidents(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return bool(await conn.scalar(text("SELECT EXISTS (SELECT 1 FROM incidents)")))


async def _has_demo_records(conn: AsyncConnection) -> bool:
    found = await conn.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM sectors WHERE origin = :origin) "
            "OR EXISTS (SELECT 1 FROM incidents WHERE origin = :origin)"
        ),
        {"origin": ORIGIN},
    )
    return bool(found)


async def _insert_batch(run: trail.Run, load: _Insert, arrays: dict[str, Any]) -> None:
    statement = load.of_batch(arrays)
    if load.table.name in COLLECTIONS:  # recorded as every write of a collection is
        await trail.write(run, load.table, statement, kind="insert")
    else:
        await run(statement)


async def _load_records(
    run: trail.Run, table: str, records: list[Record], progress: Progress | None
) -> int:
    columns = TABLES[table]
    for lo in range(0, len(records), BATCH_ROWS):
        batch = records[lo : lo + BATCH_ROWS]
        arrays = {c.name: [record.get(c.name) for record in batch] for c in columns}
        await _insert_batch(run, _TABLE_INSERT[table], arrays)
        if progress is not None:
            progress(table, lo + len(batch))
    return len(records)


def _incident_arrays(batch: dict[str, Any]) -> dict[str, Any]:
    """The bound arrays of one incident batch, as the Python lists asyncpg encodes."""
    arrays: dict[str, Any] = {}
    for spec in _INCIDENTS:
        values = batch[spec.name]
        if isinstance(values, np.ndarray):
            if np.issubdtype(values.dtype, np.datetime64):
                values = values.astype("datetime64[s]").astype(np.int64)
            values = values.tolist()
        arrays[spec.name] = values
    return arrays


async def _load_incidents(run: trail.Run, scenario: Scenario, progress: Progress | None) -> int:
    done = 0
    batches = scenario.incident_batches(BATCH_ROWS)

    def next_arrays() -> dict[str, Any] | None:
        batch = next(batches, None)
        return None if batch is None else _incident_arrays(batch)

    # Prepare the next batch in a thread while the database inserts the current one.
    pending = asyncio.ensure_future(asyncio.to_thread(next_arrays))
    try:
        while (arrays := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(next_arrays))
            await _insert_batch(run, _INCIDENT_INSERT, arrays)
            done += len(arrays["id"])
            if progress is not None:
                progress("incidents", done)
    finally:
        if not pending.done():
            await asyncio.wait([pending])
    return done
