"""Admins run the mission's accounts, API keys and alert webhooks through the API; nobody else
can, and a refused write leaves nothing behind."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories

Headers = Callable[[str], dict[str, str]]


async def login(client: AsyncClient, username: str, password: str) -> int:
    response = await client.post("/auth/token", data={"username": username, "password": password})
    return response.status_code


async def test_an_admin_creates_changes_resets_and_disables_a_user(
    client: AsyncClient, headers: Headers, world: factories.World
) -> None:
    north = str(world.sectors["North"])
    created = await client.post(
        "/api/admin/users",
        json={
            "username": "new-officer",
            "password": "a long enough password",
            "role": "officer",
            "sector_ids": [north],
        },
        headers=headers("admin"),
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["sector_ids"] == [north] and user["role"] == "officer"

    changed = await client.put(
        f"/api/admin/users/{user['id']}",
        json={"role": "analyst", "cleared_restricted": True, "sector_ids": []},
        headers=headers("admin"),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "analyst" and changed.json()["cleared_restricted"]

    short = await client.post(
        f"/api/admin/users/{user['id']}/password",
        json={"password": "short"},
        headers=headers("admin"),
    )
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["password"]
    reset = await client.post(
        f"/api/admin/users/{user['id']}/password",
        json={"password": "another long password"},
        headers=headers("admin"),
    )
    assert reset.status_code == 204
    assert await login(client, "new-officer", "a long enough password") == 401
    assert await login(client, "new-officer", "another long password") == 200

    disabled = await client.post(f"/api/admin/users/{user['id']}/disable", headers=headers("admin"))
    assert disabled.json()["disabled"] is True
    assert await login(client, "new-officer", "another long password") == 401

    trail = await client.get(
        "/api/audit",
        params={"record": user["id"], "actor": "admin"},
        headers=headers("admin"),
    )
    assert [e["action"] for e in reversed(trail.json())] == ["create", "update", "update", "update"]
    assert all("password_hash" not in (e["after"] or {}) for e in trail.json())


async def test_an_admin_may_not_demote_nor_disable_themselves(
    client: AsyncClient, headers: Headers, world: factories.World
) -> None:
    me = world.users["admin"]
    demoted = await client.put(
        f"/api/admin/users/{me}", json={"role": "officer"}, headers=headers("admin")
    )
    assert demoted.status_code == 422
    assert (
        await client.post(f"/api/admin/users/{me}/disable", headers=headers("admin"))
    ).status_code == 403


@pytest.mark.parametrize("username", ["partner", "analyst", "officer"])
async def test_others_are_refused_and_nothing_is_written(
    client: AsyncClient, headers: Headers, world: factories.World, session: AsyncSession,
    username: str,
) -> None:  # fmt: skip
    async def counts() -> tuple[Any, ...]:
        row = await session.execute(
            text(
                "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM api_keys), "
                "(SELECT count(*) FROM alert_webhooks), "
                "(SELECT count(*) FROM users WHERE disabled OR role = 'admin'), "
                "(SELECT count(*) FROM audit_log)"
            )
        )
        return tuple(row.one())

    before = await counts()
    target = world.users["analyst-south"]
    attempts = [
        ("GET", "/api/admin/users", None),
        ("POST", "/api/admin/users", {"username": "x", "password": "x" * 12, "role": "admin"}),
        ("PUT", f"/api/admin/users/{target}", {"role": "admin"}),
        ("POST", f"/api/admin/users/{target}/disable", None),
        ("POST", f"/api/admin/users/{target}/password", {"password": "y" * 12}),
        ("GET", "/api/admin/api_keys", None),
        ("POST", "/api/admin/api_keys", {"username": "admin", "name": "stolen"}),
        ("GET", "/api/alert_webhooks", None),
        ("POST", "/api/alert_webhooks", {"name": "leak", "url": "https://example.org/hook"}),
        ("GET", "/api/audit", None),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, json=body, headers=headers(username))
        assert response.status_code == 403, (method, path, response.text)
    assert await counts() == before


class Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Receiver.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


async def test_an_admin_adds_tests_and_removes_a_webhook(
    client: AsyncClient, headers: Headers, receiver: str
) -> None:
    bad = await client.post(
        "/api/alert_webhooks", json={"name": "Room", "url": "ftp://x"}, headers=headers("admin")
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["url"]
    added = await client.post(
        "/api/alert_webhooks",
        json={"name": "Situation room", "url": receiver},
        headers=headers("admin"),
    )
    assert added.status_code == 201, added.text
    hook = added.json()
    again = await client.post(
        "/api/alert_webhooks", json={"name": "Twice", "url": receiver}, headers=headers("admin")
    )
    assert again.status_code == 409

    tried = await client.post(f"/api/alert_webhooks/{hook['id']}/test", headers=headers("admin"))
    assert tried.json() == {"ok": True, "outcome": "HTTP 204"}
    assert Receiver.received[-1]["type"] == "civop.test"

    removed = await client.delete(f"/api/alert_webhooks/{hook['id']}", headers=headers("admin"))
    assert removed.status_code == 204
    assert (await client.get("/api/alert_webhooks", headers=headers("admin"))).json() == []
    trail = await client.get("/api/audit", params={"record": hook["id"]}, headers=headers("admin"))
    assert [e["action"] for e in reversed(trail.json())] == ["create", "purge"]


def _civop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_command_line_resets_passwords_and_runs_webhooks(
    client: AsyncClient, world: factories.World, receiver: str
) -> None:
    username = f"cli-{secrets.token_hex(3)}"
    made = _civop("user", "add", username, "--role", "analyst", "--password", "first password!")
    assert made.returncode == 0, made.stderr
    short = _civop("user", "reset-password", username, "--password", "short")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    reset = _civop("user", "reset-password", username, "--password", "second password!")
    assert reset.returncode == 0, reset.stderr
    assert await login(client, username, "second password!") == 200

    added = _civop("webhook", "add", receiver, "--name", "Situation room")
    assert added.returncode == 0, added.stderr
    webhook_id = added.stdout.split()[1]
    assert f"{webhook_id}\tSituation room\t{receiver}" in _civop("webhook", "list").stdout
    tried = _civop("webhook", "test", webhook_id)
    assert tried.stdout.strip() == "received: HTTP 204", tried.stderr
    assert _civop("webhook", "remove", webhook_id).returncode == 0
    assert webhook_id not in _civop("webhook", "list").stdout
