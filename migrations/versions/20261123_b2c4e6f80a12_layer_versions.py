"""layer versions: a counter per collection, bumped by every change, for tile cache validation

Revision ID: b2c4e6f80a12
Revises: a1d17c0f2b10
Create Date: 2026-11-23 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b2c4e6f80a12"
down_revision: str | None = "a1d17c0f2b10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LAYER_TABLES = ("sectors", "actors", "idp_sites", "projects", "incidents", "bases", "patrols")


def upgrade() -> None:
    op.create_table(
        "layer_versions",
        sa.Column("collection", sa.Text(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
    )
    op.execute(
        "CREATE FUNCTION civop_bump_layer() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  INSERT INTO layer_versions (collection, version, changed_at) VALUES (TG_TABLE_NAME, 1, now())\n"
        "  ON CONFLICT (collection) DO UPDATE\n"
        "    SET version = layer_versions.version + 1, changed_at = now();\n"
        "  RETURN NULL;\n"
        "END $$"
    )
    for table in LAYER_TABLES:
        op.get_bind().execute(
            sa.text("INSERT INTO layer_versions (collection) VALUES (:c)"), {"c": table}
        )
        op.execute(
            f"CREATE TRIGGER {table}_layer_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION civop_bump_layer()"
        )


def downgrade() -> None:
    for table in LAYER_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_layer_version ON {table}")
    op.execute("DROP FUNCTION IF EXISTS civop_bump_layer()")
    op.drop_table("layer_versions")
