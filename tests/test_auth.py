"""Authentication: tokens, API keys, disabled users, rate-limited logins, write rights."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from argon2 import PasswordHasher, extract_parameters
from httpx import AsyncClient
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.auth import service as auth
from service.auth.models import User
from service.auth.security import issue_token
from service.config import Settings, get_settings
from service.enums import Role
from tests import factories

Headers = Callable[[str], dict[str, str]]


async def login(
    client: AsyncClient, username: str, password: str = factories.PASSWORD
) -> tuple[int, dict[str, str]]:
    response = await client.post("/auth/token", data={"username": username, "password": password})
    return response.status_code, response.json()


async def test_login_gives_an_expiring_bearer_token(client: AsyncClient) -> None:
    status, body = await login(client, "analyst")
    assert status == 200 and body["token_type"] == "bearer"
    assert 0 < int(body["expires_in"]) <= 7 * 24 * 3600
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "analyst" and me.json()["role"] == "analyst"
    assert me.json()["actor_id"] is None  # mission staff work for no partner organisation


async def test_wrong_password_and_unknown_user_are_alike(client: AsyncClient) -> None:
    wrong = await client.post(
        "/auth/token", data={"username": "officer", "password": "guess-guess-guess"}
    )
    unknown = await client.post(
        "/auth/token", data={"username": "nobody", "password": "guess-guess-guess"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_failed_logins_are_rate_limited(client: AsyncClient, engine: AsyncEngine) -> None:
    limit = get_settings().login_max_failures
    for _ in range(limit):
        status, _ = await login(client, "analyst-south", "wrong-password-here")
        assert status == 401
    response = await client.post(
        "/auth/token", data={"username": "analyst-south", "password": factories.PASSWORD}
    )
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    async with engine.begin() as connection:  # the count is shared and kept: forget it
        await connection.execute(text("DELETE FROM login_throttle"))


@pytest.mark.parametrize("path", ["/api/incidents", "/api/sectors", "/auth/me", "/api/audit"])
async def test_nothing_answers_without_credentials(client: AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 401
    # GIS clients that wait for a challenge (ArcGIS) learn they may send HTTP Basic.
    assert response.headers["www-authenticate"] == 'Bearer, Basic realm="civop", charset="UTF-8"'


async def test_an_expired_token_is_not_offered_basic(client: AsyncClient) -> None:
    """A browser page whose token expired must not get the browser's own login dialog."""
    response = await client.get("/api/incidents", headers={"Authorization": "Bearer not.a.token"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/health", "/docs", "/openapi.json"])
async def test_health_and_docs_are_open(client: AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 200


async def test_expired_and_forged_tokens_are_refused(
    client: AsyncClient, world: factories.World
) -> None:
    key = get_settings().signing_key()
    expired, _ = issue_token(world.users["admin"], key, timedelta(seconds=-1))
    forged, _ = issue_token(world.users["admin"], "another-key-" + "y" * 32, timedelta(minutes=5))
    for token in (expired, forged, "not.a.token"):
        response = await client.get("/api/incidents", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


async def test_disabled_user_can_neither_log_in_nor_use_a_token(
    client: AsyncClient, headers: Headers
) -> None:
    status, _ = await login(client, "disabled")
    assert status == 401
    response = await client.get("/api/incidents", headers=headers("disabled"))
    assert response.status_code == 401


async def until_refused(
    client: AsyncClient, auth_headers: dict[str, str], within_s: float = 2.0
) -> float:
    """Seconds until the credentials stop working (they may be cached until PostgreSQL's
    change notification arrives)."""
    started = time.monotonic()
    while (await client.get("/auth/me", headers=auth_headers)).status_code != 401:
        assert time.monotonic() - started < within_s, "credentials still accepted"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def committed_user(engine: AsyncEngine, role: Role = Role.officer) -> User:
    """A user created the way `civop user add` does it: in its own committed transaction."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        return await auth.add_user(
            session, username=f"temp-{secrets.token_hex(4)}", password=factories.PASSWORD, role=role
        )


async def test_disabling_a_user_stops_their_token_at_once(
    client: AsyncClient, engine: AsyncEngine
) -> None:
    user = await committed_user(engine)
    token, _ = issue_token(user.id, get_settings().signing_key(), timedelta(minutes=5))
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/auth/me", headers=bearer)).status_code == 200  # now cached
    async with AsyncSession(
        engine
    ) as session:  # as `civop user disable` does, from another process
        await auth.set_disabled(session, user.username, True)
    assert await until_refused(client, bearer) < 1.0


async def test_api_key_acts_as_its_user_until_revoked(
    client: AsyncClient, engine: AsyncEngine
) -> None:
    user = await committed_user(engine, Role.analyst)
    async with AsyncSession(engine) as session:
        key_id, key = await auth.create_api_key(session, user.username, "qgis")
    me = await client.get("/auth/me", headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json()["username"] == user.username
    async with AsyncSession(engine) as session:
        await auth.revoke_api_key(session, key_id)
    assert await until_refused(client, {"X-API-Key": key}) < 1.0
    assert (await client.get("/auth/me", headers={"X-API-Key": key + "x"})).status_code == 401


async def test_only_officers_and_admins_write(client: AsyncClient, headers: Headers) -> None:
    feature = factories.feature("incidents")
    for username in ("partner", "analyst", "analyst-cleared"):
        response = await client.post("/api/incidents", json=feature, headers=headers(username))
        assert response.status_code == 403, username
    for username in ("officer", "admin"):
        response = await client.post("/api/incidents", json=feature, headers=headers(username))
        assert response.status_code == 201, username


async def test_writing_above_ones_clearance_is_refused(
    client: AsyncClient, headers: Headers
) -> None:
    restricted = factories.feature(
        "incidents", classification="restricted", category="sexual_violence"
    )
    response = await client.post("/api/incidents", json=restricted, headers=headers("officer"))
    assert response.status_code == 403
    assert "restricted" in response.json()["detail"]


async def test_sector_scoped_officer_writes_only_in_their_sectors(
    client: AsyncClient, headers: Headers
) -> None:
    inside = factories.feature("incidents", geometry=factories.point(27.0, 7.5))
    outside = factories.feature("incidents", geometry=factories.point(27.0, 4.5))
    assert (
        await client.post("/api/incidents", json=inside, headers=headers("officer-north"))
    ).status_code == 201
    refused = await client.post("/api/incidents", json=outside, headers=headers("officer-north"))
    assert refused.status_code == 403
    listed = await client.get("/api/incidents?limit=1000", headers=headers("admin"))
    assert all(f["geometry"]["coordinates"] != [27.0, 4.5] for f in listed.json()["features"])


async def test_anonymous_partner_view_when_configured(
    client: AsyncClient, headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = await client.post(
        "/api/incidents",
        json=factories.feature("incidents", classification="public"),
        headers=headers("admin"),
    )
    mission = await client.post(
        "/api/incidents", json=factories.feature("incidents"), headers=headers("admin")
    )
    settings = get_settings().model_copy(update={"anonymous_role": "partner"})
    monkeypatch.setattr("service.auth.deps.get_settings", lambda: settings)
    response = await client.get("/api/incidents?limit=1000")
    assert response.status_code == 200
    shown = {f["id"] for f in response.json()["features"]}
    assert public.json()["id"] in shown and mission.json()["id"] not in shown
    assert (
        await client.post("/api/incidents", json=factories.feature("incidents"))
    ).status_code == 403


async def test_basic_auth_with_username_and_api_key(
    client: AsyncClient, engine: AsyncEngine
) -> None:
    """What QGIS 3.22 and ArcGIS send: HTTP Basic, the username and an API key as password;
    neither another user's name, nor the login password, nor a revoked key is accepted."""
    user = await committed_user(engine, Role.analyst)
    other = await committed_user(engine, Role.admin)
    async with AsyncSession(engine) as session:
        key_id, key = await auth.create_api_key(session, user.username, "qgis")
    me = await client.get("/auth/me", auth=(user.username, key))
    assert me.status_code == 200 and me.json()["username"] == user.username
    assert (
        await client.get("/collections/incidents/items", auth=(user.username, key))
    ).status_code == 200
    for username, password in ((other.username, key), (user.username, factories.PASSWORD)):
        refused = await client.get("/auth/me", auth=(username, password))
        assert refused.status_code == 401 and "API key" in refused.json()["detail"]
    async with AsyncSession(engine) as session:
        await auth.revoke_api_key(session, key_id)
    assert await until_refused(client, {"Authorization": basic(user.username, key)}) < 1.0
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM login_throttle"))


async def test_basic_auth_guesses_are_throttled_like_logins(
    client: AsyncClient, engine: AsyncEngine
) -> None:
    user = await committed_user(engine, Role.analyst)
    async with AsyncSession(engine) as session:
        _, key = await auth.create_api_key(session, user.username, "qgis")
    for _ in range(get_settings().login_max_failures):
        guess = await client.get("/auth/me", auth=(user.username, "civop_guess"))
        assert guess.status_code == 401
    # Past the limit even the right key waits: guessing cannot go on at full speed.
    response = await client.get("/auth/me", auth=(user.username, key))
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM login_throttle"))


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_passwords_are_hashed_as_rfc_9106_recommends_unless_the_operator_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("MEMORY_KIB", "PASSES", "LANES"):
        monkeypatch.delenv(f"CIVOP_PASSWORD_HASH_{name}", raising=False)
    defaults = Settings()
    assert (
        defaults.password_hash_memory_kib,
        defaults.password_hash_passes,
        defaults.password_hash_lanes,
    ) == (65_536, 3, 4)  # RFC 9106, section 4: the second recommended option
    # OWASP's least memory depends on the passes: 19 MiB with two, 46 MiB with one.
    for memory, passes, least in (("8192", "2", "19,456"), ("40000", "1", "47,104")):
        monkeypatch.setenv("CIVOP_PASSWORD_HASH_MEMORY_KIB", memory)
        monkeypatch.setenv("CIVOP_PASSWORD_HASH_PASSES", passes)
        with pytest.raises(ValidationError) as refused:
            Settings()
        assert (
            f"CIVOP_PASSWORD_HASH_MEMORY_KIB must be at least {least} with "
            f"CIVOP_PASSWORD_HASH_PASSES={passes}"
        ) in str(refused.value)
    monkeypatch.setenv("CIVOP_PASSWORD_HASH_MEMORY_KIB", "19456")
    monkeypatch.setenv("CIVOP_PASSWORD_HASH_PASSES", "2")
    assert Settings().password_hash_memory_kib == 19_456


async def test_a_hash_made_with_other_parameters_is_made_again_at_sign_in_without_stopping_others(
    client: AsyncClient, engine: AsyncEngine, session: AsyncSession
) -> None:
    """A hash from before the operator changed the parameters (here a costly one, half a second
    of CPU): the sign-in checks it in a thread while other requests are answered, then stores a
    hash with the process's parameters, attributed to the user. A wrong password changes
    nothing."""
    user = await committed_user(engine)
    costly = PasswordHasher(time_cost=10, memory_cost=65_536, parallelism=1)
    old_hash = await asyncio.to_thread(costly.hash, factories.PASSWORD)
    async with engine.begin() as connection:
        await connection.execute(text("SELECT set_config('civop.actor', 'test-setup', true)"))
        await connection.execute(
            text("UPDATE users SET password_hash = :hash WHERE id = :id"),
            {"hash": old_hash, "id": user.id},
        )
    status, _ = await login(client, user.username, "not-the-password")
    assert status == 401
    unchanged = await session.scalar(
        text("SELECT password_hash FROM users WHERE id = :id"), {"id": user.id}
    )
    assert unchanged == old_hash
    signing_in = asyncio.create_task(login(client, user.username))
    answered_meanwhile = 0
    while not signing_in.done():
        if (await client.get("/health")).status_code == 200 and not signing_in.done():
            answered_meanwhile += 1
        await asyncio.sleep(0.02)
    status, _ = await signing_in
    assert status == 200
    assert answered_meanwhile >= 6, "the sign-in stopped every other request"
    # What the sign-in wrote, read through the session the client's requests use.
    stored = await session.scalar(
        text("SELECT password_hash FROM users WHERE id = :id"), {"id": user.id}
    )
    audit = (
        await session.execute(
            text(
                "SELECT actor, context FROM audit_log WHERE collection = 'users' "
                "AND record_id = :id AND action = 'update' AND actor <> 'test-setup'"
            ),
            {"id": user.id},
        )
    ).all()
    settings = get_settings()
    parameters = extract_parameters(stored)
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        settings.password_hash_memory_kib,
        settings.password_hash_passes,
        settings.password_hash_lanes,
    )
    assert [tuple(row) for row in audit] == [(user.username, "sign-in: password hash parameters")]
    status, _ = await login(client, user.username)  # the new hash holds the same password
    assert status == 200
    status, _ = await login(client, user.username, "not-the-password")
    assert status == 401
