"""geometry outlines: a bounded copy of every stored geometry with more vertices than a map tile
or an analysis can work through within a request, kept by trigger

Geometries are limited on every way in (``geometry_max_vertices``), but one loaded before the
limits, written by SQL, or a detailed sector boundary may hold far more. PostGIS works through
such a geometry in calls that do not look for a cancel request (``ST_Simplify`` on a million
vertices ran for tens of seconds past the statement timeout, deaf to ``pg_cancel_backend``), so
tiles and analyses read ``geometry_outlines.geom`` instead: the geometry snapped to a grid just
coarse enough to leave at most ``OUTLINE_VERTICES`` vertices (linear time, however the
geometry is shaped). Rows within the bound have no outline.

Revision ID: a19b05c0d0e5
Revises: a19b03c0d0e3
Create Date: 2026-12-07 08:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a19b05c0d0e5"
down_revision: str | None = "a19b03c0d0e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The most vertices an outline has (and the most a geometry may have without one).
OUTLINE_VERTICES = 50_000
#: Tables whose geometries may be lines or areas.
TABLES = ("sectors", "actors", "idp_sites", "projects", "patrols", "assistance_requests")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE geometry_outlines (
            collection text NOT NULL,
            record_id uuid NOT NULL,
            vertices integer NOT NULL,
            geom geometry(Geometry, 4326) NOT NULL,
            PRIMARY KEY (collection, record_id)
        )
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION civop_outline(shape geometry) RETURNS geometry
        LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
        DECLARE
            cell double precision;
            snapped geometry;
        BEGIN
            IF ST_NPoints(shape) <= {OUTLINE_VERTICES} THEN
                RETURN NULL;
            END IF;
            -- A grid cell such that the boundary passes through at most the bound of cells;
            -- doubled until the snapped copy keeps within it (each try is linear).
            cell := greatest(ST_Perimeter(shape) + ST_Length(shape), 1e-9) * 4
                / {OUTLINE_VERTICES};
            LOOP
                snapped := ST_SnapToGrid(shape, cell);
                EXIT WHEN ST_IsEmpty(snapped) OR ST_NPoints(snapped) <= {OUTLINE_VERTICES};
                cell := cell * 2;
            END LOOP;
            IF ST_IsEmpty(snapped) THEN
                RETURN ST_Envelope(shape);
            END IF;
            RETURN snapped;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION civop_keep_outline() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            outline geometry;
            own_table text := civop_table_of(TG_TABLE_NAME);
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                DELETE FROM geometry_outlines o
                WHERE o.collection = own_table AND o.record_id = OLD.id;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                outline := civop_outline(NEW.geom);
                IF outline IS NOT NULL THEN
                    INSERT INTO geometry_outlines (collection, record_id, vertices, geom)
                    VALUES (own_table, NEW.id, ST_NPoints(NEW.geom), outline);
                END IF;
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    big_old = f"ST_NPoints(OLD.geom) > {OUTLINE_VERTICES}"
    big_new = f"ST_NPoints(NEW.geom) > {OUTLINE_VERTICES}"
    for table in TABLES:
        # The conditions are checked without calling the function: the many ordinary rows of
        # an import pay next to nothing.
        for name, event, when in (
            ("civop_outline_on_insert", "INSERT", big_new),
            ("civop_outline_on_update", "UPDATE OF geom", f"{big_old} OR {big_new}"),
            ("civop_outline_on_delete", "DELETE", big_old),
        ):
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION civop_keep_outline()"
            )
        backfill = (
            "INSERT INTO geometry_outlines (collection, record_id, vertices, geom) "  # noqa: S608 - fixed names
            f"SELECT '{table}', id, ST_NPoints(geom), civop_outline(geom) FROM {table} "
            f"WHERE ST_NPoints(geom) > {OUTLINE_VERTICES}"
        )
        op.execute(backfill)


def downgrade() -> None:
    for table in TABLES:
        for name in (
            "civop_outline_on_insert",
            "civop_outline_on_update",
            "civop_outline_on_delete",
        ):
            op.execute(f"DROP TRIGGER {name} ON {table}")
    op.execute("DROP FUNCTION civop_keep_outline()")
    op.execute("DROP FUNCTION civop_outline(geometry)")
    op.execute("DROP TABLE geometry_outlines")
