"""Every change is attributable, and the audit trail cannot be rewritten."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests import factories

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
