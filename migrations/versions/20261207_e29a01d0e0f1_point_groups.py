"""point groups: the low-zoom tiles' counts of points, kept per zoom, cell and part

``point_groups`` holds, for each zoom below 8, each cell of the tiles' 32 x 32 grid and each
part of a collection a user may or may not see (classification, sector, owning actor,
verification state), the count of the points with the same drawn values, one of their ids, the
highest of their drawn numbers and the latest of their instants. ``point_group_builds`` says
which version of the collection (``layer_version_parts``) they were counted at: they are read
only while no write has happened since (``service.layers.groups``).

Revision ID: e29a01d0e0f1
Revises: d24b01d0e0f1
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e29a01d0e0f1"
down_revision: str | None = "d24b01d0e0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE point_groups (
          collection text NOT NULL,
          z smallint NOT NULL,
          cx integer NOT NULL,
          cy integer NOT NULL,
          classification text NOT NULL,
          sector_id uuid,
          owner_id uuid,
          verification_state text,
          drawn text[] NOT NULL,
          count integer NOT NULL,
          first_id text NOT NULL,
          highest double precision[] NOT NULL,
          latest timestamptz[] NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX ix_point_groups_cell ON point_groups (collection, z, cx, cy)")
    op.execute(
        """
        CREATE TABLE point_group_builds (
          collection text PRIMARY KEY,
          version bigint NOT NULL,
          built_at timestamptz NOT NULL DEFAULT now(),
          seconds double precision NOT NULL,
          groups integer NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS point_group_builds")
    op.execute("DROP TABLE IF EXISTS point_groups")
