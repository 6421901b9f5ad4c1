"""Every change is attributable, and the audit trail cannot be rewritten."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.config import get_settings
from tests import factories
from tests.test_imports import upload
from tests.test_imports_bulk import _many

Headers = Callable[[str], dict[str, str]]


async def test_a_records_history_shows_who_changed_what(
    client: AsyncClient, headers: Headers
) -> None:
    created = await client.post(
        "/api/incidents", json=factories.feature("incidents"), headers=headers("officer")
    )
    record_id = created.json()["id"]
    await client.patch(
        f"/api/incidents/{record_id}",
        json={"properties": {"severity": 5}},
        headers=headers("admin"),
    )
    await client.delete(f"/api/incidents/{record_id}", headers=headers("officer"))

    response = await client.get(
        "/api/audit", params={"record": record_id}, headers=headers("admin")
    )
    assert response.status_code == 200
    history = list(reversed(response.json()))
    assert [(e["action"], e["actor"]) for e in history] == [
        ("create", "officer"),
        ("update", "admin"),
        ("delete", "officer"),
    ]
    assert history[0]["before"] is None and history[0]["after"]["severity"] == 3
    assert history[1]["before"]["severity"] == 3 and history[1]["after"]["severity"] == 5
    assert history[1]["after"]["updated_by"] == "admin"
    assert history[2]["after"]["deleted_by"] == "officer"
    assert history[0]["after"]["geom"]["coordinates"] == [25.3, 5.3]


@pytest.mark.parametrize("user", ["partner", "analyst", "officer"])
async def test_only_admins_read_the_audit_trail(
    client: AsyncClient, headers: Headers, user: str
) -> None:
    assert (await client.get("/api/audit", headers=headers(user))).status_code == 403


async def test_user_secrets_never_enter_the_audit_trail(
    client: AsyncClient, headers: Headers
) -> None:
    response = await client.get(
        "/api/audit", params={"collection": "users", "limit": 1000}, headers=headers("admin")
    )
    entries = response.json()
    assert entries, "user changes are audited"
    assert all("password_hash" not in (e["after"] or {}) for e in entries)
    assert "argon2" not in response.text


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
async def test_audit_log_is_append_only(engine: AsyncEngine, statement: str) -> None:
    async with engine.connect() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM audit_log"))).scalar_one()
        assert count > 0
        with pytest.raises(DBAPIError, match="append-only"):
            await connection.execute(text(statement))
        await connection.rollback()
        after = (await connection.execute(text("SELECT count(*) FROM audit_log"))).scalar_one()
        assert after == count


@pytest.mark.parametrize("bulk_load", [False, True])
async def test_an_import_of_many_records_is_one_audit_row_naming_each_of_them(
    client: AsyncClient,
    headers: Headers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    session: AsyncSession,
    bulk_load: bool,
) -> None:
    """More than 1,000 records created by one import: one audit row lists them all, a record's
    history shows it, and rollback finds them by it."""
    monkeypatch.setattr(get_settings(), "import_bulk_rows", 50 if bulk_load else 100_000)
    await session.execute(text("ANALYZE incidents"))
    path = _many(tmp_path, 1_050, "audited")
    job = (await upload(client, headers, path, collection="incidents")).json()
    assert job["status"] == "succeeded" and job["created"] == 1_050, job
    context = {"context": f"import:{job['id']}"}
    rows = (
        await session.execute(
            text(
                "SELECT action, record_id, cardinality(record_ids), actor FROM audit_log "
                "WHERE context = :context"
            ),
            context,
        )
    ).all()
    assert [tuple(row) for row in rows] == [("create", None, 1_050, "officer")]
    created = set(
        (await session.execute(text("SELECT id FROM incidents WHERE origin = 'import'"))).scalars()
    )
    listed = set(
        (
            await session.execute(
                text("SELECT unnest(record_ids) FROM audit_log WHERE context = :context"), context
            )
        ).scalars()
    )
    assert listed == created and len(created) == 1_050

    one = next(iter(created))
    rolled = await client.post(f"/api/imports/{job['id']}/rollback", headers=headers("officer"))
    assert rolled.status_code == 200, rolled.text
    assert "1050 record(s) removed" in rolled.json()["message"], rolled.text
    left = await session.scalar(text("SELECT count(*) FROM incidents WHERE origin = 'import'"))
    assert left == 0
    history = (
        await client.get("/api/audit", params={"record": str(one)}, headers=headers("admin"))
    ).json()
    assert [(e["action"], e["records"]) for e in reversed(history)] == [
        ("create", 1_050),
        ("purge", 1),
    ]
    assert {e["record_id"] for e in history} == {str(one)}
    assert history[-1]["context"] == f"import:{job['id']}" and history[-1]["after"] is None
    assert history[0]["before"]["external_id"].startswith("audited-")
