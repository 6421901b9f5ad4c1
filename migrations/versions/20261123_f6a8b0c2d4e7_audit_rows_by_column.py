"""audit rows built column by column, geometries with ST_AsGeoJSON

The first audit function turned whole rows into JSON with to_jsonb(row), which converts
geometries through PostGIS's JSON cast at a high cost per row; bulk writes (imports, the demo)
spent most of their time there. The audit row is now built from the table's own columns, read
from the catalog once per statement.

Revision ID: f6a8b0c2d4e7
Revises: e5f7a9b1c3d6
Create Date: 2026-11-23 01:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f6a8b0c2d4e7"
down_revision: str | None = "e5f7a9b1c3d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_JSON = r"""
CREATE FUNCTION civop_audit_json(rel oid, alias text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT 'jsonb_build_object(' || string_agg(
           CASE WHEN a.atttypid = 'geometry'::regtype
                THEN format('%L, ST_AsGeoJSON(%s.%I)::jsonb', a.attname, alias, a.attname)
                ELSE format('%L, %s.%I', a.attname, alias, a.attname) END,
           ', ' ORDER BY a.attnum) || ')'
  FROM pg_attribute a
  WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
    AND a.attname NOT IN ('password_hash', 'key_hash')
$$
"""

AUDIT = r"""
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
    EXECUTE format('INSERT INTO audit_log (action, collection, record_id, after) '
                   'SELECT ''create'', %L, n.id, %s FROM new_rows n', TG_TABLE_NAME, new_json);
  ELSIF TG_OP = 'UPDATE' THEN
    EXECUTE format('INSERT INTO audit_log (action, collection, record_id, before, after) '
                   'SELECT %s, %L, n.id, %s, %s FROM old_rows o JOIN new_rows n ON n.id = o.id',
                   action, TG_TABLE_NAME, old_json, new_json);
  ELSE
    EXECUTE format('INSERT INTO audit_log (action, collection, record_id, before) '
                   'SELECT ''purge'', %L, o.id, %s FROM old_rows o', TG_TABLE_NAME, old_json);
  END IF;
  RETURN NULL;
END $$
"""

PREVIOUS = r"""
CREATE OR REPLACE FUNCTION civop_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO audit_log (action, collection, record_id, after)
    SELECT 'create', TG_TABLE_NAME, n.id, to_jsonb(n) - 'password_hash' - 'key_hash'
    FROM new_rows n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO audit_log (action, collection, record_id, before, after)
    SELECT CASE
             WHEN to_jsonb(o) ->> 'deleted_at' IS NULL AND to_jsonb(n) ->> 'deleted_at' IS NOT NULL
             THEN 'delete' ELSE 'update' END,
           TG_TABLE_NAME, n.id,
           to_jsonb(o) - 'password_hash' - 'key_hash',
           to_jsonb(n) - 'password_hash' - 'key_hash'
    FROM old_rows o JOIN new_rows n ON n.id = o.id;
  ELSE
    INSERT INTO audit_log (action, collection, record_id, before)
    SELECT 'purge', TG_TABLE_NAME, o.id, to_jsonb(o) - 'password_hash' - 'key_hash'
    FROM old_rows o;
  END IF;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute(AUDIT_JSON)
    op.execute(AUDIT)


def downgrade() -> None:
    op.execute(PREVIOUS)
    op.execute("DROP FUNCTION IF EXISTS civop_audit_json(oid, text)")
