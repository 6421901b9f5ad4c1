"""Import benchmark: a GeoPackage of N points (default 1,000,000) into incidents with
``civop import`` (streaming, every check on, audit on), side by side with
``ogr2ogr -f PostgreSQL ... -gt 65536`` loading the same file into a plain table.

Prints both wall times and our peak memory (target under 1 GiB), and the ratio against the
equal-work reference (target <= 1.0): once both have loaded, it times the work the import does
that ogr2ogr does not, done to ogr2ogr's table: the secondary indexes incidents keeps on the
columns the file has, then one audit row per record (lean rows, in record order, into a copy of
the audit log as the import found it: same columns, defaults and indexes), the audit as the
target defines it (the import itself writes one row per bulk creation, listing the records).
To keep the reference honest it lists the indexes and keys of both tables and those only one
of them has. It also prints where the import's time went. Builds its own file in a temporary
folder and its own scratch database on the server DATABASE_URL names (the project-local
cluster by default), dropped at the end.

    .venv/bin/python bench/bench_import.py [--rows 1000000] [--repeat 1] [--keep]
        [--without-statement-triggers]

``--without-statement-triggers`` drops the audit, event and layer-version statement triggers of
incidents and patrols first, as a Citus set-up does (docs/scaling.md): the service then writes
the audit rows itself (``service.audit.trail``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import shapely

from service.audit import trail

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CATEGORIES = np.array(["armed_clash", "looting", "abduction", "explosive_hazard", "other"])
SECTORS = [
    # name, level, (x0, y0, x1, y1): the force area, two sectors, four battalion areas.
    ("Force", "force", (23.0, 3.0, 29.0, 9.0)),
    ("North", "sector", (23.0, 6.0, 29.0, 9.0)),
    ("South", "sector", (23.0, 3.0, 29.0, 6.0)),
    ("North-West", "battalion", (23.0, 6.0, 26.0, 9.0)),
    ("North-East", "battalion", (26.0, 6.0, 29.0, 9.0)),
    ("South-West", "battalion", (23.0, 3.0, 26.0, 6.0)),
    ("South-East", "battalion", (26.0, 3.0, 29.0, 6.0)),
]


def build_file(path: Path, rows: int, seed: int = 7) -> None:
    """N incidents in the mission area, written in batches (the file is built, not held)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00", "s")
    step = 200_000
    for first in range(0, rows, step):
        n = min(step, rows - first)
        x, y = rng.uniform(23.0, 29.0, n), rng.uniform(3.0, 9.0, n)
        seconds = rng.integers(0, 600 * 86_400, n).astype("timedelta64[s]")
        table = pa.table(
            {
                "external_id": pa.array([f"bench-{i}" for i in range(first, first + n)]),
                "category": pa.array(CATEGORIES[rng.integers(0, len(CATEGORIES), n)]),
                "occurred_at": pa.array((start + seconds).astype("datetime64[ms]")),
                "severity": pa.array(rng.integers(1, 6, n).astype("int32")),
                "killed": pa.array(rng.integers(0, 4, n).astype("int32")),
                "description": pa.array(
                    [f"Incident {i} reported by patrol" for i in range(first, first + n)]
                ),
                "geometry": pa.array(shapely.to_wkb(shapely.points(x, y)), pa.binary()),
            }
        )
        pyogrio.write_arrow(
            table,
            path,
            layer="incidents",
            driver="GPKG",
            geometry_name="geometry",
            geometry_type="Point",
            crs="EPSG:4326",
            append=first > 0,
        )


def psql(url: str, *commands: str) -> None:
    args = ["psql", url, "-v", "ON_ERROR_STOP=1", "-q"]
    for command in commands:
        args += ["-c", command]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def scalar(url: str, query: str) -> str:
    out = subprocess.run(["psql", url, "-Atc", query], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stdout, stderr = process.communicate()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(stdout.decode() + stderr.decode())
        raise SystemExit(f"{args[0]} failed")
    return wall, usage.ru_maxrss / 1024


#: The secondary indexes of incidents on the columns ogr2ogr's table has (its own primary key
#: and GiST index it builds itself).
SAME_INDEXES = (
    # The point index tiles and pages read (migration c29a01d0e0f1), with the columns it
    # carries that the file has.
    "CREATE INDEX ON ogr_plain USING gist ((point(ST_X(geom), ST_Y(geom))))"
    " INCLUDE (occurred_at, fid, category, severity, geom)",
    "CREATE INDEX ON ogr_plain (category, occurred_at)",
    "CREATE INDEX ON ogr_plain (occurred_at, fid)",
    "ALTER TABLE ogr_plain ADD UNIQUE (external_id)",
)
#: One lean audit row per record of ogr2ogr's table, as a bulk import's trigger writes them, into
#: an empty copy of the audit log (the import's own audit rows are in the real one). The copy and
#: the ids (uuids, as incidents has) are made first, untimed.
AUDIT_COPY = (
    "CREATE TABLE ogr_audit_log (LIKE audit_log INCLUDING ALL)",
    "CREATE TABLE ogr_ids AS SELECT md5(fid::text)::uuid AS id FROM ogr_plain",
    "CHECKPOINT",
)
SAME_AUDIT = (
    "SET civop.context = 'reference:ogr2ogr'",
    "INSERT INTO ogr_audit_log (action, collection, record_id) "
    "SELECT 'create', 'ogr_plain', id FROM ogr_ids ORDER BY id",
)


#: The indexes and foreign keys of a table, in words comparable between incidents and
#: ogr2ogr's table (whose integer ``fid`` plays the part of incidents' uuid ``id``).
KEPT = r"""
SELECT (CASE WHEN i.indisprimary THEN 'primary key ' WHEN i.indisunique THEN 'unique '
        ELSE '' END) || regexp_replace(regexp_replace(pg_get_indexdef(i.indexrelid), '\mfid\M', 'id', 'g'),
                                      '^.* USING ', '')
FROM pg_index i WHERE i.indrelid = '{table}'::regclass
UNION ALL
SELECT 'foreign key ' || pg_get_constraintdef(c.oid)
FROM pg_constraint c WHERE c.conrelid = '{table}'::regclass AND c.contype = 'f'
ORDER BY 1
"""


def kept(url: str, table: str) -> list[str]:
    return scalar(url, KEPT.format(table=table)).splitlines()


def _seconds(url: str, commands: tuple[str, ...]) -> float:
    started = time.perf_counter()
    psql(url, *commands)
    return time.perf_counter() - started


@dataclass
class Run:
    ogr_wall: float
    ogr_rss: float
    ogr_indexes: float
    ogr_audit: float
    ours_wall: float
    ours_rss: float
    loaded: int
    plain: int
    audited: int
    #: Records the audit rows name (an import's bulk creation is one row naming them all).
    named: int
    phases: dict[str, float]

    @property
    def reference(self) -> float:
        """The equal-work reference: ogr2ogr, then the same indexes and audit rows."""
        return self.ogr_wall + self.ogr_indexes + self.ogr_audit

    #: The indexes and foreign keys of incidents and of the reference's table.
    ours_kept: list[str]
    reference_kept: list[str]


def one_run(path: Path, base: str, without_statement_triggers: bool, keep: bool) -> Run:
    """Both loaders on the file, each into a fresh scratch database of its own run."""
    server, _, _ = base.rpartition("/")
    name = f"civop_bench_{secrets.token_hex(4)}"
    admin, scratch = f"{server}/postgres", f"{server}/{name}"
    env = dict(os.environ, DATABASE_URL=scratch, CIVOP_DEMO="1")
    psql(admin, f'CREATE DATABASE "{name}"')
    try:
        psql(scratch, "CREATE EXTENSION postgis")
        subprocess.run(
            [str(BIN / "civop"), "db", "upgrade"],
            env=env,
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        for sector, level, (x0, y0, x1, y1) in SECTORS:  # constants, not input
            psql(
                scratch,
                f"INSERT INTO sectors (name, level, geom, classification) VALUES "  # noqa: S608
                f"('{sector}', '{level}', ST_Multi(ST_MakeEnvelope({x0}, {y0}, "
                f"{x1}, {y1}, 4326)), 'public')",
            )
        if without_statement_triggers:
            psql(scratch, scalar(scratch, trail.DROP_STATEMENT_TRIGGERS))
        psql(scratch, "ANALYZE")
        # Both loaders start from the same state: nothing dirty waiting to be written.
        psql(scratch, "CHECKPOINT")
        print("ogr2ogr ...", flush=True)
        pg = scratch.replace("postgresql://", "")
        user_host, _, db = pg.rpartition("/")
        user, _, hostport = user_host.rpartition("@")
        host, _, port = hostport.partition(":")
        conn = f"PG:host={host} port={port or 5432} user={user} dbname={db}"
        ogr_wall, ogr_rss = timed(
            ["ogr2ogr", "-f", "PostgreSQL", conn, str(path), "-nln", "ogr_plain", "-gt", "65536"],
            env,
        )
        psql(scratch, "CHECKPOINT")
        print("civop import ...", flush=True)
        ours_wall, ours_rss = timed(
            [str(BIN / "civop"), "import", str(path), "--into", "incidents", "--origin", "bench"],
            env,
        )
        print("the reference: ogr2ogr's table with the same indexes and audit rows ...", flush=True)
        psql(scratch, *AUDIT_COPY)
        ogr_indexes = _seconds(scratch, SAME_INDEXES)
        ogr_audit = _seconds(scratch, SAME_AUDIT)
        return Run(
            ogr_wall,
            ogr_rss,
            ogr_indexes,
            ogr_audit,
            ours_wall,
            ours_rss,
            loaded=int(scalar(scratch, "SELECT count(*) FROM incidents WHERE origin = 'bench'")),
            plain=int(scalar(scratch, "SELECT count(*) FROM ogr_plain")),
            audited=int(
                scalar(scratch, "SELECT count(*) FROM audit_log WHERE context LIKE 'import:%'")
            ),
            named=int(
                scalar(
                    scratch,
                    "SELECT coalesce(sum(coalesce(cardinality(record_ids), 1)), 0) "
                    "FROM audit_log WHERE context LIKE 'import:%'",
                )
            ),
            ours_kept=kept(scratch, "incidents"),
            reference_kept=kept(scratch, "ogr_plain"),
            phases=json.loads(
                scalar(scratch, "SELECT options->'seconds' FROM import_jobs WHERE origin = 'bench'")
            ),
        )
    finally:
        if keep:
            print(f"scratch database kept: {scratch}")
        else:
            psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs, each on a fresh database; medians reported"
    )
    parser.add_argument(
        "--without-statement-triggers",
        action="store_true",
        help="drop the statement triggers of incidents and patrols, as a Citus set-up does",
    )
    options = parser.parse_args()
    if options.repeat < 1:
        parser.error("--repeat must be at least 1")

    port = os.environ.get("CIVOP_PG_PORT", "55432")
    base = os.environ.get("DATABASE_URL", f"postgresql://civop@127.0.0.1:{port}/civop")
    base = base.replace("postgresql+asyncpg://", "postgresql://")

    with tempfile.TemporaryDirectory(prefix="civop-bench-") as folder:
        path = Path(folder) / "incidents.gpkg"
        print(f"building {options.rows:,} points into {path.name} ...", flush=True)
        build_file(path, options.rows)
        size_mb = path.stat().st_size / 1024**2
        runs = [
            one_run(path, base, options.without_statement_triggers, options.keep)
            for _ in range(options.repeat)
        ]

    print()
    print(f"import benchmark: {options.rows:,} points, GeoPackage {size_mb:.0f} MiB")
    if len(runs) > 1:
        print(
            f"{'run':>4} {'ogr2ogr s':>10} {'reference s':>12} {'civop s':>8} "
            f"{'ratio to reference':>19}"
        )
        for number, run in enumerate(runs, 1):
            print(
                f"{number:>4} {run.ogr_wall:>10.1f} {run.reference:>12.1f} "
                f"{run.ours_wall:>8.1f} {run.ours_wall / run.reference:>19.2f}"
            )
        print(f"medians of {len(runs)} runs:")
    ogr_wall = statistics.median(r.ogr_wall for r in runs)
    ours_wall = statistics.median(r.ours_wall for r in runs)
    ogr_rss = max(r.ogr_rss for r in runs)
    ours_rss = max(r.ours_rss for r in runs)
    last = runs[-1]
    phases = {k: statistics.median(r.phases[k] for r in runs) for k in last.phases}
    ratio = ours_wall / ogr_wall
    print(f"{'loader':<52} {'rows':>10} {'wall s':>8} {'peak RSS MiB':>13}")
    print(
        f"{'ogr2ogr -f PostgreSQL -gt 65536 (plain table)':<52} {last.plain:>10,} {ogr_wall:>8.1f} {ogr_rss:>13.0f}"
    )
    print(
        f"{'civop import --into incidents (checked, audited)':<52} {last.loaded:>10,} {ours_wall:>8.1f} {ours_rss:>13.0f}"
    )
    print(f"ratio civop / ogr2ogr alone: {ratio:.2f}")
    indexes = statistics.median(r.ogr_indexes for r in runs)
    audit = statistics.median(r.ogr_audit for r in runs)
    same = statistics.median(r.reference for r in runs)
    to_same = statistics.median(r.ours_wall / r.reference for r in runs)
    print(
        f"the equal-work reference, ogr2ogr plus the {len(SAME_INDEXES)} secondary indexes "
        f"incidents keeps on the file's columns ({indexes:.1f} s) and one audit row per record "
        f"({audit:.1f} s): {same:.1f} s"
    )
    print(
        f"ratio civop / equal-work reference: {to_same:.2f}  "
        f"(target <= 1.0: {'met' if to_same <= 1.0 else 'NOT met'})"
    )
    # Keep the reference honest: what it builds against what incidents keeps.
    ours_only = [k for k in last.ours_kept if k not in last.reference_kept]
    reference_only = [k for k in last.reference_kept if k not in last.ours_kept]
    print(f"indexes and keys civop builds ({len(last.ours_kept)}): {'; '.join(last.ours_kept)}")
    print(
        f"indexes and keys of the reference ({len(last.reference_kept)}, with ogr2ogr's primary "
        f"key and spatial index): {'; '.join(last.reference_kept)}"
    )
    print(
        "  civop's alone (work the reference does not do): "
        + ("; ".join(ours_only) or "none")
        + "; the reference's alone: "
        + ("; ".join(reference_only) or "none")
    )
    print(
        "  the reference's audit is one row per record (the audit as the target defines it); "
        "civop's is one row per bulk creation listing the records (allowed by the target); the "
        "reference finds no sector, runs no check and no ANALYZE"
    )
    print(
        f"civop peak memory: {ours_rss:.0f} MiB  (target < 1024: {'met' if ours_rss < 1024 else 'NOT met'})"
    )
    writer = "the service" if options.without_statement_triggers else "the statement triggers"
    print(
        f"audit rows written by the import: {last.audited:,}, naming {last.named:,} records "
        f"(written by {writer}; an import's creation of more than 1,000 records is one row "
        "that lists them, where the reference writes one row per record)"
    )
    print(
        "civop phases (s): read, check and COPY to staging {read_and_stage:.1f}; "
        "checks in SQL {check:.1f}; merge into incidents (triggers, audit, indexes) {merge:.1f}".format(
            **phases
        )
    )
    if "indexes" in phases:
        print(
            "  of the merge: records and their audit rows {:.1f}; indexes and keys built "
            "again {:.1f}".format(phases["merge"] - phases["indexes"], phases["indexes"])
        )


if __name__ == "__main__":
    main()
