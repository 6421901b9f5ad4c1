"""The rules written once in service/sql/*.sql are the ones the database runs, and every path
that applies them agrees: the import's sector of a point (geo/sectors.py over the sectors in
the database's order) is ``civop_sector_at``'s wherever areas of every level overlap, share
edges or corners; the audit statement the triggers run is the one the service runs."""

from __future__ import annotations

import re
import uuid
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.sectors import SectorIndex
from service import sql
from service.audit import trail
from service.incidents.models import Incident

FUNCTION = re.compile(
    r"CREATE OR REPLACE FUNCTION (\w+)\((.*?)\).*?AS \$\$\n(.*?)\$\$;", re.DOTALL | re.IGNORECASE
)


def _defined() -> dict[str, str]:
    """Each function the files define, with its body."""
    found = {}
    for name in ("sectors", "audit"):
        for function, _, body in FUNCTION.findall(sql.read(name)):
            found[function] = body
    return found


async def test_the_database_runs_the_definitions_of_the_files(session: AsyncSession) -> None:
    defined = _defined()
    assert {"civop_sector_at", "civop_sector_rank", "civop_audit", "civop_audit_statement"} <= set(
        defined
    )
    rows = await session.execute(
        text("SELECT proname, prosrc FROM pg_proc WHERE proname = ANY(:names)"),
        {"names": list(defined)},
    )
    installed = {name: source for name, source in rows}
    assert set(installed) == set(defined)
    for name, body in defined.items():
        assert installed[name].strip() == body.strip(), name


#: Areas of every level, overlapping, sharing edges and corners: (level, box).
AREAS = [
    ("force", (20.0, 0.0, 30.0, 10.0)),
    ("force", (25.0, 0.0, 35.0, 10.0)),
    ("sector", (20.0, 0.0, 25.0, 5.0)),
    ("sector", (25.0, 0.0, 30.0, 5.0)),
    ("sector", (22.5, 2.5, 27.5, 7.5)),
    ("battalion", (21.0, 1.0, 23.0, 3.0)),
    ("battalion", (23.0, 1.0, 25.0, 3.0)),
    ("battalion", (22.0, 2.0, 24.0, 4.0)),
]


async def test_the_import_and_the_database_give_every_point_the_same_sector(
    session: AsyncSession,
) -> None:
    rng = np.random.default_rng(7)
    for level, (x0, y0, x1, y1) in AREAS:
        await session.execute(
            text(
                "INSERT INTO sectors (id, name, level, geom, classification) VALUES (:id, :name, "
                ":level, ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)), 'public')"
            ),
            {"id": uuid.UUID(int=int(rng.integers(1, 2**63))), "name": f"{level} {x0} {y0}"}
            | {"level": level, "x0": x0, "y0": y0, "x1": x1, "y1": y1},
        )
    # Every corner and edge of the areas (a half-degree grid), and points at random.
    grid = np.mgrid[19.5:35.5:0.5, -0.5:10.5:0.5].reshape(2, -1)
    x = np.concatenate([grid[0], rng.uniform(19, 36, 500)])
    y = np.concatenate([grid[1], rng.uniform(-1, 11, 500)])
    ordered = await session.execute(
        text(
            "SELECT id, ST_AsBinary(geom) FROM sectors WHERE deleted_at IS NULL "
            "ORDER BY civop_sector_rank(level), id"
        )
    )
    index = SectorIndex([(sector_id, bytes(wkb)) for sector_id, wkb in ordered])
    found = index.locate(x, y).to_pylist()
    expected = await session.execute(
        text(
            "SELECT civop_sector_at(ST_SetSRID(ST_MakePoint(p.x, p.y), 4326))::text "
            "FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY p(x, y, n) "
            "ORDER BY n"
        ),
        {"x": x.tolist(), "y": y.tolist()},
    )
    assert found == [sector for (sector,) in expected]
    assert len({s for s in found if s}) >= 8  # every kind of area claimed some point


async def test_the_service_and_the_trigger_run_one_audit_statement(session: AsyncSession) -> None:
    """The statement the service runs for a table without triggers is the function's, given
    the CTEs' names where the trigger gives its transition tables'."""
    run: Any = trail.on_session(session)
    table = Incident.__table__
    for kind, has_before, has_after in (
        ("insert", False, True),
        ("update", True, True),
        ("upsert", True, True),
        ("purge", True, False),
    ):
        statement = await trail.audit_statement(run, table, kind)  # type: ignore[arg-type]
        asked = await session.execute(
            text(
                "SELECT civop_audit_statement('incidents'::regclass, 'incidents', :rows, "
                ":created, '(SELECT fresh FROM counted)', :before, :after)"
            ),
            {"rows": trail._rows(kind), "created": trail._created(kind)}  # type: ignore[arg-type]
            | {"before": has_before, "after": has_after},
        )
        assert statement == asked.scalar_one()
        assert statement.startswith("INSERT INTO audit_log")
