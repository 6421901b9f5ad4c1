"""The command line is a thin door onto the service: the same checks and the same answers as
the HTTP API, and the same place for its files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import SYSTEM
from service.collections.registry import COLLECTIONS
from service.config import get_settings
from service.core.params import ListQuery
from service.exports import service as exports

Headers = Callable[[str], dict[str, str]]
FEATURES = '{"type": "FeatureCollection", "features": []}'


def _civop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("classification", "secret", "unknown classification 'secret'; use public, mission"),
        ("mapping", "{not json", "mapping is not JSON"),
    ],
)
async def test_a_wrong_import_value_gets_the_same_answer_on_both_doors(
    client: AsyncClient, headers: Headers, tmp_path: Path, field: str, value: str, message: str
) -> None:
    """The command line raised a bare ValueError (a traceback) for a classification the API
    answered with 422."""
    upload = tmp_path / "incidents.geojson"
    upload.write_text(FEATURES)
    answer = await client.post(
        "/api/imports",
        data={"collection": "incidents", field: value},
        files={"file": (upload.name, upload.read_bytes(), "application/geo+json")},
        headers=headers("officer"),
    )
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["detail"]
    assert problem["loc"] == ["body", field] and message in problem["msg"]

    done = _civop("import", str(upload), "--into", "incidents", f"--{field}", value)
    assert done.returncode == 1, done.stderr
    assert f"error: {problem['msg']}" in done.stderr
    assert f"(field: {field})" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_collection_is_named_with_the_known_ones(tmp_path: Path) -> None:
    done = _civop("export", "camps", "--output", str(tmp_path / "x.geojson"))
    assert done.returncode == 1
    assert "error: unknown collection 'camps'; use one of: sectors, actors" in done.stderr


async def test_an_export_is_written_in_the_import_directory_wherever_it_is_asked_for(
    session: AsyncSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line wrote its exports to the system's temporary folder, not to
    ``CIVOP_IMPORT_DIR`` (a volume sized for files) as the API does."""
    monkeypatch.setenv("CIVOP_IMPORT_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        exported = await exports.export(
            session, COLLECTIONS["incidents"], SYSTEM, ListQuery(), "geojson"
        )
        try:
            assert exported.path.is_relative_to(tmp_path)
        finally:
            exported.discard()
    finally:
        monkeypatch.delenv("CIVOP_IMPORT_DIR")
        get_settings.cache_clear()


def test_every_command_group_answers_its_help() -> None:
    for group in ([], ["db"], ["user"], ["apikey"], ["report"]):
        done = _civop(*group, "--help")
        assert done.returncode == 0, done.stderr
    assert "demo-accounts" in _civop("user", "--help").stdout
    assert "civ-oes" in _civop("report", "--help").stdout
