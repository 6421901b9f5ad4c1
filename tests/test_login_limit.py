"""Failed logins are limited in the database, per account, per address and per (address,
account): concurrent guesses cannot race past the limit, a restart does not reset it, and one
busy address (a mission network behind one NAT address) does not lock out its other users."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.auth import service as auth
from service.config import get_settings
from service.enums import Role
from service.main import create_app
from tests import factories

WRONG = "not-the-password-at-all"


@pytest.fixture(autouse=True)
async def forget_attempts(engine: AsyncEngine) -> AsyncIterator[None]:
    """Counted attempts are committed outside the test's transaction: each test starts and ends
    with none, so other tests log in as usual."""

    async def forget() -> None:
        async with engine.begin() as connection:
            if await connection.scalar(text("SELECT to_regclass('login_throttle')")):
                await connection.execute(text("DELETE FROM login_throttle"))

    await forget()
    yield
    await forget()


async def new_user(engine: AsyncEngine) -> str:
    """A committed user of its own, so that locking it out disturbs no other test."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        user = await auth.add_user(
            session,
            username=f"limit-{secrets.token_hex(4)}",
            password=factories.PASSWORD,
            role=Role.analyst,
        )
    return user.username


@asynccontextmanager
async def from_address(app: FastAPI, address: str) -> AsyncIterator[AsyncClient]:
    """A client whose requests come from ``address``, as the server sees the peer."""
    transport = ASGITransport(app=app, client=(address, 40000))
    async with AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def log_in(http: AsyncClient, username: str, password: str) -> Response:
    return await http.post("/auth/token", data={"username": username, "password": password})


def refused(response: Response) -> bool:
    """A 429 that says how long to wait and gives no token."""
    return (
        response.status_code == 429
        and int(response.headers["retry-after"]) > 0
        and "access_token" not in response.json()
    )


async def test_concurrent_guesses_cannot_race_past_the_limit(
    app: FastAPI, engine: AsyncEngine
) -> None:
    username = await new_user(engine)
    limit = get_settings().login_max_failures
    async with from_address(app, "198.51.100.7") as http:
        # The right password is sent last: by the time it is counted, the limit is hit.
        guesses = [WRONG + str(i) for i in range(59)] + [factories.PASSWORD]
        answers = await asyncio.gather(*(log_in(http, username, p) for p in guesses))
    checked = [a for a in answers if a.status_code != 429]
    assert len(checked) <= limit, [a.status_code for a in answers]
    assert all(a.status_code == 401 for a in checked)
    assert sum(refused(a) for a in answers) >= len(guesses) - limit
    assert refused(answers[-1]), answers[-1].text  # the right password gave no token
    # And the right password stays refused while the back-off runs.
    async with from_address(app, "198.51.100.7") as http:
        assert refused(await log_in(http, username, factories.PASSWORD))


async def test_the_limit_survives_a_restart(app: FastAPI, engine: AsyncEngine) -> None:
    username = await new_user(engine)
    async with from_address(app, "198.51.100.8") as http:
        for _ in range(get_settings().login_max_failures):
            assert (await log_in(http, username, WRONG)).status_code == 401
    restarted = create_app()
    async with restarted.router.lifespan_context(restarted):
        async with from_address(restarted, "198.51.100.8") as http:
            assert refused(await log_in(http, username, factories.PASSWORD))


async def test_failures_of_many_accounts_from_one_address_do_not_lock_out_its_other_users(
    app: FastAPI, engine: AsyncEngine
) -> None:
    colleague = await new_user(engine)
    async with from_address(app, "203.0.113.20") as http:
        # Someone behind the mission's NAT address mistypes, or sprays passwords, across accounts.
        for i in range(25):
            assert (await log_in(http, f"nobody-{i}", WRONG)).status_code == 401
        answer = await log_in(http, colleague, factories.PASSWORD)
    assert answer.status_code == 200, answer.text
    assert answer.json()["access_token"]


async def test_a_known_address_stays_open_while_an_address_is_sprayed(
    engine: AsyncEngine,
) -> None:
    """Past the per-address limit, accounts that logged in from that address before still log
    in; an account new to the address waits."""
    settings = get_settings().model_copy(update={"login_address_max_failures": 10})
    sprayed = create_app(settings)
    colleague, newcomer = await new_user(engine), await new_user(engine)
    async with sprayed.router.lifespan_context(sprayed):
        async with from_address(sprayed, "203.0.113.21") as http:
            assert (await log_in(http, colleague, factories.PASSWORD)).status_code == 200
            answers = [await log_in(http, f"sprayed-{i}", WRONG) for i in range(25)]
            assert [a.status_code for a in answers].count(401) == 10
            assert all(refused(a) for a in answers[10:])
            assert (await log_in(http, colleague, factories.PASSWORD)).status_code == 200
            assert refused(await log_in(http, newcomer, factories.PASSWORD))


async def test_the_account_limit_holds_across_addresses(app: FastAPI, engine: AsyncEngine) -> None:
    victim = await new_user(engine)
    # The user logged in from the office before the attack: that address stays open to them.
    async with from_address(app, "192.0.2.1") as http:
        assert (await log_in(http, victim, factories.PASSWORD)).status_code == 200

    async def guess(i: int) -> Response:
        async with from_address(app, f"10.9.{i // 200}.{i % 200 + 1}") as http:
            return await log_in(http, victim, WRONG + str(i))

    answers = await asyncio.gather(*(guess(i) for i in range(30)))
    limit = get_settings().login_account_max_failures
    assert [a.status_code for a in answers].count(401) <= limit
    assert sum(refused(a) for a in answers) >= 30 - limit
    # From an address the account never used, even the right password waits for the back-off...
    async with from_address(app, "192.0.2.99") as http:
        assert refused(await log_in(http, victim, factories.PASSWORD))
    # ...but from the office it goes through.
    async with from_address(app, "192.0.2.1") as http:
        assert (await log_in(http, victim, factories.PASSWORD)).status_code == 200
    # Once the back-off has run out (its end moved into the past), the new address gets in too.
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE login_throttle SET next_attempt_at = now() - interval '1 second'")
        )
    async with from_address(app, "192.0.2.99") as http:
        answer = await log_in(http, victim, factories.PASSWORD)
    assert answer.status_code == 200, answer.text


async def test_the_addresses_of_one_ipv6_network_count_as_one(
    app: FastAPI, engine: AsyncEngine
) -> None:
    username = await new_user(engine)
    for i in range(get_settings().login_max_failures):
        async with from_address(app, f"2001:db8:7:1::{i + 1:x}") as http:
            assert (await log_in(http, username, WRONG)).status_code == 401
    async with from_address(app, "2001:db8:7:1:ffff::99") as http:
        assert refused(await log_in(http, username, factories.PASSWORD))


async def test_an_admin_unlocks_a_user(app: FastAPI, engine: AsyncEngine) -> None:
    """What `civop user unlock` does: the user logs in at once, without waiting."""
    from service.auth import throttle

    username = await new_user(engine)
    async with from_address(app, "198.51.100.11") as http:
        for _ in range(get_settings().login_max_failures):
            assert (await log_in(http, username, WRONG)).status_code == 401
        assert refused(await log_in(http, username, factories.PASSWORD))
        async with AsyncSession(engine) as session:
            assert await throttle.unlock(session, username) == 2
        assert (await log_in(http, username, factories.PASSWORD)).status_code == 200


async def test_attempts_are_forgotten_in_time(app: FastAPI, engine: AsyncEngine) -> None:
    """Old attempts are cleaned up: rows whose time has passed are deleted by later logins."""
    username = await new_user(engine)
    async with from_address(app, "198.51.100.9") as http:
        assert (await log_in(http, username, WRONG)).status_code == 401
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE login_throttle SET forget_at = now() - interval '1 second'")
        )
    async with from_address(app, "198.51.100.10") as http:
        assert (await log_in(http, "someone-else", WRONG)).status_code == 401
    async with engine.connect() as connection:
        left: Any = await connection.scalar(
            text("SELECT count(*) FROM login_throttle WHERE username = :u OR address = :a"),
            {"u": username, "a": "198.51.100.9"},
        )
    assert left == 0
