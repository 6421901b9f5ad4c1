"""requests for civil assistance with their workflow and history; project status history

``assistance_requests`` is a record table like the others (classification, origin/external_id,
who/when, soft delete, GiST, sector, audit, layer version, live events). Its state and decisions
change only through the workflow (service.requests): a trigger refuses any other change to
them, and every step is kept in the append-only ``assistance_request_history``. A request's
first history row is written by the database when the request is stored, in whatever state it
was recorded in (a submission, or an imported or demo record).

Projects keep their status history in ``project_status_history``, written by triggers on every
write path; a change of status that the project workflow does not allow is refused there too.

Users may name the actor (organisation) they work for: a partner sees and acts on their own
actor's requests.

Revision ID: b9d1f3a5c7e0
Revises: a8c0e2f4b6d9
Create Date: 2026-11-23 02:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b9d1f3a5c7e0"
down_revision: str | None = "a8c0e2f4b6d9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTOR = "coalesce(current_setting('civop.actor', true), session_user)"
STATUSES = (
    "'submitted', 'under_review', 'referred_to_srsg', 'approved', 'denied', 'completed', "
    "'delivered_by_other', 'withdrawn'"
)
DECISIONS = "'approve', 'deny'"
STEPS = (
    "'recorded', 'review', 'humanitarian_decision', 'military_decision', 'srsg_decision', "
    "'complete', 'delivered_by_other', 'withdraw'"
)
CAPABILITIES = (
    "'air_transport', 'ground_transport', 'engineering', 'medical', 'security_escort', "
    "'logistics', 'communications', 'other'"
)
PROJECT_STATUSES = "'proposed', 'approved', 'ongoing', 'completed', 'cancelled'"
SIDES = ("humanitarian", "military", "srsg")
#: Columns only the workflow changes.
WORKFLOW_COLUMNS = (
    "status",
    *(f"{side}_{c}" for side in SIDES for c in ("decision", "decided_by", "decided_at", "reason")),
    "decided_at",
    "denial_reason",
    "completed_at",
    "delivered_by_actor_id",
    "delivered_by_name",
    "delivered_at",
    "withdrawn_at",
    "withdrawal_reason",
)


def _decision_columns() -> str:
    return "\n".join(
        f"  {side}_decision text,\n  {side}_decided_by text,\n"
        f"  {side}_decided_at timestamptz,\n  {side}_reason text,"
        for side in SIDES
    )


def _decision_checks() -> str:
    checks = []
    for side in SIDES:
        first = f"({side}_decision IS NULL)"
        rest = [f"({side}_{c} IS NULL)" for c in ("decided_by", "decided_at", "reason")]
        checks.append(
            f"  CONSTRAINT ck_assistance_requests_{side}_decision_allowed\n"
            f"    CHECK ({side}_decision IN ({DECISIONS})),\n"
            f"  CONSTRAINT ck_assistance_requests_{side}_decision_complete\n"
            f"    CHECK ({' AND '.join(f'{first} = {r}' for r in rest)}),"
        )
    return "\n".join(checks)


TABLES = f"""
ALTER TABLE users ADD COLUMN actor_id uuid CONSTRAINT fk_users_actor_id REFERENCES actors (id);

CREATE TABLE assistance_requests (
  title text NOT NULL,
  need text NOT NULL,
  requesting_actor_id uuid NOT NULL
    CONSTRAINT fk_assistance_requests_requesting_actor_id REFERENCES actors (id),
  capability text NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT now(),
  needed_from timestamptz NOT NULL,
  needed_until timestamptz,
  capability_unique boolean NOT NULL DEFAULT false,
  no_civilian_alternative boolean NOT NULL DEFAULT false,
  limited_in_time_and_space boolean NOT NULL DEFAULT false,
  justification text,
  life_saving boolean NOT NULL DEFAULT false,
  status text NOT NULL DEFAULT 'submitted',
{_decision_columns()}
  decided_at timestamptz,
  denial_reason text,
  completed_at timestamptz,
  delivered_by_actor_id uuid
    CONSTRAINT fk_assistance_requests_delivered_by_actor_id REFERENCES actors (id),
  delivered_by_name text,
  delivered_at timestamptz,
  withdrawn_at timestamptz,
  withdrawal_reason text,
  geom geometry(Geometry, 4326) NOT NULL,
  sector_id uuid CONSTRAINT fk_assistance_requests_sector_id REFERENCES sectors (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  origin text NOT NULL DEFAULT 'api',
  external_id text,
  classification text NOT NULL DEFAULT 'mission',
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL DEFAULT {ACTOR},
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL DEFAULT {ACTOR},
  deleted_at timestamptz,
  deleted_by text,
  CONSTRAINT pk_assistance_requests PRIMARY KEY (id),
  CONSTRAINT uq_assistance_requests_origin_external_id UNIQUE (origin, external_id),
  CONSTRAINT ck_assistance_requests_classification_allowed
    CHECK (classification IN ('public', 'mission', 'restricted')),
  CONSTRAINT ck_assistance_requests_capability_allowed CHECK (capability IN ({CAPABILITIES})),
  CONSTRAINT ck_assistance_requests_status_allowed CHECK (status IN ({STATUSES})),
{_decision_checks()}
  CONSTRAINT ck_assistance_requests_status_consistent CHECK (CASE status
    WHEN 'submitted' THEN humanitarian_decision IS NULL AND military_decision IS NULL
      AND srsg_decision IS NULL AND decided_at IS NULL
    WHEN 'under_review' THEN srsg_decision IS NULL AND decided_at IS NULL
      AND (humanitarian_decision IS NULL OR military_decision IS NULL)
    WHEN 'referred_to_srsg' THEN humanitarian_decision IS NOT NULL
      AND military_decision IS NOT NULL AND humanitarian_decision <> military_decision
      AND srsg_decision IS NULL AND decided_at IS NULL
    WHEN 'approved' THEN decided_at IS NOT NULL
    WHEN 'denied' THEN decided_at IS NOT NULL AND denial_reason IS NOT NULL
    WHEN 'completed' THEN completed_at IS NOT NULL
    WHEN 'delivered_by_other' THEN delivered_at IS NOT NULL
      AND (delivered_by_actor_id IS NOT NULL OR delivered_by_name IS NOT NULL)
    WHEN 'withdrawn' THEN withdrawn_at IS NOT NULL AND withdrawal_reason IS NOT NULL
  END),
  CONSTRAINT ck_assistance_requests_last_resort CHECK (
    status NOT IN ('approved', 'completed') OR life_saving
    OR (capability_unique AND no_civilian_alternative AND limited_in_time_and_space)),
  CONSTRAINT ck_assistance_requests_needed_until_order CHECK (needed_until >= needed_from),
  CONSTRAINT ck_assistance_requests_geom_valid CHECK (
    ST_IsValid(geom) AND NOT ST_IsEmpty(geom) AND ST_XMin(geom) >= -180
    AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90),
  CONSTRAINT ck_assistance_requests_geom_type
    CHECK (ST_GeometryType(geom) IN ('ST_Point', 'ST_Polygon', 'ST_MultiPolygon'))
);
CREATE INDEX idx_assistance_requests_geom ON assistance_requests USING gist (geom);
CREATE INDEX ix_assistance_requests_sector_id ON assistance_requests (sector_id);
CREATE INDEX ix_assistance_requests_status_requested_at
  ON assistance_requests (status, requested_at);
CREATE INDEX ix_assistance_requests_requesting_actor_id
  ON assistance_requests (requesting_actor_id);

CREATE TABLE assistance_request_history (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  seq bigint GENERATED BY DEFAULT AS IDENTITY,
  request_id uuid NOT NULL
    CONSTRAINT fk_assistance_request_history_request_id REFERENCES assistance_requests (id),
  step text NOT NULL,
  from_status text,
  to_status text NOT NULL,
  decision text,
  decided_by text,
  happened_at timestamptz NOT NULL DEFAULT now(),
  reason text,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  recorded_by text NOT NULL DEFAULT {ACTOR},
  CONSTRAINT pk_assistance_request_history PRIMARY KEY (id),
  CONSTRAINT ck_assistance_request_history_step_allowed CHECK (step IN ({STEPS})),
  CONSTRAINT ck_assistance_request_history_from_status_allowed
    CHECK (from_status IN ({STATUSES})),
  CONSTRAINT ck_assistance_request_history_to_status_allowed CHECK (to_status IN ({STATUSES})),
  CONSTRAINT ck_assistance_request_history_decision_allowed CHECK (decision IN ({DECISIONS}))
);
CREATE INDEX ix_assistance_request_history_request_id
  ON assistance_request_history (request_id, seq);

CREATE TABLE project_status_history (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  seq bigint GENERATED BY DEFAULT AS IDENTITY,
  project_id uuid NOT NULL
    CONSTRAINT fk_project_status_history_project_id REFERENCES projects (id),
  from_status text,
  to_status text NOT NULL,
  reason text,
  context text,
  changed_at timestamptz NOT NULL DEFAULT now(),
  changed_by text NOT NULL DEFAULT {ACTOR},
  CONSTRAINT pk_project_status_history PRIMARY KEY (id),
  CONSTRAINT ck_project_status_history_from_status_allowed
    CHECK (from_status IN ({PROJECT_STATUSES})),
  CONSTRAINT ck_project_status_history_to_status_allowed
    CHECK (to_status IN ({PROJECT_STATUSES}))
);
CREATE INDEX ix_project_status_history_project_id
  ON project_status_history (project_id, seq);
"""

_WORKFLOW_OLD = ", ".join(f"OLD.{c}" for c in WORKFLOW_COLUMNS)
_WORKFLOW_NEW = ", ".join(f"NEW.{c}" for c in WORKFLOW_COLUMNS)

FUNCTIONS = f"""
-- History rows are never changed or removed.
CREATE FUNCTION civop_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;

-- A request enters the history in the state it was stored with.
CREATE FUNCTION civop_request_recorded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO assistance_request_history (request_id, step, from_status, to_status, happened_at)
  SELECT n.id, 'recorded', NULL, n.status, n.requested_at FROM new_rows n;
  RETURN NULL;
END $$;

-- The state and decisions change only through the workflow (which says so for its
-- transaction), or when an import is rolled back.
CREATE FUNCTION civop_request_workflow_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('civop.workflow', true), '') = 'assistance_requests'
     OR coalesce(current_setting('civop.context', true), '') LIKE 'rollback:%' THEN
    RETURN NEW;
  END IF;
  IF ROW({_WORKFLOW_NEW}) IS DISTINCT FROM ROW({_WORKFLOW_OLD}) THEN
    RAISE EXCEPTION 'the state and decisions of request % change only through its workflow '
      'steps (POST /api/assistance_requests/%/review, /humanitarian-decision, '
      '/military-decision, /srsg-decision, /complete, /delivered-by-other, /withdraw)',
      NEW.id, NEW.id
      USING ERRCODE = 'check_violation',
            CONSTRAINT = 'ck_assistance_requests_workflow_transition';
  END IF;
  RETURN NEW;
END $$;

-- The project workflow: proposed -> approved -> ongoing -> completed; cancelled from any
-- state that is not final.
CREATE FUNCTION civop_project_next_statuses(status text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE status
    WHEN 'proposed' THEN ARRAY['approved', 'cancelled']
    WHEN 'approved' THEN ARRAY['ongoing', 'cancelled']
    WHEN 'ongoing' THEN ARRAY['completed', 'cancelled']
    ELSE ARRAY[]::text[]
  END
$$;

CREATE FUNCTION civop_project_status_transition() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  allowed text[] := civop_project_next_statuses(OLD.status);
BEGIN
  IF NEW.status <> ALL (allowed)
     AND coalesce(current_setting('civop.context', true), '') NOT LIKE 'rollback:%' THEN
    RAISE EXCEPTION 'the project is %; it cannot become %: %', OLD.status, NEW.status,
      CASE WHEN cardinality(allowed) = 0 THEN OLD.status || ' is final'
           ELSE 'from ' || OLD.status || ' it may become ' || array_to_string(allowed, ' or ')
      END
      USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_projects_status_transition';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION civop_project_status_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO project_status_history (project_id, from_status, to_status, reason, context)
    SELECT n.id, NULL, n.status, nullif(current_setting('civop.reason', true), ''),
           current_setting('civop.context', true)
    FROM new_rows n;
  ELSE
    INSERT INTO project_status_history (project_id, from_status, to_status, reason, context)
    SELECT n.id, o.status, n.status, nullif(current_setting('civop.reason', true), ''),
           current_setting('civop.context', true)
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE o.status IS DISTINCT FROM n.status;
  END IF;
  RETURN NULL;
END $$;
"""  # noqa: S608 - fixed DDL

TRIGGERS = """
CREATE TRIGGER assistance_requests_touch BEFORE UPDATE ON assistance_requests
  FOR EACH ROW EXECUTE FUNCTION civop_touch();
CREATE TRIGGER assistance_requests_sector BEFORE INSERT OR UPDATE OF geom, sector_id
  ON assistance_requests FOR EACH ROW EXECUTE FUNCTION civop_assign_sector();
CREATE TRIGGER assistance_requests_workflow_guard BEFORE UPDATE ON assistance_requests
  FOR EACH ROW EXECUTE FUNCTION civop_request_workflow_guard();
CREATE TRIGGER assistance_requests_recorded AFTER INSERT ON assistance_requests
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION civop_request_recorded();
CREATE TRIGGER assistance_requests_audit_insert AFTER INSERT ON assistance_requests
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION civop_audit();
CREATE TRIGGER assistance_requests_audit_update AFTER UPDATE ON assistance_requests
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION civop_audit();
CREATE TRIGGER assistance_requests_audit_delete AFTER DELETE ON assistance_requests
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION civop_audit();
CREATE TRIGGER assistance_requests_layer_version
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON assistance_requests
  FOR EACH STATEMENT EXECUTE FUNCTION civop_bump_layer();
CREATE TRIGGER assistance_requests_events_insert AFTER INSERT ON assistance_requests
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION civop_record_events();
CREATE TRIGGER assistance_requests_events_update AFTER UPDATE ON assistance_requests
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION civop_record_events();
INSERT INTO layer_versions (collection) VALUES ('assistance_requests');

CREATE TRIGGER assistance_request_history_append_only
  BEFORE UPDATE OR DELETE ON assistance_request_history
  FOR EACH ROW EXECUTE FUNCTION civop_history_append_only();
CREATE TRIGGER project_status_history_append_only
  BEFORE UPDATE OR DELETE ON project_status_history
  FOR EACH ROW EXECUTE FUNCTION civop_history_append_only();

CREATE TRIGGER projects_status_transition BEFORE UPDATE OF status ON projects
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION civop_project_status_transition();
CREATE TRIGGER projects_status_history_insert AFTER INSERT ON projects
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION civop_project_status_history();
CREATE TRIGGER projects_status_history_update AFTER UPDATE ON projects
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION civop_project_status_history();

-- Projects that exist already start their history with the status they have.
INSERT INTO project_status_history (project_id, from_status, to_status, reason, changed_at)
SELECT id, NULL, status, 'status when the history began', updated_at FROM projects;
"""


def statements(script: str) -> list[str]:
    """Split on semicolons outside dollar-quoted bodies (asyncpg runs one statement at a time)."""
    parts, current, quoted = [], [], False
    for line in script.splitlines():
        if line.strip().startswith("--") and not quoted:
            continue
        current.append(line)
        quoted ^= line.count("$$") % 2 == 1
        if not quoted and line.rstrip().endswith(";"):
            parts.append("\n".join(current).strip())
            current = []
    return [part for part in parts if part]


def upgrade() -> None:
    for script in (TABLES, FUNCTIONS, TRIGGERS):
        for statement in statements(script):
            op.execute(statement)


def downgrade() -> None:
    for trigger in (
        "projects_status_history_update",
        "projects_status_history_insert",
        "projects_status_transition",
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON projects")
    op.execute("DELETE FROM layer_versions WHERE collection = 'assistance_requests'")
    for table in ("project_status_history", "assistance_request_history", "assistance_requests"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    for function in (
        "civop_project_status_history()",
        "civop_project_status_transition()",
        "civop_project_next_statuses(text)",
        "civop_request_workflow_guard()",
        "civop_request_recorded()",
        "civop_history_append_only()",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.execute("ALTER TABLE users DROP COLUMN IF EXISTS actor_id")
