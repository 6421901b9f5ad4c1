"""audit rows and change notifications name the table, also where Citus runs the trigger on a
shard of it

Under Citus a table it manages on the coordinator (users, api_keys, site_population) is read and
written through a shard named after it (``users_102010``), and its triggers see that name in
``TG_TABLE_NAME``: the audit rows were recorded under the shard's name. ``civop_table_of``
gives the table's own name; on a single node it is ``TG_TABLE_NAME``.

Citus also left the change-notification triggers of users and API keys off their shards,
because they fire on TRUNCATE too: the other service processes kept a disabled user or a
revoked key in their caches until the cache's time ran out. TRUNCATE now has a trigger of its
own.

Revision ID: e2a4c6e8f0b3
Revises: d1f3a5c7e9b2
Create Date: 2026-11-23 08:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e2a4c6e8f0b3"
down_revision: str | None = "d1f3a5c7e9b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Statements creating more records than this write lean audit rows (as in c0e2a4b6d8f1).
BULK_ROWS = 1000

TABLE_OF = r"""
CREATE FUNCTION civop_table_of(name text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  logical text;
BEGIN
  -- (Citus hides its shards from pg_class, so the trigger's name is what there is to go by.)
  IF name ~ '_[0-9]+$' AND to_regclass('pg_catalog.pg_dist_shard') IS NOT NULL THEN
    EXECUTE 'SELECT c.relname FROM pg_catalog.pg_dist_shard s '
            'JOIN pg_class c ON c.oid = s.logicalrelid WHERE s.shardid = $1'
      INTO logical USING substring(name FROM '_([0-9]+)$')::bigint;
  END IF;
  RETURN coalesce(logical, name);
END $$
"""


def _audit(table: str) -> str:
    return rf"""
CREATE OR REPLACE FUNCTION civop_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  new_json text := civop_audit_json(TG_RELID, 'n');
  old_json text := civop_audit_json(TG_RELID, 'o');
  action text := quote_literal('update');
  collection text := {table};
BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute
             WHERE attrelid = TG_RELID AND attname = 'deleted_at' AND NOT attisdropped) THEN
    action := 'CASE WHEN o.deleted_at IS NULL AND n.deleted_at IS NOT NULL '
              || 'THEN ' || quote_literal('delete') || ' ELSE ' || quote_literal('update') || ' END';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT {BULK_ROWS} + 1) s) > {BULK_ROWS} THEN
      EXECUTE format('INSERT INTO audit_log (action, collection, record_id) '
                     'SELECT ''create'', %L, n.id FROM new_rows n ORDER BY n.id', collection);
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
"""  # noqa: S608 - fixed DDL, the number is a constant


def _notify(table: str) -> str:
    return (
        "CREATE OR REPLACE FUNCTION civop_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        f"  PERFORM pg_notify('civop_changes', {table});\n"
        "  RETURN NULL;\n"
        "END $$"
    )


#: The tables whose changes empty the service's caches of users and API keys.
ACCOUNT_TABLES = ("users", "api_keys")


def upgrade() -> None:
    op.execute(TABLE_OF)
    op.execute(_audit("civop_table_of(TG_TABLE_NAME)"))
    op.execute(_notify("civop_table_of(TG_TABLE_NAME)"))
    # Citus leaves a trigger that also fires on TRUNCATE off the shard: one for the rows, one
    # for TRUNCATE.
    for table in ACCOUNT_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION civop_notify_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_notify_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION civop_notify_change()"
        )


def downgrade() -> None:
    for table in ACCOUNT_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION civop_notify_change()"
        )
    op.execute(_notify("TG_TABLE_NAME"))
    op.execute(_audit("TG_TABLE_NAME"))
    op.execute("DROP FUNCTION IF EXISTS civop_table_of(text)")
