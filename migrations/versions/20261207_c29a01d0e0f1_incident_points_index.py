"""incident points index: a GiST index on each incident's point that carries what a map tile,
a heat tile and the choice of a page of items read (time, id, category, severity, the access
columns and the geometry), so that they are answered from the index alone, without reading
the table's rows scattered over the disk

Revision ID: c29a01d0e0f1
Revises: c27a01d0e0f1
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c29a01d0e0f1"
down_revision: str | None = "c27a01d0e0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Kept in step with ``service.core.records.POINT_INDEXED``, whose bbox filter is
#: written as this expression so that the planner finds the index.
POINT = "point(ST_X(geom), ST_Y(geom))"


def upgrade() -> None:
    # Built sorted (PostgreSQL 14+ for points): seconds for a million incidents.
    op.execute(
        f"CREATE INDEX ix_incidents_points ON incidents USING gist (({POINT})) "
        "INCLUDE (occurred_at, id, category, severity, classification, deleted_at, sector_id, geom)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_incidents_points")
