"""sexual-violence incidents stored below restricted are raised to restricted

The access policy now keeps every record of a category at least at that category's
classification floor (``service.access.policy.DEFAULT_FLOORS``): sexual-violence incidents
are restricted. Records written before, by hand or by an import that defaulted to
``mission``, are raised here; the audit log keeps what they were (context ``migration``).
Downgrading leaves them restricted: lowering them again would show them to readers who must
not see them.

Revision ID: a19b01c0d0e1
Revises: e2a4c6e8f0b3
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a19b01c0d0e1"
down_revision: str | None = "e2a4c6e8f0b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The floors of the policy's defaults when this revision was written (floors set in the
#: settings are applied on the next write of each record).
RAISE_TO_FLOORS = """
UPDATE incidents SET classification = 'restricted'
WHERE category = 'sexual_violence' AND classification IN ('public', 'mission')
"""


def upgrade() -> None:
    op.execute("SELECT set_config('civop.actor', 'migration', true)")
    op.execute("SELECT set_config('civop.context', 'migration:a19b01c0d0e1', true)")
    op.execute(RAISE_TO_FLOORS)
    op.execute("SELECT set_config('civop.context', '', true)")


def downgrade() -> None:
    """Nothing to undo: the raised records stay restricted (see the module docstring)."""
