"""Keys (``origin`` + ``external_id``): unique among the records each writer sees in full.

A key held only by records hidden from a writer (above their clearance, outside their sectors,
or shown to them generalised) does not exist for that writer: their write is checked and stored
exactly as if the key had never been used, with the same statements, so no answer (status,
message, counts, time) tells them that the hidden record exists. People cleared for both records
see both and reconcile them. A record's id is random, never derived from its key: an id derived
from a public key would show, by being another one, that the key was taken.

Writers of one key are serialised by advisory locks held until their transaction ends: a write
through the API takes the collection's keys in shared mode and its key exclusively; an import
takes the collection's keys exclusively (``service.imports.service``), as it checks many keys
at once. The lookup uses the index on (origin, external_id).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Integer, Table, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.access.sql import seen_in_full
from service.enums import Classification
from service.errors import Conflict

#: Advisory lock namespaces: a collection's keys as a whole, and one key of a collection.
KEYS_LOCK = 4218
KEY_LOCK = 4219

DUPLICATE_KEY = "a record with this origin and external_id exists; update it instead"


def _collection_lock(table: Table) -> tuple[Any, Any]:
    return literal(KEYS_LOCK, Integer), func.hashtext(literal(table.name))


async def share(session: AsyncSession, table: Table) -> None:
    """Wait for an import checking the collection's keys; before the write reads the table."""
    await session.execute(select(func.pg_advisory_xact_lock_shared(*_collection_lock(table))))


async def lock_all(session: AsyncSession, table: Table) -> None:
    """Hold every key of the collection until the transaction ends (an import's checks)."""
    await session.execute(select(func.pg_advisory_xact_lock(*_collection_lock(table))))


async def claim(
    session: AsyncSession,
    table: Table,
    principal: Principal,
    origin: str,
    external_id: str,
    record_id: uuid.UUID | None = None,
) -> None:
    """Take the key for a record (``record_id``, or a new one) or refuse it (409) when another
    live record the principal sees in full holds it; records hidden from them do not count."""
    key = literal(f"{table.name}:{origin}:{external_id}")
    await session.execute(
        select(
            func.pg_advisory_xact_lock_shared(*_collection_lock(table)),
            func.pg_advisory_xact_lock(literal(KEY_LOCK, Integer), func.hashtext(key)),
        )
    )
    taken = await session.scalar(
        select(table.c.id)
        .where(
            table.c.origin == origin,
            table.c.external_id == external_id,
            table.c.id.is_distinct_from(record_id),
            seen_in_full(table, principal),
        )
        .limit(1)
    )
    if taken is not None:
        raise Conflict(DUPLICATE_KEY)


def classification_rank(holder: FromClause) -> ColumnElement[int]:
    """Higher for more restricted records: a re-import updates the most restricted record the
    importer sees under a key, so the file's values reach the fewest readers, and a less
    restricted copy stays as its writer left it."""
    ranks = {c.value: rank for rank, c in enumerate(Classification)}
    return case(ranks, value=holder.c.classification, else_=-1)
