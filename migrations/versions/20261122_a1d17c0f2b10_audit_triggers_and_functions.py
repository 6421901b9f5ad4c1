"""audit triggers, updated-by stamps, sector assignment, location generalisation

Revision ID: a1d17c0f2b10
Revises: e3128d9f0835
Create Date: 2026-11-23 00:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1d17c0f2b10"
down_revision: str | None = "e3128d9f0835"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORD_TABLES = ("sectors", "actors", "idp_sites", "projects", "incidents", "bases", "patrols")
SECTORED_TABLES = ("actors", "idp_sites", "projects", "incidents", "bases", "patrols")
AUDITED_TABLES = (*RECORD_TABLES, "site_population", "users", "api_keys")
TOUCHED_TABLES = (*RECORD_TABLES, "users")

FUNCTIONS = r"""
CREATE FUNCTION civop_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  NEW.updated_by := coalesce(current_setting('civop.actor', true), session_user);
  RETURN NEW;
END $$;

-- One audit row per changed record, written set-wise from the statement's transition tables
-- so bulk imports stay fast. Secrets never enter the audit log.
CREATE FUNCTION civop_audit() RETURNS trigger LANGUAGE plpgsql AS $$
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
END $$;

CREATE FUNCTION civop_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % is refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;

-- The smallest area of responsibility that contains the record.
CREATE FUNCTION civop_sector_at(g geometry) RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT s.id FROM sectors s
  WHERE s.deleted_at IS NULL AND ST_Intersects(s.geom, ST_PointOnSurface(g))
  ORDER BY CASE s.level WHEN 'battalion' THEN 0 WHEN 'sector' THEN 1 ELSE 2 END, s.id
  LIMIT 1
$$;

CREATE FUNCTION civop_assign_sector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.sector_id IS NULL
     OR (TG_OP = 'UPDATE' AND NOT ST_Equals(NEW.geom, OLD.geom) AND NEW.sector_id = OLD.sector_id) THEN
    NEW.sector_id := civop_sector_at(NEW.geom);
  END IF;
  RETURN NEW;
END $$;

-- A generalised location: the centre of the coarse grid cell (cell_deg degrees) that holds a
-- point of the geometry. Everything finer than the cell is gone.
CREATE FUNCTION civop_generalise(g geometry, cell_deg float8) RETURNS geometry
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT ST_SetSRID(ST_MakePoint(
           least(180.0, greatest(-180.0, (floor(ST_X(p) / cell_deg) + 0.5) * cell_deg)),
           least(90.0, greatest(-90.0, (floor(ST_Y(p) / cell_deg) + 0.5) * cell_deg))), 4326)
  FROM (SELECT ST_PointOnSurface(g) AS p) AS s
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION civop_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION civop_audit_append_only();
"""


def statements(script: str) -> list[str]:
    """Split on semicolons outside dollar-quoted bodies (asyncpg runs one statement at a time)."""
    parts, current, quoted = [], [], False
    for line in script.splitlines():
        current.append(line)
        quoted ^= line.count("$$") % 2 == 1
        if not quoted and line.rstrip().endswith(";"):
            parts.append("\n".join(current).strip())
            current = []
    return [part for part in parts if part]


def upgrade() -> None:
    for statement in statements(FUNCTIONS):
        op.execute(statement)
    for table in TOUCHED_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION civop_touch()"
        )
    for table in SECTORED_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_sector BEFORE INSERT OR UPDATE OF geom, sector_id ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION civop_assign_sector()"
        )
    for table in AUDITED_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_audit_insert AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION civop_audit()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_audit_update AFTER UPDATE ON {table} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION civop_audit()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_audit_delete AFTER DELETE ON {table} "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION civop_audit()"
        )


def downgrade() -> None:
    for table in AUDITED_TABLES:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_audit_{event} ON {table}")
    for table in SECTORED_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_sector ON {table}")
    for table in TOUCHED_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_touch ON {table}")
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    for function in (
        "civop_generalise(geometry, float8)",
        "civop_assign_sector()",
        "civop_sector_at(geometry)",
        "civop_audit_append_only()",
        "civop_audit()",
        "civop_touch()",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
