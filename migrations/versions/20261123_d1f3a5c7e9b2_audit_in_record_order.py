"""audit rows of a statement written in record order

A statement's audit rows were written in the order PostgreSQL produced them, which for a large
import is random against the ``(record_id, id)`` index of ``audit_log``: each row touched
another page of that index. Written sorted by record id they fill it page after page; for a
1,000,000-record import that takes the audit from about 10 s to about 7 s. What is recorded
does not change.

Revision ID: d1f3a5c7e9b2
Revises: c0e2a4b6d8f1
Create Date: 2026-11-23 06:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d1f3a5c7e9b2"
down_revision: str | None = "c0e2a4b6d8f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Statements creating more records than this write lean audit rows (as in c0e2a4b6d8f1).
BULK_ROWS = 1000


def _audit(order: str) -> str:
    return rf"""
CREATE OR REPLACE FUNCTION civop_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  new_json text := civop_audit_json(TG_RELID, 'n');
  old_json text := civop_audit_json(TG_RELID, 'o');
  action text := quote_literal('update');
BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute
             WHERE attrelid = TG_RELID AND attname = 'deleted_at' AND NOT attisdropped) THEN
    action := 'CASE WHEN o.deleted_at IS NULL AND n.deleted_at IS NOT NULL '
              || 'THEN ' || quote_literal('delete') || ' ELSE ' || quote_literal('update') || ' END';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT {BULK_ROWS} + 1) s) > {BULK_ROWS} THEN
      EXECUTE format('INSERT INTO audit_log (action, collection, record_id) '
                     'SELECT ''create'', %L, n.id FROM new_rows n{order.format("n")}', TG_TABLE_NAME);
    ELSE
      EXECUTE format('INSERT INTO audit_log (action, collection, record_id, after) '
                     'SELECT ''create'', %L, n.id, %s FROM new_rows n{order.format("n")}',
                     TG_TABLE_NAME, new_json);
    END IF;
  ELSIF TG_OP = 'UPDATE' THEN
    EXECUTE format('INSERT INTO audit_log (action, collection, record_id, before, after) '
                   'SELECT %s, %L, n.id, %s, %s FROM old_rows o JOIN new_rows n ON n.id = o.id'
                   '{order.format("n")}', action, TG_TABLE_NAME, old_json, new_json);
  ELSE
    EXECUTE format('INSERT INTO audit_log (action, collection, record_id, before) '
                   'SELECT ''purge'', %L, o.id, %s FROM old_rows o{order.format("o")}',
                   TG_TABLE_NAME, old_json);
  END IF;
  RETURN NULL;
END $$
"""  # noqa: S608 - fixed DDL, the number is a constant


def upgrade() -> None:
    op.execute(_audit(" ORDER BY {}.id"))


def downgrade() -> None:
    op.execute(_audit(""))
