"""SQL definitions in named files: the audit rows and the sector rule, written once

The audit rows a write leaves were built by the statement trigger (``civop_audit``) and again
by the service for tables without triggers (as under Citus); the sector rule lived in
``civop_sector_at`` and again in the import. Both now live in ``service/sql/*.sql``, which this
migration installs and the service calls by name: ``civop_audit_statement`` writes the statement
that records a write, for the triggers and the service alike, and ``civop_sector_rank`` is the
order in which areas of responsibility claim a point, for ``civop_sector_at`` and the import.
The audit rows and sectors are the same as before.

Revision ID: c21b01d0e0f1
Revises: c23a01d0e0f1
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

from alembic import context, op

from service import sql

revision: str = "c21b01d0e0f1"
down_revision: str | None = "c23a01d0e0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The sector rule before this migration (a1d17c0f2b10, where it is one of many functions). The
#: downgrade takes the audit functions from the migrations that made them: the trigger from
#: c27a01d0e0f1 (bulk creations), the row's values from f6a8b0c2d4e7.
PREVIOUS_SECTOR_AT = r"""
CREATE OR REPLACE FUNCTION civop_sector_at(g geometry) RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT s.id FROM sectors s
  WHERE s.deleted_at IS NULL AND ST_Intersects(s.geom, ST_PointOnSurface(g))
  ORDER BY CASE s.level WHEN 'battalion' THEN 0 WHEN 'sector' THEN 1 ELSE 2 END, s.id
  LIMIT 1
$$
"""


def upgrade() -> None:
    for name in ("sectors", "audit"):
        for statement in sql.statements(sql.read(name)):
            op.execute(statement)


def downgrade() -> None:
    bulk = context.script.get_revision("c27a01d0e0f1").module  # type: ignore[union-attr]
    by_column = context.script.get_revision("f6a8b0c2d4e7").module  # type: ignore[union-attr]
    op.execute(bulk._audit(bulk.BULK))
    op.execute("DROP FUNCTION civop_audit_statement(oid, text, text, text, text, boolean, boolean)")
    op.execute("DROP FUNCTION civop_audit_json(oid, text)")
    op.execute(by_column.AUDIT_JSON)
    op.execute(PREVIOUS_SECTOR_AT)
    op.execute("DROP FUNCTION civop_sector_rank(text)")
