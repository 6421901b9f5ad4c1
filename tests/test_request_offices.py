"""The offices that decide requests for civil assistance: a user holding the DSRSG/RC/HC's,
the HOMC's or the SRSG's office takes that office's decision and no other, whatever their
role; officers holding none record the offices' decisions for them. Each office's queue holds
what awaits its decision."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.auth import service as auth
from service.auth.security import issue_token
from service.config import get_settings
from service.enums import Office, Role
from service.errors import InvalidInput
from service.requests import service as requests
from tests import factories
from tests.test_requests import BODIES, URL, decision, request_feature

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def office_user(
    session: AsyncSession,
) -> Callable[..., Awaitable[tuple[Principal, dict[str, str]]]]:
    """A new account holding an office: its principal and its headers."""

    async def create(office: Office, role: Role = Role.analyst) -> tuple[Principal, dict[str, str]]:
        user = await auth.add_user(
            session,
            username=f"{office.value}-{uuid.uuid4().hex[:6]}",
            password=factories.PASSWORD,
            role=role,
            office=office,
            actor="test-setup",
        )
        token, _ = issue_token(user.id, get_settings().signing_key(), timedelta(minutes=5))
        principal = await auth.principal_of(session, user)
        return principal, {"Authorization": f"Bearer {token}"}

    return create


async def test_each_office_takes_its_own_decision_only(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession, office_user: Any
) -> None:
    actor = await make("actors", name="Kalembe Relief", classification="public")
    submitted = await client.post(
        URL, json=request_feature(str(actor["id"])), headers=headers("officer")
    )
    assert submitted.status_code == 201, submitted.text
    record = submitted.json()["id"]
    hc, hc_headers = await office_user(Office.dsrsg_rc_hc)
    homc, homc_headers = await office_user(Office.homc, Role.officer)
    srsg, srsg_headers = await office_user(Office.srsg)

    # The review is an officer's: the HC's office (an analyst's account) may not start it.
    refused = await client.post(f"{URL}/{record}/review", json={}, headers=hc_headers)
    assert refused.status_code == 403 and "officers" in refused.json()["detail"]
    assert [r.title for r in await requests.board(session, hc) if r.awaits_you] == []
    review = await client.post(f"{URL}/{record}/review", json={}, headers=headers("officer"))
    assert review.status_code == 200, review.text

    # Under review, the request waits in the HC's and the HOMC's queues, not the SRSG's.
    for principal, step in ((hc, "humanitarian_decision"), (homc, "military_decision")):
        (waiting,) = [r for r in await requests.board(session, principal) if r.awaits_you]
        assert str(waiting.id) == record and [s.value for s in waiting.awaits_you] == [step]
    assert not [r for r in await requests.board(session, srsg) if r.awaits_you]
    history = await client.get(f"{URL}/{record}/history", headers=homc_headers)
    assert history.json()["you_may"] == ["military-decision", "delivered-by-other", "withdraw"]

    # The HOMC's office (an officer) may not take the HC's decision, nor the SRSG the HOMC's.
    wrong = await client.post(
        f"{URL}/{record}/humanitarian-decision", json=decision("approve"), headers=homc_headers
    )
    assert wrong.status_code == 403
    assert "DSRSG/RC/HC" in wrong.json()["detail"] and "Head of Military" in wrong.json()["detail"]
    wrong = await client.post(
        f"{URL}/{record}/military-decision", json=decision("deny"), headers=srsg_headers
    )
    assert wrong.status_code == 403

    approve = await client.post(
        f"{URL}/{record}/humanitarian-decision", json=decision("approve"), headers=hc_headers
    )
    assert approve.status_code == 200, approve.text
    deny = await client.post(
        f"{URL}/{record}/military-decision",
        json=decision("deny", "B. Bello, HOMC"),
        headers=homc_headers,
    )
    assert deny.json()["properties"]["status"] == "referred_to_srsg"
    (waiting,) = [r for r in await requests.board(session, srsg) if r.awaits_you]
    assert str(waiting.id) == record
    final = await client.post(
        f"{URL}/{record}/srsg-decision", json=BODIES["srsg-decision"], headers=srsg_headers
    )
    assert final.json()["properties"]["status"] == "approved"
    # Approved, it waits for its delivery in the officers' queue.
    officer = await auth.principal_of_user(session, factories_user(headers, "officer"))
    assert officer is not None
    done = [r for r in await requests.board(session, officer) if str(r.id) == record]
    assert [s.value for s in done[0].awaits_you] == ["complete"]


def factories_user(headers: Headers, username: str) -> uuid.UUID:
    """The id of one of the world's users (its token names it)."""
    from service.auth.security import read_token

    token = headers(username)["Authorization"].removeprefix("Bearer ")
    user_id = read_token(token, get_settings().signing_key())
    assert user_id is not None
    return user_id


async def test_a_partner_holds_no_office(session: AsyncSession) -> None:
    with pytest.raises(InvalidInput):
        await auth.add_user(
            session,
            username="partner-office",
            password=factories.PASSWORD,
            role=Role.partner,
            office=Office.srsg,
            actor="test-setup",
        )
