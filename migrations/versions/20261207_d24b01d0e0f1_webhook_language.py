"""The language an alert webhook's people read

``alert_webhooks.language``: a language code (``fr``, ``ar``) in which a webhook's deliveries
carry their ``title`` and ``description``; empty, English (as before).

Revision ID: d24b01d0e0f1
Revises: d24a01d0e0f1
Create Date: 2026-12-07 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d24b01d0e0f1"
down_revision: str | None = "d24a01d0e0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alert_webhooks", sa.Column("language", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("alert_webhooks", "language")
