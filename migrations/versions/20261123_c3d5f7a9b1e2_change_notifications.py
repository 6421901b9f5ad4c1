"""change notifications: every committed change to a layer, a user or an API key is announced
on the 'civop_changes' channel, so each service process can keep its caches exact

Revision ID: c3d5f7a9b1e2
Revises: b2c4e6f80a12
Create Date: 2026-11-23 00:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c3d5f7a9b1e2"
down_revision: str | None = "b2c4e6f80a12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCOUNT_TABLES = ("users", "api_keys")


def upgrade() -> None:
    op.execute(
        "CREATE OR REPLACE FUNCTION civop_bump_layer() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  INSERT INTO layer_versions (collection, version, changed_at) VALUES (TG_TABLE_NAME, 1, now())\n"
        "  ON CONFLICT (collection) DO UPDATE\n"
        "    SET version = layer_versions.version + 1, changed_at = now();\n"
        "  PERFORM pg_notify('civop_changes', TG_TABLE_NAME);\n"
        "  RETURN NULL;\n"
        "END $$"
    )
    op.execute(
        "CREATE FUNCTION civop_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  PERFORM pg_notify('civop_changes', TG_TABLE_NAME);\n"
        "  RETURN NULL;\n"
        "END $$"
    )
    for table in ACCOUNT_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION civop_notify_change()"
        )


def downgrade() -> None:
    for table in ACCOUNT_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
    op.execute("DROP FUNCTION IF EXISTS civop_notify_change()")
    op.execute(
        "CREATE OR REPLACE FUNCTION civop_bump_layer() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  INSERT INTO layer_versions (collection, version, changed_at) VALUES (TG_TABLE_NAME, 1, now())\n"
        "  ON CONFLICT (collection) DO UPDATE\n"
        "    SET version = layer_versions.version + 1, changed_at = now();\n"
        "  RETURN NULL;\n"
        "END $$"
    )
