"""incident points index carries the verification state and the reporting partner: since field
reports, a tile draws an incident's verification state and the access rules read it (and the
reporting partner, for a partner's own reports), so tiles and pages read the table's rows again;
with both in the index they are answered from the index alone, as before

Revision ID: e29b01d0e0f1
Revises: e29a01d0e0f1
Create Date: 2026-12-07 20:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e29b01d0e0f1"
down_revision: str | None = "e29a01d0e0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Kept in step with ``service.core.records.POINT_INDEXED`` (migration c29a01d0e0f1).
POINT = "point(ST_X(geom), ST_Y(geom))"
CARRIED = "occurred_at, id, category, severity, classification, deleted_at, sector_id, geom"


def _index(carried: str) -> None:
    op.execute("DROP INDEX IF EXISTS ix_incidents_points")
    op.execute(
        f"CREATE INDEX ix_incidents_points ON incidents USING gist (({POINT})) INCLUDE ({carried})"
    )


def upgrade() -> None:
    _index(f"{CARRIED}, verification_state, reporting_actor_id")


def downgrade() -> None:
    _index(CARRIED)
