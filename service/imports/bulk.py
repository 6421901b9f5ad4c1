"""Bulk loads: a big import drops the collection's indexes and keys and builds them again."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings
from service.db import driver_of
from service.errors import log
from service.imports.staging import Staging

#: Secondary indexes (not those behind constraints): how to drop them and build them again.
_INDEXES = """
SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = $1::regclass AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid AND c.contype <> 'f')
ORDER BY 2
"""
#: Unique constraints and foreign keys of the table, unique ones first when built again.
_CONSTRAINTS = """
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
              pg_get_constraintdef(oid))
FROM pg_constraint
WHERE conrelid = $1::regclass AND contype IN ('u', 'f')
ORDER BY contype DESC, conname
"""


#: work_mem of a big import's transaction, at least (bytes).
_ROOMY = 256 * 1024**2


async def roomy(driver: asyncpg.Connection, size: int = _ROOMY) -> None:
    """Room in memory (``size`` bytes) for a big import's sorts and transition tables (a
    smaller work_mem is raised for this transaction only). The checks sort the rows by key
    (repeats in the file), and the statement triggers read the new records from transition
    tables, which PostgreSQL keeps in memory up to work_mem and writes to temporary files
    beyond it."""
    wanted = f"{size // 1024}kB"
    await driver.execute(
        "SELECT set_config('work_mem', $1, true) "
        "WHERE pg_size_bytes(current_setting('work_mem')) < pg_size_bytes($1)",
        wanted,
    )


async def _spread_by_citus(driver: asyncpg.Connection, table: str) -> bool:
    """Whether Citus spreads the table over its workers: their shards keep indexes of their
    own, and Citus refuses to write a table after dropping its indexes in one transaction."""
    if not await driver.fetchval("SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL"):
        return False
    return bool(
        await driver.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition "
            "WHERE logicalrelid = $1::regclass)",
            table,
        )
    )


#: The primary key, when no foreign key refers to it: how to drop it and build it again.
_PRIMARY_KEY = """
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,
              pg_get_constraintdef(oid))
FROM pg_constraint
WHERE conrelid = $1::regclass AND contype = 'p'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.confrelid = $1::regclass)
"""


@dataclass
class BulkLoad:
    """A collection whose secondary indexes and foreign keys are gone until ``rebuild``."""

    driver: asyncpg.Connection
    table: str
    build: list[str]

    async def drop_primary_key(self) -> None:
        """Before the new records go in: a primary key on random ids, kept up to date row by
        row, costs about five times what building it again once does (4.5 s against 0.9 s per
        million rows). It comes back first in ``rebuild``, which checks that the ids are
        unique; a table other tables refer to keeps its key."""
        found = await self.driver.fetchrow(_PRIMARY_KEY, self.table)
        if found is None:
            return
        drop, build = found
        await self.driver.execute(drop)
        self.build.insert(0, build)

    async def rebuild(self, settings: Settings) -> None:
        """Indexes built in one sorted pass each, keys checked with one join each, and fresh
        statistics, so the map's queries plan well at once."""
        # Each index sorts the whole table: with room for a million rows in memory the sorts
        # do not spill to disk (PostgreSQL's default is 64 MB; a larger setting is kept).
        await self.driver.execute(
            "SELECT set_config('maintenance_work_mem', '256MB', true) "
            "WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('256MB')"
        )
        for statement in self.build:
            await self.driver.execute(statement, timeout=settings.import_timeout_s)
        await self.driver.execute(f'ANALYZE "{self.table}"', timeout=settings.import_timeout_s)


async def bulk_load(session: AsyncSession, staging: Staging, settings: Settings) -> BulkLoad | None:
    """Prepare a bulk load when the import is big, both absolutely and against the collection.

    Keeping every index up to date row by row costs far more than building it again once
    (PostgreSQL's advice for populating a database), so a bulk load takes the collection's
    exclusive lock, drops its secondary indexes, unique constraints and foreign keys, and
    builds them again after the merge, all in the import's transaction: if anything fails, or
    the process dies, they are back as they were. The primary key stays while the matched
    records are updated (they are found by it) and is dropped for the insert of the new ones
    (``BulkLoad.drop_primary_key``). Readers of the collection wait while the lock is held;
    if the lock cannot be had within ``import_bulk_lock_timeout_s``, the import loads the
    ordinary way.
    """
    if not settings.import_bulk_rows or staging.rows < settings.import_bulk_rows:
        return None
    table = staging.collection.table.name
    driver = await driver_of(session)
    held = await driver.fetchval(
        "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = $1::regclass", table
    )
    if staging.rows * 2 < held or await _spread_by_citus(driver, table):
        return None
    try:
        async with driver.transaction():  # a savepoint: a lock timeout leaves the import intact
            timeout_ms = int(settings.import_bulk_lock_timeout_s * 1000)
            await driver.execute(f"SET LOCAL lock_timeout = {timeout_ms}")
            await driver.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
    except asyncpg.LockNotAvailableError:
        log.info("import into %s: the table is busy, loading without a bulk load", table)
        return None
    finally:
        await driver.execute("SET LOCAL lock_timeout TO DEFAULT")
    # Room for the transition tables of the statement triggers, which hold the new records:
    # about twice the staging table (measured: a million points spilled 230 MB to temporary
    # files past 256 MB, and none with 512 MB).
    staged = await driver.fetchval("SELECT pg_relation_size($1::regclass)", staging.name)
    wanted = min(settings.import_bulk_work_mem_mb * 1024**2, max(_ROOMY, 5 * int(staged) // 2))
    await roomy(driver, wanted)
    indexes = await driver.fetch(_INDEXES, table)
    constraints = await driver.fetch(_CONSTRAINTS, table)
    for drop, _ in [*constraints, *indexes]:
        await driver.execute(drop)
    return BulkLoad(
        driver, table, [build for _, build in indexes] + [build for _, build in constraints]
    )
