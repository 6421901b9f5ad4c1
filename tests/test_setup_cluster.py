"""The project-local cluster from a clone in a private folder (mode 700, as `mktemp -d` or
root's home): `scripts/pg.sh` run as root starts a cluster the cluster account can reach,
says where it lives, and removes it again."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the private-folder case is root's"),
    pytest.mark.skipif(
        not Path("/usr/lib/postgresql/15/bin/initdb").exists(),
        reason="PostgreSQL 15 server binaries are not installed",
    ),
]


def _pg(clone: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CIVOP_HOME")}
    env["CIVOP_PG_PORT"] = str(port)
    return subprocess.run(
        [str(clone / "scripts" / "pg.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


async def _postgis(port: int) -> str:
    conn = await asyncpg.connect(f"postgresql://civop@127.0.0.1:{port}/civop")
    try:
        return str(await conn.fetchval("SELECT postgis_lib_version()"))
    finally:
        await conn.close()


def test_a_clone_in_a_private_folder_gets_a_cluster_and_says_where() -> None:
    private = Path(tempfile.mkdtemp(prefix="civop-private-"))  # mode 700, like `mktemp -d`
    clone = private / "clone"
    shutil.copytree(ROOT / "scripts", clone / "scripts")
    port = free_port()
    try:
        ensure = _pg(clone, port, "ensure")
        assert ensure.returncode == 0, ensure.stderr

        status = _pg(clone, port, "status")
        assert status.returncode == 0, status.stderr
        assert f"running on 127.0.0.1:{port}" in status.stdout
        data = Path(status.stdout.split("data in ", 1)[1].split()[0].rstrip(","))
        assert (data / "PG_VERSION").exists()
        assert not data.is_relative_to(private)  # the cluster account cannot enter `private`
        assert f"cluster data in {data}" in ensure.stderr  # `make run` shows where it lives

        assert asyncio.run(_postgis(port))

        removed = _pg(clone, port, "remove")
        assert removed.returncode == 0, removed.stderr
        assert not data.exists()
        assert _pg(clone, port, "status").returncode == 3
    finally:
        _pg(clone, port, "stop")
        _pg(clone, port, "remove")
        shutil.rmtree(private, ignore_errors=True)
