"""login attempts counted in the database; population figures corrected and withdrawn

``login_throttle`` holds one row per account, per client address and per (address, account):
the attempts counted before each password check, the back-off they earned and the last
successful login of the pair. Every service process and every restart share it.

A population figure is no longer deleted: a withdrawal keeps who withdrew it, when and why,
and a correction who changed it last and when (the audit trail keeps the values before).

Revision ID: a19b06c0d0e6
Revises: a19b01c0d0e1
Create Date: 2026-12-07 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a19b06c0d0e6"
down_revision: str | None = "a19b01c0d0e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("username", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("forget_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "scope IN ('pair', 'account', 'address')", name=op.f("ck_login_throttle_scope")
        ),
        sa.PrimaryKeyConstraint("scope", "address", "username", name=op.f("pk_login_throttle")),
    )
    op.create_index(op.f("ix_login_throttle_forget_at"), "login_throttle", ["forget_at"])
    op.add_column(
        "site_population", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("site_population", sa.Column("updated_by", sa.Text(), nullable=True))
    op.add_column(
        "site_population", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("site_population", sa.Column("withdrawn_by", sa.Text(), nullable=True))
    op.add_column("site_population", sa.Column("withdrawn_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    # Without the columns a withdrawn figure would stand again: it goes (the audit trail keeps it).
    op.execute("DELETE FROM site_population WHERE withdrawn_at IS NOT NULL")
    for column in ("withdrawn_reason", "withdrawn_by", "withdrawn_at", "updated_by", "updated_at"):
        op.drop_column("site_population", column)
    op.drop_index(op.f("ix_login_throttle_forget_at"), table_name="login_throttle")
    op.drop_table("login_throttle")
