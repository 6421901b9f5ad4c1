"""places: the gazetteer (cities, towns, villages, hamlets with other names and spellings)

A record table like the others (classification, origin/external_id, who/when, soft delete,
GiST, sector, audit, layer versions, live events); public by default. The map labels places,
its search box finds them by any of their names, and popups, alerts and reports name a point
by the nearest place the reader may see ("3 km NE of Dorosa").

Revision ID: c23a01d0e0f1
Revises: c29a01d0e0f1
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c23a01d0e0f1"
down_revision: str | None = "c29a01d0e0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTOR = "coalesce(current_setting('civop.actor', true), session_user)"

TABLE = f"""
CREATE TABLE places (
  name text NOT NULL,
  alternate_names text,
  place_class text NOT NULL DEFAULT 'village',
  population integer,
  admin1 text,
  admin2 text,
  geom geometry(Point, 4326) NOT NULL,
  sector_id uuid CONSTRAINT fk_places_sector_id REFERENCES sectors (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  origin text NOT NULL DEFAULT 'api',
  external_id text,
  classification text NOT NULL DEFAULT 'public',
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL DEFAULT {ACTOR},
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL DEFAULT {ACTOR},
  deleted_at timestamptz,
  deleted_by text,
  CONSTRAINT pk_places PRIMARY KEY (id),
  CONSTRAINT ck_places_classification_allowed
    CHECK (classification IN ('public', 'mission', 'restricted')),
  CONSTRAINT ck_places_place_class_allowed
    CHECK (place_class IN ('city', 'town', 'village', 'hamlet')),
  CONSTRAINT ck_places_population_range CHECK (population >= 0),
  CONSTRAINT ck_places_geom_valid CHECK (
    ST_IsValid(geom) AND NOT ST_IsEmpty(geom) AND ST_XMin(geom) >= -180
    AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90)
)
"""

STATEMENTS = (
    TABLE,
    "CREATE INDEX idx_places_geom ON places USING gist (geom)",
    "CREATE INDEX ix_places_sector_id ON places (sector_id)",
    "CREATE INDEX ix_places_origin_external_id ON places (origin, external_id)",
    "CREATE TRIGGER places_touch BEFORE UPDATE ON places FOR EACH ROW "
    "EXECUTE FUNCTION civop_touch()",
    "CREATE TRIGGER places_sector_insert BEFORE INSERT ON places FOR EACH ROW "
    "WHEN (NEW.sector_id IS NULL) EXECUTE FUNCTION civop_assign_sector()",
    "CREATE TRIGGER places_sector_update BEFORE UPDATE OF geom, sector_id ON places "
    "FOR EACH ROW EXECUTE FUNCTION civop_assign_sector()",
    "CREATE TRIGGER places_audit_insert AFTER INSERT ON places "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION civop_audit()",
    "CREATE TRIGGER places_audit_update AFTER UPDATE ON places "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION civop_audit()",
    "CREATE TRIGGER places_audit_delete AFTER DELETE ON places "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION civop_audit()",
    "CREATE TRIGGER places_layer_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
    "ON places FOR EACH STATEMENT EXECUTE FUNCTION civop_bump_layer()",
    "CREATE TRIGGER places_events_insert AFTER INSERT ON places "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION civop_record_events()",
    "CREATE TRIGGER places_events_update AFTER UPDATE ON places "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION civop_record_events()",
    "CREATE TRIGGER places_layer_parts_insert AFTER INSERT ON places "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION civop_bump_layer_parts('sector_id', '')",
    "CREATE TRIGGER places_layer_parts_update AFTER UPDATE ON places "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION civop_bump_layer_parts('sector_id', '')",
    "CREATE TRIGGER places_layer_parts_delete AFTER DELETE ON places "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION civop_bump_layer_parts('sector_id', '')",
    "CREATE TRIGGER places_layer_parts_truncate AFTER TRUNCATE ON places "
    "FOR EACH STATEMENT EXECUTE FUNCTION civop_bump_layer_parts('sector_id', '')",
    "INSERT INTO layer_versions (collection) VALUES ('places')",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DELETE FROM layer_version_parts WHERE collection = 'places'")
    op.execute("DELETE FROM layer_versions WHERE collection = 'places'")
    op.execute("DROP TABLE IF EXISTS places")
