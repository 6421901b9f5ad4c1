"""origin + external_id is unique among the records each writer sees in full, not in the table

A unique constraint on (origin, external_id) refuses a key that a record hidden from the writer
holds, and so tells them that the record exists (ACLED and DTM ids are public). The service now
keeps keys unique among the live records each writer sees in full (``service.core.keys``);
the key stays indexed for that look-up and for matching imported rows.

On a database laid out for Citus the constraints of incidents and patrols are gone already and
their indexes exist (``docs/citus.sql`` before this revision): both steps are idempotent.
Downgrading brings the constraints back, which fails while two records share a key: remove or
re-key one of them first.

Revision ID: a19b02c0d0e2
Revises: a19b06c0d0e6
Create Date: 2026-12-07 07:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a19b02c0d0e2"
down_revision: str | None = "a19b06c0d0e6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLLECTIONS = (
    "sectors",
    "actors",
    "idp_sites",
    "projects",
    "incidents",
    "patrols",
    "bases",
    "assistance_requests",
)


def upgrade() -> None:
    for table in COLLECTIONS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS uq_{table}_origin_external_id")
        op.execute(
            f"CREATE INDEX IF NOT EXISTS ix_{table}_origin_external_id "
            f"ON {table} (origin, external_id)"
        )


def downgrade() -> None:
    for table in COLLECTIONS:
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_origin_external_id")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT uq_{table}_origin_external_id "
            "UNIQUE (origin, external_id)"
        )
