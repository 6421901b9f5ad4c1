"""bulk writes: ids from keys, sector lookup only for rows without a sector, lean audit rows for bulk creates

Imported records get ids derived from their key (uuid-ossp's ``uuid_generate_v5``), and two
costs per row that large imports paid for nothing are gone:

- ``civop_assign_sector`` ran for every inserted row, even when the writer (the import merge)
  had already set ``sector_id`` set-wise. The insert trigger now has ``WHEN (NEW.sector_id IS
  NULL)``, so PostgreSQL does not call it at all for those rows; updates keep the trigger as it
  was (a moved record gets its sector again).
- The audit trail copied every created record into ``after``. A statement that creates more
  than 1,000 records (an import, the demo) now writes one audit row per record without the
  copy: who, when, which record, in which import. The values are the record itself until its
  first change, whose audit row holds them as ``before``.

Revision ID: c0e2a4b6d8f1
Revises: b9d1f3a5c7e0
Create Date: 2026-11-23 02:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c0e2a4b6d8f1"
down_revision: str | None = "b9d1f3a5c7e0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Statements creating more records than this write lean audit rows.
BULK_ROWS = 1000

AUDIT = rf"""
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
                     'SELECT ''create'', %L, n.id FROM new_rows n', TG_TABLE_NAME);
    ELSE
      EXECUTE format('INSERT INTO audit_log (action, collection, record_id, after) '
                     'SELECT ''create'', %L, n.id, %s FROM new_rows n', TG_TABLE_NAME, new_json);
    END IF;
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
"""  # noqa: S608 - fixed DDL, the number is a constant

PREVIOUS_AUDIT = r"""
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

SECTORED = """
SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE t.tgfoid = 'civop_assign_sector'::regproc AND NOT t.tgisinternal
"""


def _sectored() -> list[str]:
    return sorted({row[0] for row in op.get_bind().exec_driver_sql(SECTORED)})


def upgrade() -> None:
    # uuid_generate_v5: imported records get ids derived from their key (docs/scaling.md).
    op.execute('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"')
    op.execute(AUDIT)
    for table in _sectored():
        op.execute(f"DROP TRIGGER IF EXISTS {table}_sector ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_sector_insert BEFORE INSERT ON {table} FOR EACH ROW "
            "WHEN (NEW.sector_id IS NULL) EXECUTE FUNCTION civop_assign_sector()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_sector_update BEFORE UPDATE OF geom, sector_id ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION civop_assign_sector()"
        )


def downgrade() -> None:
    for table in _sectored():
        op.execute(f"DROP TRIGGER IF EXISTS {table}_sector_insert ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_sector_update ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_sector BEFORE INSERT OR UPDATE OF geom, sector_id ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION civop_assign_sector()"
        )
    op.execute(PREVIOUS_AUDIT)
    op.execute('DROP EXTENSION IF EXISTS "uuid-ossp"')
