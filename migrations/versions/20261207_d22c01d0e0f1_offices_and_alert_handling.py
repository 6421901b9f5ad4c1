"""offices and alert handling: the office a user decides for (the DSRSG/RC/HC, the HOMC or the
SRSG: requests for civil assistance await each office's decision), and alerts assigned to an
officer and annotated with notes

Revision ID: d22c01d0e0f1
Revises: d22e01d0e0f1
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d22c01d0e0f1"
down_revision: str | None = "d22e01d0e0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTOR = "coalesce(current_setting('civop.actor', true), session_user)"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE users ADD COLUMN office text, "
        "ADD CONSTRAINT ck_users_office_allowed CHECK (office IN ('dsrsg_rc_hc', 'homc', 'srsg')), "
        # An office decides for the mission: never a partner's account.
        "ADD CONSTRAINT ck_users_office_staff CHECK (office IS NULL OR role <> 'partner')"
    )
    op.execute(
        "ALTER TABLE alerts ADD COLUMN assigned_to text, ADD COLUMN assigned_at timestamptz, "
        "ADD COLUMN assigned_by text, ADD CONSTRAINT ck_alerts_assignment_complete CHECK "
        "((assigned_to IS NULL) = (assigned_at IS NULL) AND (assigned_to IS NULL) = "
        "(assigned_by IS NULL))"
    )
    op.execute(
        f"""CREATE TABLE alert_notes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  alert_id uuid NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
  note text NOT NULL,
  written_at timestamptz NOT NULL DEFAULT now(),
  written_by text NOT NULL DEFAULT {ACTOR},
  CONSTRAINT ck_alert_notes_note_length CHECK (length(note) BETWEEN 1 AND 5000)
)"""
    )
    op.execute("CREATE INDEX ix_alert_notes_alert_id ON alert_notes (alert_id, written_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS alert_notes")
    op.execute(
        "ALTER TABLE alerts DROP CONSTRAINT IF EXISTS ck_alerts_assignment_complete, "
        "DROP COLUMN IF EXISTS assigned_to, DROP COLUMN IF EXISTS assigned_at, "
        "DROP COLUMN IF EXISTS assigned_by"
    )
    op.execute(
        "ALTER TABLE users DROP CONSTRAINT IF EXISTS ck_users_office_staff, "
        "DROP CONSTRAINT IF EXISTS ck_users_office_allowed, DROP COLUMN IF EXISTS office"
    )
