"""Safe retries: a write sent again with the same ``Idempotency-Key`` gets the first answer
and writes nothing more; the key cannot be reused for another request, nor by two requests at
once; and a write that committed has its key, so a retry after a lost answer finds it."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.idempotency import IdempotencyKey
from tests import factories
from tests.conftest import LiveServer
from tests.test_alerts import evaluate, near_rule
from tests.test_requests import request_feature

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Any]


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def count(session: AsyncSession, table: str, **where: Any) -> int:
    conditions = " AND ".join(f"{name} = :{name}" for name in where) or "true"
    sql = f"SELECT count(*) FROM {table} WHERE {conditions}"  # noqa: S608 - the test's own names
    return int(await session.scalar(text(sql), where) or 0)


def same_answer(first: httpx.Response, again: httpx.Response) -> None:
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers.get("Location") == first.headers.get("Location")
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


@pytest.mark.parametrize("path", ["/api/incidents", "/collections/incidents/items"])
async def test_a_create_sent_twice_with_one_key_is_written_once(
    client: AsyncClient, headers: Headers, session: AsyncSession, path: str
) -> None:
    note = f"retried {uuid.uuid4()}"
    feature = factories.feature("incidents", description=note)
    officer = keyed(headers("officer"), str(uuid.uuid4()))
    first = await client.post(path, json=feature, headers=officer)
    assert first.status_code == 201, first.text
    again = await client.post(path, json=feature, headers=officer)
    same_answer(first, again)
    assert await count(session, "incidents", description=note) == 1
    # Without a key, the same body is a new record, as before.
    plain = await client.post(path, json=feature, headers=headers("officer"))
    assert plain.status_code == 201 and plain.json()["id"] != first.json()["id"]


async def test_the_key_may_be_sent_as_a_structured_field_string(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    note = f"quoted {uuid.uuid4()}"
    feature = factories.feature("incidents", description=note)
    key = str(uuid.uuid4())
    first = await client.post(
        "/api/incidents", json=feature, headers=keyed(headers("officer"), f'"{key}"')
    )
    again = await client.post(
        "/api/incidents", json=feature, headers=keyed(headers("officer"), key)
    )
    same_answer(first, again)
    assert await count(session, "incidents", description=note) == 1


async def test_a_key_reused_for_another_request_is_refused(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    key = str(uuid.uuid4())
    first = await client.post(
        "/api/incidents",
        json=factories.feature("incidents", description="first"),
        headers=keyed(headers("officer"), key),
    )
    assert first.status_code == 201
    other = await client.post(
        "/api/incidents",
        json=factories.feature("incidents", description="second"),
        headers=keyed(headers("officer"), key),
    )
    assert other.status_code == 422, other.text
    (item,) = other.json()["detail"]
    assert item["loc"] == ["header", "Idempotency-Key"]
    assert "different request" in item["msg"] and "new key" in item["msg"]
    elsewhere = await client.post(
        "/api/idp_sites",
        json=factories.feature("idp_sites"),
        headers=keyed(headers("officer"), key),
    )
    assert elsewhere.status_code == 422
    assert await count(session, "incidents", description="second") == 0


async def test_keys_are_the_principals_own(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    note = f"two officers {uuid.uuid4()}"
    feature = factories.feature("incidents", description=note)
    key = str(uuid.uuid4())
    one = await client.post("/api/incidents", json=feature, headers=keyed(headers("officer"), key))
    two = await client.post("/api/incidents", json=feature, headers=keyed(headers("admin"), key))
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] != two.json()["id"]
    assert "Idempotent-Replayed" not in two.headers
    assert await count(session, "incidents", description=note) == 2


async def test_an_expired_key_is_a_new_request(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    note = f"expired {uuid.uuid4()}"
    feature = factories.feature("incidents", description=note)
    key = str(uuid.uuid4())
    officer = keyed(headers("officer"), key)
    first = await client.post("/api/incidents", json=feature, headers=officer)
    assert first.status_code == 201
    kept = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == key))
    assert kept is not None and kept.principal == "officer" and kept.status == 201
    kept_s = await session.scalar(
        select(func.extract("epoch", IdempotencyKey.expires_at - func.now())).where(
            IdempotencyKey.key == key
        )
    )
    assert 23.9 * 3600 < float(kept_s or 0) <= 24 * 3600
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == key)
        .values(expires_at=func.now() - text("interval '1 second'"))
    )
    again = await client.post("/api/incidents", json=feature, headers=officer)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert await count(session, "incidents", description=note) == 2


async def test_a_refused_write_records_no_key(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    key = str(uuid.uuid4())
    feature = factories.feature("incidents", severity=9)
    refused = await client.post(
        "/api/incidents", json=feature, headers=keyed(headers("officer"), key)
    )
    assert refused.status_code == 422
    forbidden = await client.post(
        "/api/incidents",
        json=factories.feature("incidents"),
        headers=keyed(headers("analyst"), key),
    )
    assert forbidden.status_code == 403
    assert await count(session, "idempotency_keys", key=key) == 0


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
async def test_a_key_that_is_not_one_is_refused(
    client: AsyncClient, headers: Headers, key: str
) -> None:
    answer = await client.post(
        "/api/incidents",
        json=factories.feature("incidents"),
        headers={**headers("officer"), "Idempotency-Key": key.encode("utf-8")},  # type: ignore[dict-item]
    )
    assert answer.status_code == 422, answer.text
    assert "Idempotency-Key" in answer.json()["detail"][0]["loc"]


async def test_a_population_figure_sent_twice_is_added_once(
    client: AsyncClient, headers: Headers, session: AsyncSession, make: Make
) -> None:
    site = await make("idp_sites")
    figure = {"observed_on": "2026-11-01", "individuals": 4200, "source": "DTM round 9"}
    officer = keyed(headers("officer"), str(uuid.uuid4()))
    url = f"/api/idp_sites/{site['id']}/population"
    first = await client.post(url, json=figure, headers=officer)
    assert first.status_code == 201, first.text
    same_answer(first, await client.post(url, json=figure, headers=officer))
    assert await count(session, "site_population", site_id=uuid.UUID(site["id"])) == 1


async def test_a_request_and_its_workflow_step_sent_twice_are_taken_once(
    client: AsyncClient, headers: Headers, session: AsyncSession, make: Make
) -> None:
    actor = await make("actors", name="Kalembe Relief", classification="public")
    officer = keyed(headers("officer"), str(uuid.uuid4()))
    body = request_feature(actor["id"])
    submitted = await client.post("/api/assistance_requests", json=body, headers=officer)
    assert submitted.status_code == 201, submitted.text
    same_answer(
        submitted, await client.post("/api/assistance_requests", json=body, headers=officer)
    )
    record_id = submitted.json()["id"]
    review = keyed(headers("officer"), str(uuid.uuid4()))
    url = f"/api/assistance_requests/{record_id}/review"
    first = await client.post(url, json={"note": "complete"}, headers=review)
    assert first.status_code == 200, first.text
    again = await client.post(url, json={"note": "complete"}, headers=review)
    same_answer(first, again)  # not 409 "already under review"
    history = await client.get(
        f"/api/assistance_requests/{record_id}/history", headers=headers("officer")
    )
    assert [h["step"] for h in history.json()["history"]].count("review") == 1


async def test_an_alert_acknowledged_twice_with_one_key_answers_the_same(
    client: AsyncClient, headers: Headers, session: AsyncSession, make: Make
) -> None:
    from tests.test_alerts import KM, X, Y

    await near_rule(client, headers)
    await make("idp_sites", geometry=factories.point(X, Y))
    incident = await make("incidents", geometry=factories.point(X, Y + 2 * KM), severity=5)
    (raised,) = await evaluate(session, incidents=[incident["id"]])
    officer = keyed(headers("officer"), str(uuid.uuid4()))
    url = f"/api/alerts/{raised.alert_id}/acknowledge"
    first = await client.post(url, headers=officer)
    assert first.status_code == 200, first.text
    same_answer(first, await client.post(url, headers=officer))


async def test_an_import_sent_twice_with_one_key_imports_once(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    from tests import geofiles

    content = geofiles.incidents_csv().encode()
    key = str(uuid.uuid4())
    before = await count(session, "import_jobs")  # other modules' imports, on the same database
    answers = [
        await client.post(
            "/api/imports",
            # A new multipart boundary each time, as a client that builds the request again.
            files={"file": ("incidents.csv", content)},
            data={"wait": "true", "collection": "incidents"},
            headers=keyed(headers("officer"), key),
        )
        for _ in range(2)
    ]
    assert answers[0].status_code == 201, answers[0].text
    same_answer(*answers)
    assert await count(session, "import_jobs") == before + 1


# --- as users run it: concurrent retries, and a retry after the answer was lost -------------


async def test_concurrent_requests_with_one_key_write_once(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        login = await http.post(
            "/auth/token", data={"username": "officer", "password": factories.PASSWORD}
        )
        officer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        note = f"concurrent {uuid.uuid4()}"
        feature = factories.feature("incidents", description=note)
        key = str(uuid.uuid4())
        answers = await asyncio.gather(
            *(
                http.post("/api/incidents", json=feature, headers=keyed(officer, key))
                for _ in range(8)
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert set(statuses) <= {201, 409}, [a.text for a in answers]
        busy = [a for a in answers if a.status_code == 409]
        for answer in busy:
            assert answer.headers["Retry-After"]
            assert "still being processed" in answer.json()["detail"]
        created = {a.json()["id"] for a in answers if a.status_code == 201}
        assert len(created) == 1
        listed = await http.get("/api/incidents", params={"q": note}, headers=officer)
    assert listed.json()["numberReturned"] == 1


async def test_a_retry_after_a_lost_answer_gets_the_first_answer(
    live_server: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        login = await http.post(
            "/auth/token", data={"username": "officer", "password": factories.PASSWORD}
        )
        officer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        note = f"lost answer {uuid.uuid4()}"
        body = json.dumps(factories.feature("incidents", description=note)).encode()
        key = str(uuid.uuid4())
        # The request is sent whole and the connection closed before the answer comes, as
        # when a link drops: the client cannot know whether the write was made.
        address = urlsplit(live_server.url)
        with socket.create_connection((address.hostname, address.port)) as raw:
            raw.sendall(
                b"POST /api/incidents HTTP/1.1\r\nHost: civop\r\n"
                + f"Authorization: {officer['Authorization']}\r\n".encode()
                + f"Idempotency-Key: {key}\r\nContent-Type: application/json\r\n".encode()
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
        retried = []
        for _ in range(600):  # a retry while the first is in flight is told to wait
            answer = await http.post(
                "/api/incidents",
                content=body,
                headers={**keyed(officer, key), "Content-Type": "application/json"},
            )
            retried.append(answer.status_code)
            if answer.status_code != 409:
                break
            await asyncio.sleep(float(answer.headers["Retry-After"]) / 10)
        assert answer.status_code == 201, answer.text
        listed = await http.get("/api/incidents", params={"q": note}, headers=officer)
        assert listed.json()["numberReturned"] == 1
        (stored,) = listed.json()["features"]
        assert answer.json()["id"] == stored["id"]
        assert answer.headers["Location"].endswith(f"/api/incidents/{stored['id']}")


async def test_expired_keys_are_cleared_away_by_later_writes(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    old = str(uuid.uuid4())
    first = await client.post(
        "/api/incidents",
        json=factories.feature("incidents"),
        headers=keyed(headers("admin"), old),
    )
    assert first.status_code == 201
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == old)
        .values(expires_at=func.now() - text("interval '1 day'"))
    )
    later = await client.post(
        "/api/incidents",
        json=factories.feature("incidents"),
        headers=keyed(headers("officer"), str(uuid.uuid4())),
    )
    assert later.status_code == 201
    assert await count(session, "idempotency_keys", key=old) == 0
