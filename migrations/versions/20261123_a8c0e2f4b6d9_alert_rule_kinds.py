"""alert rules on the risk overlay and on emerging hot spots; retention of the event log

Two time-based rule kinds: ``risk_threshold`` (a site's risk cell crossing a threshold) and
``hotspot`` (a new or intensifying hot spot). Their parameters are new columns of
``alert_rules`` (with ``sector_id``, the area a rule watches); what each rule last saw of each
site or cell (above the threshold, the hot-spot trend) is kept in ``alert_rule_states``, so a
condition raises once per change and not once per evaluation. ``alert_schedule_state`` holds
when the time-based rules were last evaluated, up to which event, and up to which id the event
log has been pruned (a client resuming from an older id is told to reload); the event log gets
an index on its time for the pruning.

Downgrading deletes the rules of the two kinds, their alerts and their states.

Revision ID: a8c0e2f4b6d9
Revises: f6a8b0c2d4e7
Create Date: 2026-11-23 02:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a8c0e2f4b6d9"
down_revision: str | None = "f6a8b0c2d4e7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = "'incident_near_site', 'incident_cluster', 'armed_group_near_site'"
KINDS_AFTER = f"{KINDS_BEFORE}, 'risk_threshold', 'hotspot'"

PARAMETERS_BEFORE = """
    CASE kind
      WHEN 'incident_near_site' THEN radius_km IS NOT NULL AND min_severity IS NOT NULL
      WHEN 'incident_cluster' THEN min_count IS NOT NULL AND window_hours IS NOT NULL
                                   AND cell_km IS NOT NULL
      WHEN 'armed_group_near_site' THEN radius_km IS NOT NULL
    END"""

PARAMETERS_AFTER = """
    CASE kind
      WHEN 'incident_near_site' THEN radius_km IS NOT NULL AND min_severity IS NOT NULL
      WHEN 'incident_cluster' THEN min_count IS NOT NULL AND window_hours IS NOT NULL
                                   AND cell_km IS NOT NULL
      WHEN 'armed_group_near_site' THEN radius_km IS NOT NULL
      WHEN 'risk_threshold' THEN threshold IS NOT NULL AND resolution IS NOT NULL
                                 AND window_days IS NOT NULL
      WHEN 'hotspot' THEN resolution IS NOT NULL AND window_days IS NOT NULL
                          AND windows IS NOT NULL AND alpha IS NOT NULL
                          AND z_change IS NOT NULL AND trends IS NOT NULL
    END"""

COLUMNS = (
    ("threshold", "double precision", "threshold > 0"),
    ("resolution", "integer", "resolution BETWEEN 3 AND 10"),
    ("window_days", "double precision", "window_days > 0 AND window_days <= 3650"),
    ("windows", "integer", "windows BETWEEN 2 AND 52"),
    ("alpha", "double precision", "alpha > 0 AND alpha < 1"),
    ("z_change", "double precision", "z_change > 0 AND z_change <= 10"),
    (
        "trends",
        "text[]",
        "cardinality(trends) >= 1 AND trends <@ ARRAY['new', 'intensifying']::text[]",
    ),
)


def _set_rule_checks(kinds: str, parameters: str) -> None:
    op.execute("ALTER TABLE alert_rules DROP CONSTRAINT ck_alert_rules_kind_allowed")
    op.execute("ALTER TABLE alert_rules DROP CONSTRAINT ck_alert_rules_parameters_given")
    op.execute(
        "ALTER TABLE alert_rules ADD CONSTRAINT ck_alert_rules_kind_allowed "
        f"CHECK (kind IN ({kinds}))"
    )
    op.execute(
        "ALTER TABLE alert_rules ADD CONSTRAINT ck_alert_rules_parameters_given "
        f"CHECK ({parameters})"
    )


def upgrade() -> None:
    for name, sql_type, check in COLUMNS:
        op.execute(f"ALTER TABLE alert_rules ADD COLUMN {name} {sql_type}")
        op.execute(
            f"ALTER TABLE alert_rules ADD CONSTRAINT ck_alert_rules_{name}_range CHECK ({check})"
        )
    op.execute("ALTER TABLE alert_rules ADD COLUMN sector_id uuid REFERENCES sectors (id)")
    _set_rule_checks(KINDS_AFTER, PARAMETERS_AFTER)
    op.execute(
        """
        CREATE TABLE alert_rule_states (
          rule_id uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
          subject text NOT NULL,
          state text NOT NULL,
          value double precision,
          changed_at timestamptz NOT NULL DEFAULT now(),
          evaluated_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (rule_id, subject)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE alert_schedule_state (
          id integer PRIMARY KEY DEFAULT 1,
          evaluated_at timestamptz,
          evaluated_through bigint NOT NULL DEFAULT 0,
          events_pruned_through bigint NOT NULL DEFAULT 0,
          CONSTRAINT ck_alert_schedule_state_single CHECK (id = 1)
        )
        """
    )
    op.execute("INSERT INTO alert_schedule_state (id) VALUES (1)")
    op.execute("CREATE INDEX ix_events_created_at ON events (created_at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_events_created_at")
    op.execute("DROP TABLE IF EXISTS alert_schedule_state")
    op.execute("DROP TABLE IF EXISTS alert_rule_states")
    new_kinds = "kind IN ('risk_threshold', 'hotspot')"
    op.execute(
        f"DELETE FROM alerts WHERE rule_id IN (SELECT id FROM alert_rules WHERE {new_kinds})"  # noqa: S608 - fixed DDL
    )
    op.execute(f"DELETE FROM alert_rules WHERE {new_kinds}")  # noqa: S608 - fixed DDL
    _set_rule_checks(KINDS_BEFORE, PARAMETERS_BEFORE)
    op.execute("ALTER TABLE alert_rules DROP COLUMN sector_id")
    for name, _, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE alert_rules DROP CONSTRAINT ck_alert_rules_{name}_range")
        op.execute(f"ALTER TABLE alert_rules DROP COLUMN {name}")
