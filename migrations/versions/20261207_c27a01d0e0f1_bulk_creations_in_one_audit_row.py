"""audit: an import's bulk creation in one audit row that lists the records it created

An import creating more than 1,000 records in one statement wrote one lean audit row per
record (no values: the import's file and job keep them). It now writes one row for them all:
action ``create``, the import's context, actor and time, and ``record_ids``, the ids of every
record created, in order. Every record still names its import (``record_ids`` holds it, the
context names the job), and the log stays append-only. The ids are listed in the order the
records were written (sorting a million ids cost more than the rest of the row). Other
statements are recorded as before. The downgrade writes the lean rows back from the lists
before dropping the column.

``civop_record_events`` counts a statement's records only up to the 501st: beyond 500 it
announces one 'reload' whatever the number, so counting a bulk creation's million records
read its transition table once more for nothing.

Revision ID: c27a01d0e0f1
Revises: b20c01d0e0f1
Create Date: 2026-12-07 11:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c27a01d0e0f1"
down_revision: str | None = "b20c01d0e0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BULK_ROWS = 1000


def _audit(bulk_insert: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION civop_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  new_json text := civop_audit_json(TG_RELID, 'n');
  old_json text := civop_audit_json(TG_RELID, 'o');
  action text := quote_literal('update');
  collection text := civop_table_of(TG_TABLE_NAME);
BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute
             WHERE attrelid = TG_RELID AND attname = 'deleted_at' AND NOT attisdropped) THEN
    action := 'CASE WHEN o.deleted_at IS NULL AND n.deleted_at IS NOT NULL '
              || 'THEN ' || quote_literal('delete') || ' ELSE ' || quote_literal('update') || ' END';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT {BULK_ROWS} + 1) s) > {BULK_ROWS} THEN
      {bulk_insert}
    ELSE
      EXECUTE format('INSERT INTO audit_log (action, collection, record_id, after) '
                     'SELECT ''create'', %L, n.id, %s FROM new_rows n ORDER BY n.id',
                     collection, new_json);
    END IF;
  ELSIF TG_OP = 'UPDATE' THEN
    EXECUTE format('INSERT INTO audit_log (action, collection, record_id, before, after) '
                   'SELECT %s, %L, n.id, %s, %s FROM old_rows o JOIN new_rows n ON n.id = o.id'
                   ' ORDER BY n.id', action, collection, old_json, new_json);
  ELSE
    EXECUTE format('INSERT INTO audit_log (action, collection, record_id, before) '
                   'SELECT ''purge'', %L, o.id, %s FROM old_rows o ORDER BY o.id',
                   collection, old_json);
  END IF;
  RETURN NULL;
END $$
"""  # noqa: S608 - fixed DDL from this module's constants


LEAN = """EXECUTE format('INSERT INTO audit_log (action, collection, record_id) '
                     'SELECT ''create'', %L, n.id FROM new_rows n ORDER BY n.id', collection);"""
#: An import's bulk creation: one row listing the records; any other big creation: lean rows.
BULK = f"""IF coalesce(current_setting('civop.context', true), '') LIKE 'import:%' THEN
        INSERT INTO audit_log (action, collection, record_ids)
        SELECT 'create', collection, array_agg(n.id) FROM new_rows n;
      ELSE
        {LEAN}
      END IF;"""  # noqa: S608 - fixed DDL


def _events(counted: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION civop_record_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed bigint;
BEGIN
  SELECT count(*) INTO changed FROM {counted};
  IF changed = 0 THEN
    RETURN NULL;
  END IF;
  IF changed > {RELOAD_EVENTS} THEN
    INSERT INTO events (collection, record_id, action) VALUES (TG_TABLE_NAME, NULL, 'reload');
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO events (collection, record_id, action)
    SELECT TG_TABLE_NAME, n.id, 'created' FROM new_rows n ORDER BY n.id;
  ELSE
    INSERT INTO events (collection, record_id, action)
    SELECT TG_TABLE_NAME, n.id,
           CASE WHEN n.deleted_at IS NOT NULL THEN 'deleted' ELSE 'updated' END
    FROM new_rows n ORDER BY n.id;
  END IF;
  PERFORM pg_notify('civop_changes', 'events');
  RETURN NULL;
END $$
"""  # noqa: S608 - fixed DDL from this module's constants


RELOAD_EVENTS = 500
#: Up to the 501st record: whether there are more than 500 is all the trigger asks.
COUNTED = f"(SELECT 1 FROM new_rows LIMIT {RELOAD_EVENTS} + 1) s"  # noqa: S608 - constants


def upgrade() -> None:
    op.execute("ALTER TABLE audit_log ADD COLUMN record_ids uuid[]")
    # The history of one record finds the bulk rows that list it among these few rows.
    op.execute("CREATE INDEX ix_audit_log_bulk ON audit_log (id) WHERE record_ids IS NOT NULL")
    op.execute(_audit(BULK))
    op.execute(_events(COUNTED))


def downgrade() -> None:
    op.execute(_audit(LEAN))
    op.execute(_events("new_rows"))
    op.execute(
        "INSERT INTO audit_log (at, actor, action, collection, record_id, context, txid) "
        "SELECT a.at, a.actor, a.action, a.collection, r.id, a.context, a.txid "
        "FROM audit_log a CROSS JOIN LATERAL unnest(a.record_ids) WITH ORDINALITY r(id, n) "
        "WHERE a.record_ids IS NOT NULL ORDER BY a.id, r.n"
    )
    op.execute("DROP INDEX ix_audit_log_bulk")
    op.execute("ALTER TABLE audit_log DROP COLUMN record_ids")
