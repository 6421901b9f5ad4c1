"""alert webhooks: URLs admins add in the browser, audited like users and API keys

Revision ID: d22e01d0e0f1
Revises: c21b01d0e0f1
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d22e01d0e0f1"
down_revision: str | None = "c21b01d0e0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_webhooks",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_by",
            sa.Text(),
            server_default=sa.text("coalesce(current_setting('civop.actor', true), session_user)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_webhooks")),
        sa.UniqueConstraint("url", name=op.f("uq_alert_webhooks_url")),
    )
    op.execute(
        "CREATE TRIGGER alert_webhooks_audit_insert AFTER INSERT ON alert_webhooks "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION civop_audit()"
    )
    op.execute(
        "CREATE TRIGGER alert_webhooks_audit_update AFTER UPDATE ON alert_webhooks "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION civop_audit()"
    )
    op.execute(
        "CREATE TRIGGER alert_webhooks_audit_delete AFTER DELETE ON alert_webhooks "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION civop_audit()"
    )


def downgrade() -> None:
    op.drop_table("alert_webhooks")
