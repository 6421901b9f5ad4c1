"""Which incidents an analysis or a report counts: never a discredited report, never a report
merged into an incident its reader sees (the incident kept counts for both), and with
``verified_only`` only verified incidents (docs/field-reports.md lists each output's default)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, literal, or_, select
from sqlalchemy.sql.util import ClauseAdapter

from service.access.policy import Principal
from service.access.sql import View, row_filter
from service.enums import VerificationState


def counted(v: View, principal: Principal, *, verified_only: bool) -> list[ColumnElement[bool]]:
    """Conditions on the rows of ``v`` (a principal's view of incidents) that keep the incidents
    counted as events."""
    table = v.table
    state = table.c.verification_state
    conditions: list[ColumnElement[bool]] = [
        state == literal(VerificationState.verified.value)
        if verified_only
        else state != literal(VerificationState.discredited.value)
    ]
    # A duplicate whose kept incident is hidden from the reader still counts for them: it is
    # the only trace of the event they may see.
    kept = table.alias("kept")
    kept_seen: Any = ClauseAdapter(kept).traverse(row_filter(table, principal))
    conditions.append(
        or_(
            table.c.duplicate_of_id.is_(None),
            ~exists(
                select(literal(1))
                .select_from(kept)
                .where(kept.c.id == table.c.duplicate_of_id, kept_seen)
            ),
        )
    )
    return conditions
