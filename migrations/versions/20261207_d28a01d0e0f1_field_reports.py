"""field reports: an incident's verification (reported, verified, discredited, with who, when
and why), the incident it duplicates, the partner whose form reported it; the intake forms of
KoboToolbox and ODK Central (a token per form, the classification its reports get, the
actor it belongs to, how its fields fill an incident's), the submissions received (one per
form and submission id, so that a retried delivery creates nothing twice), and the pairs an
analyst judged not to be duplicates

Incidents already stored were entered by staff as established facts: they are ``verified``.

Revision ID: d28a01d0e0f1
Revises: d22c01d0e0f1
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision: str = "d28a01d0e0f1"
down_revision: str | None = "d22c01d0e0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = "('reported', 'verified', 'discredited')"
ACTOR = "coalesce(current_setting('civop.actor', true), session_user)"


def _layer_parts_triggers(owner: str) -> None:
    """The incidents' layer version parts, keyed on the owning actor (``owner``, '' for none)."""
    for event, transition in (
        ("insert", "NEW TABLE AS new_rows"),
        ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("delete", "OLD TABLE AS old_rows"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS incidents_layer_parts_{event} ON incidents")
        op.execute(
            f"CREATE TRIGGER incidents_layer_parts_{event} AFTER {event.upper()} ON incidents "
            f"REFERENCING {transition} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION civop_bump_layer_parts('sector_id', '{owner}')"
        )
    op.execute("DROP TRIGGER IF EXISTS incidents_layer_parts_truncate ON incidents")
    op.execute(
        "CREATE TRIGGER incidents_layer_parts_truncate AFTER TRUNCATE ON incidents "
        f"FOR EACH STATEMENT EXECUTE FUNCTION civop_bump_layer_parts('sector_id', '{owner}')"
    )


def upgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column("verification_state", sa.Text(), nullable=False, server_default="verified"),
    )
    op.add_column("incidents", sa.Column("verified_by", sa.Text()))
    op.add_column("incidents", sa.Column("verified_at", sa.DateTime(timezone=True)))
    op.add_column("incidents", sa.Column("verification_reason", sa.Text()))
    op.add_column(
        "incidents",
        sa.Column(
            "duplicate_of_id",
            UUID(as_uuid=True),
            sa.ForeignKey("incidents.id", name="fk_incidents_duplicate_of_id"),
        ),
    )
    op.add_column(
        "incidents",
        sa.Column(
            "reporting_actor_id",
            UUID(as_uuid=True),
            sa.ForeignKey("actors.id", name="fk_incidents_reporting_actor_id"),
        ),
    )
    # Named as the models name them (``service.base.NAMING``), written out in SQL.
    op.execute(
        "ALTER TABLE incidents ADD CONSTRAINT ck_incidents_verification_state_allowed "
        f"CHECK (verification_state IN {STATES})"
    )
    op.execute(
        "ALTER TABLE incidents ADD CONSTRAINT ck_incidents_not_own_duplicate "
        "CHECK (duplicate_of_id IS DISTINCT FROM id)"
    )
    # The triage queue: the reports still to be judged, newest first.
    op.execute(
        "CREATE INDEX ix_incidents_reported ON incidents (occurred_at DESC, id) "
        "WHERE verification_state = 'reported' AND deleted_at IS NULL"
    )
    op.execute(
        "CREATE INDEX ix_incidents_duplicate_of_id ON incidents (duplicate_of_id) "
        "WHERE duplicate_of_id IS NOT NULL"
    )
    _layer_parts_triggers("reporting_actor_id")

    op.create_table(
        "intake_forms",
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("form_id", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("default_classification", sa.Text(), nullable=False, server_default="mission"),
        sa.Column(
            "owner_actor_id",
            UUID(as_uuid=True),
            sa.ForeignKey("actors.id", name="fk_intake_forms_owner_actor_id"),
        ),
        sa.Column("field_mapping", JSONB(), nullable=False, server_default="{}"),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("created_by", sa.Text(), nullable=False, server_default=sa.text(ACTOR)),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_intake_forms"),
        sa.UniqueConstraint("form_id", name="uq_intake_forms_form_id"),
        sa.CheckConstraint(
            "default_classification IN ('public', 'mission', 'restricted')",
            name="default_classification_allowed",
        ),
    )
    op.create_table(
        "intake_submissions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "form_id",
            UUID(as_uuid=True),
            sa.ForeignKey("intake_forms.id", name="fk_intake_submissions_form_id"),
            nullable=False,
        ),
        sa.Column("submission_id", sa.Text(), nullable=False),
        sa.Column(
            "incident_id",
            UUID(as_uuid=True),
            sa.ForeignKey(
                "incidents.id",
                name="fk_intake_submissions_incident_id",
                # The submission is kept with the id of the incident it will create, in the
                # transaction that creates it: a retried delivery waits for it, then finds it.
                deferrable=True,
                initially="DEFERRED",
            ),
        ),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("deliveries", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("payload", JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_intake_submissions"),
        sa.UniqueConstraint("form_id", "submission_id", name="uq_intake_submissions_form_id"),
    )
    op.create_index("ix_intake_submissions_incident_id", "intake_submissions", ["incident_id"])
    op.create_table(
        "duplicate_dismissals",
        sa.Column(
            "incident_id",
            UUID(as_uuid=True),
            sa.ForeignKey("incidents.id", name="fk_duplicate_dismissals_incident_id"),
            nullable=False,
        ),
        sa.Column(
            "candidate_id",
            UUID(as_uuid=True),
            sa.ForeignKey("incidents.id", name="fk_duplicate_dismissals_candidate_id"),
            nullable=False,
        ),
        sa.Column("dismissed_by", sa.Text(), nullable=False, server_default=sa.text(ACTOR)),
        sa.Column(
            "dismissed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("reason", sa.Text()),
        sa.PrimaryKeyConstraint("incident_id", "candidate_id", name="pk_duplicate_dismissals"),
    )


def downgrade() -> None:
    op.drop_table("duplicate_dismissals")
    op.drop_table("intake_submissions")
    op.drop_table("intake_forms")
    _layer_parts_triggers("")
    op.execute("DROP INDEX IF EXISTS ix_incidents_duplicate_of_id")
    op.execute("DROP INDEX IF EXISTS ix_incidents_reported")
    op.execute("ALTER TABLE incidents DROP CONSTRAINT ck_incidents_not_own_duplicate")
    op.execute("ALTER TABLE incidents DROP CONSTRAINT ck_incidents_verification_state_allowed")
    for name in (
        "reporting_actor_id",
        "duplicate_of_id",
        "verification_reason",
        "verified_at",
        "verified_by",
        "verification_state",
    ):
        op.drop_column("incidents", name)
