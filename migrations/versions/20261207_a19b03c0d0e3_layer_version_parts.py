"""layer versions per part of a collection: one counter per classification, sector and owning
actor, so that the version a user sees moves only with the records that user may see

The counter of a whole collection (``layer_versions``) moved with every write, a restricted
incident's included: a partner polling ``/layers/versions`` (or revalidating a tile) learnt
when hidden records were written. Each write now also bumps, once per statement, the counter
of every (classification, sector, owner) its records were in before and are in after; the
version a user is shown is the sum of the counters of the parts that user may see
(``service.access.sql.version_parts``).

Revision ID: a19b03c0d0e3
Revises: a19b04c0d0e4
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a19b03c0d0e3"
down_revision: str | None = "a19b04c0d0e4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Each collection, with the column its sector scope is read from and its owning actor's.
COLLECTIONS = {
    "sectors": ("id", None),
    "actors": ("sector_id", None),
    "idp_sites": ("sector_id", None),
    "projects": ("sector_id", None),
    "incidents": ("sector_id", None),
    "bases": ("sector_id", None),
    "patrols": ("sector_id", None),
    "assistance_requests": ("sector_id", "requesting_actor_id"),
}

TABLE = """
CREATE TABLE layer_version_parts (
  collection text NOT NULL,
  classification text NOT NULL,
  sector_id uuid,
  owner_id uuid,
  version bigint NOT NULL DEFAULT 0,
  CONSTRAINT uq_layer_version_parts_collection UNIQUE NULLS NOT DISTINCT
    (collection, classification, sector_id, owner_id)
)
"""

#: TG_ARGV: the sector column, the owner column ('' for none). Every part a record of the
#: statement was in before or is in after is bumped once; a TRUNCATE bumps them all.
FUNCTION = r"""
CREATE FUNCTION civop_bump_layer_parts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  owner text := CASE WHEN TG_ARGV[1] = '' THEN 'NULL::uuid' ELSE quote_ident(TG_ARGV[1]) END;
  part text := 'SELECT classification, ' || quote_ident(TG_ARGV[0]) || ', ' || owner;
  parts text;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE layer_version_parts SET version = version + 1
    WHERE collection = civop_table_of(TG_TABLE_NAME);
    RETURN NULL;
  END IF;
  parts := CASE TG_OP
    WHEN 'INSERT' THEN part || ' FROM new_rows'
    WHEN 'DELETE' THEN part || ' FROM old_rows'
    ELSE part || ' FROM new_rows UNION ' || part || ' FROM old_rows' END;
  EXECUTE format(
    'INSERT INTO layer_version_parts AS p '
    '(collection, classification, sector_id, owner_id, version) '
    'SELECT DISTINCT %L, s.* , 1 FROM (%s) s '
    'ON CONFLICT (collection, classification, sector_id, owner_id) '
    'DO UPDATE SET version = p.version + 1',
    civop_table_of(TG_TABLE_NAME), parts);
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute(TABLE)
    op.execute(FUNCTION)
    for table, (sector, owner) in COLLECTIONS.items():
        arguments = f"'{sector}', '{owner or ''}'"
        for event, transition in (
            ("insert", "NEW TABLE AS new_rows"),
            ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("delete", "OLD TABLE AS old_rows"),
        ):
            op.execute(
                f"CREATE TRIGGER {table}_layer_parts_{event} AFTER {event.upper()} ON {table} "
                f"REFERENCING {transition} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION civop_bump_layer_parts({arguments})"
            )
        op.execute(
            f"CREATE TRIGGER {table}_layer_parts_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION civop_bump_layer_parts({arguments})"
        )
        # The records already there: one part each, so that the first write moves a version.
        owned = owner or "NULL::uuid"
        parts = f"SELECT DISTINCT '{table}', classification, {sector}, {owned}, 1 FROM {table}"  # noqa: S608
        op.execute(
            "INSERT INTO layer_version_parts "
            "(collection, classification, sector_id, owner_id, version) " + parts
        )


def downgrade() -> None:
    for table in COLLECTIONS:
        for event in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_layer_parts_{event} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS civop_bump_layer_parts()")
    op.execute("DROP TABLE IF EXISTS layer_version_parts")
