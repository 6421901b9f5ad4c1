"""The language each user reads civop in, and alerts in every language

``users.language``: a language code (``fr``, ``ar``) the user picked on the map or through
``PATCH /auth/me``; empty, the browser's ``Accept-Language`` decides. ``alerts.texts``: an
alert's title and description in each language besides English (``{"fr": {"title": ...,
"description": ...}}``), written when it is raised.

Revision ID: d24a01d0e0f1
Revises: d28a01d0e0f1
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d24a01d0e0f1"
down_revision: str | None = "d28a01d0e0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("language", sa.Text(), nullable=True))
    op.add_column("alerts", sa.Column("texts", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("alerts", "texts")
    op.drop_column("users", "language")
