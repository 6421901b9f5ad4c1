"""The live picture against the real service (uvicorn in its own process): an incident posted
near a site raises one alert within a second and a connected stream receives it; a partner's
stream never carries a restricted incident or the alert it raised; a reconnecting client
resumes from its last event id; each subscriber reads an alert in the language they chose.
The time-based rules run a few seconds after a change and on
their schedule; the event log is pruned, and a client resuming from a pruned id is told to
reload."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from service.alerts.stream import cursor_of, event_token
from tests import factories
from tests.conftest import (
    ARTIFACTS,
    TEST_DB,
    LiveServer,
    create_database,
    drop_database,
    free_port,
)

KM = 1 / 111.32


@dataclass
class Event:
    id: int | None
    name: str
    data: str
    at: float


@dataclass
class Subscriber:
    """Reads a text/event-stream in the background."""

    events: list[Event] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    last_id: int | None = None

    async def read(self, response: httpx.Response) -> None:
        name, data, event_id = "message", [], None
        async for line in response.aiter_lines():
            self.raw.append(line)
            if line == "":
                if event_id is not None:
                    self.last_id = event_id
                if data:
                    self.events.append(Event(event_id, name, "\n".join(data), time.monotonic()))
                name, data, event_id = "message", [], None
            elif line.startswith("id:"):
                # Tokens, which the service (with the same key) reads back as positions.
                event_id = cursor_of(line[3:].strip())
                assert event_id is not None, line
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())

    async def wait_for(self, predicate: Any, within_s: float = 3.0) -> Event:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for event in self.events:
                if predicate(event):
                    return event
            await asyncio.sleep(0.01)
        raise AssertionError(f"no such event; got {[(e.name, e.data[:80]) for e in self.events]}")


@contextlib.asynccontextmanager
async def subscribe(
    http: httpx.AsyncClient, url: str, key: str, last_event_id: int | None = None
) -> AsyncIterator[Subscriber]:
    headers = {"X-API-Key": key}
    if last_event_id is not None:
        headers["Last-Event-ID"] = event_token(last_event_id)
    subscriber = Subscriber()
    async with http.stream("GET", f"{url}/api/stream", headers=headers, timeout=None) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        task = asyncio.create_task(subscriber.read(response))
        try:
            # The first message says where the stream starts.
            deadline = time.monotonic() + 10
            while subscriber.last_id is None:
                if task.done():
                    task.result()  # the reader failed: say why
                assert time.monotonic() < deadline, f"the stream did not start: {subscriber.raw}"
                await asyncio.sleep(0.01)
            yield subscriber
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await task


async def post(http: httpx.AsyncClient, url: str, key: str, path: str, body: Any) -> dict[str, Any]:
    response = await http.post(f"{url}{path}", json=body, headers={"X-API-Key": key})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_an_incident_near_a_site_reaches_a_connected_client_within_a_second(
    live_server: LiveServer,
) -> None:
    url = live_server.url
    admin = await live_server.api_key("admin")
    partner = await live_server.api_key("partner")
    x, y = 28.4, 4.4
    async with httpx.AsyncClient() as http:
        await post(http, url, admin, "/api/alert_rules",
                   {"name": "live near", "kind": "incident_near_site", "radius_km": 5, "min_severity": 3})  # fmt: skip
        site = await post(http, url, admin, "/api/idp_sites",
                          factories.feature("idp_sites", geometry=factories.point(x, y), classification="public"))  # fmt: skip
        async with (
            subscribe(http, url, admin) as watcher,
            subscribe(http, url, partner) as outsider,
        ):
            public = factories.feature("incidents", geometry=factories.point(x + 2 * KM, y),
                                       severity=4, classification="public")  # fmt: skip
            incident = await post(http, url, admin, "/api/incidents", public)
            posted = time.monotonic()

            def about(record: dict[str, Any]) -> Any:
                return lambda e: e.name == "alert" and record["id"] in e.data

            event = await watcher.wait_for(about(incident))
            assert event.at - posted < 1.0, f"the alert took {event.at - posted:.2f} s"
            alert = json.loads(event.data)["alert"]
            assert {"collection": "idp_sites", "id": site["id"]} in alert["properties"]["records"]
            await watcher.wait_for(lambda e: e.name == "feature" and incident["id"] in e.data)
            # The partner sees the public incident, and its alert.
            await outsider.wait_for(about(incident))

            restricted = factories.feature("incidents", geometry=factories.point(x, y + 1 * KM),
                                           severity=5, classification="restricted",
                                           description="SECRET-restricted-report")  # fmt: skip
            hidden = await post(http, url, admin, "/api/incidents", restricted)
            await watcher.wait_for(about(hidden))
            marker = await post(http, url, admin, "/api/idp_sites",
                                factories.feature("idp_sites", geometry=factories.point(x + 0.5, y), classification="public"))  # fmt: skip
            # The partner's stream has moved past the restricted incident (it sees the next site)...
            await outsider.wait_for(lambda e: marker["id"] in e.data)
            # ...and nothing of it came, neither as a feature nor as an alert.
            everything = "\n".join(outsider.raw)
            assert hidden["id"] not in everything and "SECRET" not in everything
            alerts = await http.get(f"{url}/api/alerts", headers={"X-API-Key": admin},
                                    params={"kind": "incident_near_site"})  # fmt: skip
            mine = [a for a in alerts.json()["features"] if incident["id"] in json.dumps(a)]
            assert len(mine) == 1  # exactly one, although the engine ran several times
            assert [e for e in watcher.events if e.name == "alert" and incident["id"] in e.data
                    and '"action":"created"' in e.data].__len__() == 1  # fmt: skip


async def test_each_subscriber_reads_the_alert_in_their_own_language(
    live_server: LiveServer,
) -> None:
    """An analyst who reads civop in French gets the alert's title and description in French
    on the stream; the admin, who chose no language, in English."""
    url = live_server.url
    admin = await live_server.api_key("admin")
    analyst = await live_server.api_key("analyst")
    x, y = 27.6, 4.2
    async with httpx.AsyncClient() as http:
        chose = await http.patch(
            f"{url}/auth/me", json={"language": "fr"}, headers={"X-API-Key": analyst}
        )
        assert chose.status_code == 200 and chose.json()["language"] == "fr"
        rule = await post(http, url, admin, "/api/alert_rules",
                          {"name": "live languages", "kind": "incident_near_site",
                           "radius_km": 3, "min_severity": 1})  # fmt: skip
        try:
            await post(http, url, admin, "/api/idp_sites",
                       factories.feature("idp_sites", geometry=factories.point(x, y),
                                         classification="public"))  # fmt: skip
            async with (
                subscribe(http, url, admin) as english,
                subscribe(http, url, analyst) as french,
            ):
                incident = await post(http, url, admin, "/api/incidents",
                                      factories.feature("incidents", severity=4,
                                                        geometry=factories.point(x + KM, y),
                                                        classification="public"))  # fmt: skip

                def raised(event: Event) -> bool:
                    if event.name != "alert" or incident["id"] not in event.data:
                        return False
                    alert = json.loads(event.data)["alert"]["properties"]
                    return bool(alert["rule_id"] == rule["id"])

                in_english = json.loads((await english.wait_for(raised)).data)["alert"]
                in_french = json.loads((await french.wait_for(raised)).data)["alert"]
            assert in_english["id"] == in_french["id"]
            assert in_english["properties"]["title"].startswith("Severity 4 ")
            assert in_english["properties"]["description"].startswith("An incident (")
            assert in_french["properties"]["title"].startswith("Gravité 4 : ")
            assert in_french["properties"]["description"].startswith("Un incident (")
        finally:
            await http.delete(f"{url}/api/alert_rules/{rule['id']}", headers={"X-API-Key": admin})
            await http.patch(
                f"{url}/auth/me", json={"language": None}, headers={"X-API-Key": analyst}
            )


async def test_a_reconnecting_client_resumes_without_gaps(live_server: LiveServer) -> None:
    url = live_server.url
    admin = await live_server.api_key("admin")
    async with httpx.AsyncClient() as http:
        async with subscribe(http, url, admin) as first:
            start = first.last_id
            one = await post(http, url, admin, "/api/bases",
                             factories.feature("bases", geometry=factories.point(28.0, 4.0)))  # fmt: skip
            seen = await first.wait_for(lambda e: one["id"] in e.data)
        # Disconnected: two more changes happen.
        two = await post(
            http,
            url,
            admin,
            "/api/bases",
            factories.feature("bases", geometry=factories.point(28.01, 4.0)),
        )
        three = await post(
            http,
            url,
            admin,
            "/api/bases",
            factories.feature("bases", geometry=factories.point(28.02, 4.0)),
        )
        async with subscribe(http, url, admin, last_event_id=seen.id) as second:
            await second.wait_for(lambda e: three["id"] in e.data)
            ids = [e.data for e in second.events if e.name == "feature"]
            assert one["id"] not in "".join(ids)  # not sent again
            assert two["id"] in ids[0] and three["id"] in ids[1]
            numbers = [e.id for e in second.events if e.id is not None]
            assert numbers == sorted(numbers) and numbers[0] > (seen.id or 0) > (start or 0) - 1


async def test_a_change_that_commits_late_is_not_skipped(live_server: LiveServer) -> None:
    """Event ids are taken before commit: a transaction that started first and commits after a
    later one must still reach the stream, in id order."""
    from sqlalchemy import text

    url = live_server.url
    admin = await live_server.api_key("admin")
    async with httpx.AsyncClient() as http, subscribe(http, url, admin) as watcher:
        async with live_server.engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(text("SELECT set_config('civop.actor', 'tests', true)"))
            late = (
                await connection.execute(
                    text(
                        "INSERT INTO bases (name, base_kind, geom, classification) VALUES "
                        "('late', 'team_site', ST_SetSRID(ST_MakePoint(28.1, 4.1), 4326), "
                        "'public') RETURNING id"
                    )
                )
            ).scalar_one()
            # Another collection (writes to one collection queue on its layer version row).
            early = await post(http, url, admin, "/api/projects",
                               factories.feature("projects", geometry=factories.point(28.2, 4.1)))  # fmt: skip
            await asyncio.sleep(0.3)
            await transaction.commit()
        first = await watcher.wait_for(lambda e: str(late) in e.data)
        second = await watcher.wait_for(lambda e: early["id"] in e.data)
        assert first.id is not None and second.id is not None and first.id < second.id
        order = [e.id for e in watcher.events if e.id is not None]
        assert order == sorted(order)


def recently() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat()


async def test_a_risk_threshold_rule_raises_a_few_seconds_after_the_change(
    live_server: LiveServer,
) -> None:
    """The time-based pass runs shortly after the data it reads changes, without waiting for
    its schedule (five minutes here), and without holding up the event-driven rules."""
    url = live_server.url
    admin = await live_server.api_key("admin")
    x, y = 28.8, 5.6
    south = str(live_server.world.sectors["South-All"])
    async with httpx.AsyncClient() as http:
        rule = await post(http, url, admin, "/api/alert_rules",
                          {"name": "live risk", "kind": "risk_threshold", "threshold": 3,
                           "sector_id": south})  # fmt: skip
        try:
            site = await post(http, url, admin, "/api/idp_sites",
                              factories.feature("idp_sites", geometry=factories.point(x, y),
                                                classification="public"))  # fmt: skip
            async with subscribe(http, url, admin) as watcher:
                incident = await post(http, url, admin, "/api/incidents",
                                      factories.feature("incidents", severity=5,
                                                        geometry=factories.point(x, y + 0.0005),
                                                        occurred_at=recently()))  # fmt: skip
                posted = time.monotonic()

                def risk_alert(event: Event) -> bool:
                    if event.name != "alert":
                        return False
                    alert = json.loads(event.data)["alert"]["properties"]
                    return bool(alert["kind"] == "risk_threshold" and site["id"] in event.data)

                event = await watcher.wait_for(risk_alert, within_s=15.0)
                waited = event.at - posted
                alert = json.loads(event.data)["alert"]["properties"]
                assert alert["rule_id"] == rule["id"] and incident["id"] in event.data
                # More data, more passes: still one alert for the site.
                await post(http, url, admin, "/api/incidents",
                           factories.feature("incidents", severity=1,
                                             geometry=factories.point(x + 0.3, y)))  # fmt: skip
                await asyncio.sleep(4)
            found = await http.get(f"{url}/api/alerts", headers={"X-API-Key": admin},
                                   params={"rule_id": rule["id"]})  # fmt: skip
            assert len(found.json()["features"]) == 1
            assert waited < 10, f"the risk alert took {waited:.1f} s"
        finally:
            await http.delete(f"{url}/api/alert_rules/{rule['id']}", headers={"X-API-Key": admin})


@pytest.fixture
async def scheduled_server() -> AsyncIterator[tuple[str, AsyncEngine, str]]:
    """The service and its job worker on their own database, with time-based rules every second
    and events kept for four seconds."""
    name = f"{TEST_DB}_schedule"
    database_url = await create_database(name)
    engine = create_async_engine(database_url)
    await factories.build_world(engine)
    from service.auth import service as auth

    async with AsyncSession(engine) as session:
        _, key = await auth.create_api_key(session, "admin", "tests")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url.replace("postgresql+asyncpg://", "postgresql://", 1),
        "CIVOP_ALERTS_SCHEDULE_S": "1",
        "CIVOP_EVENTS_RETENTION_HOURS": str(4 / 3600),
    }
    log = open(ARTIFACTS / "schedule-server.log", "wb")  # noqa: ASYNC230 - closed at teardown
    process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
        [sys.executable, "-m", "uvicorn", "service.main:app_factory", "--factory",
         "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    # The time-based pass is queued by the service and run by its job worker.
    worker = subprocess.Popen(  # noqa: ASYNC220 - returns at once
        [sys.executable, "-m", "service.jobs"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{base}/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"the service did not start; see {log.name}")
        yield base, engine, key
    finally:
        worker.terminate()
        worker.wait(30)
        process.terminate()
        process.wait(30)
        log.close()
        await engine.dispose()
        await drop_database(name)


async def scalar(engine: AsyncEngine, sql: str) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql))).scalar()


async def test_time_based_rules_run_on_schedule_and_old_events_are_pruned(
    scheduled_server: tuple[str, AsyncEngine, str],
) -> None:
    url, engine, admin = scheduled_server
    x, y = 26.6, 4.6
    async with httpx.AsyncClient() as http:
        site = await post(http, url, admin, "/api/idp_sites",
                          factories.feature("idp_sites", geometry=factories.point(x, y),
                                            classification="public"))  # fmt: skip
        await post(http, url, admin, "/api/incidents",
                   factories.feature("incidents", severity=5, occurred_at=recently(),
                                     geometry=factories.point(x, y + 0.0005)))  # fmt: skip
        # A rule written straight into the database: no change is announced, only the
        # schedule can find it.
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO alert_rules (name, kind, threshold, resolution, window_days) "
                    "VALUES ('scheduled risk', 'risk_threshold', 3, 7, 90)"
                )
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = await http.get(f"{url}/api/alerts", headers={"X-API-Key": admin},
                                   params={"kind": "risk_threshold"})  # fmt: skip
            if found.json()["features"]:
                break
            await asyncio.sleep(0.2)
        (alert,) = found.json()["features"]
        assert {"collection": "idp_sites", "id": site["id"]} in alert["properties"]["records"]

        # Retention: events older than four seconds go; a client resuming from before them
        # is told to reload, then follows live.
        async with subscribe(http, url, admin) as first:
            base = await post(http, url, admin, "/api/bases",
                              factories.feature("bases", geometry=factories.point(x, y)))  # fmt: skip
            seen = await first.wait_for(lambda e: base["id"] in e.data)
        assert seen.id is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (
                await scalar(engine, "SELECT events_pruned_through FROM alert_schedule_state")
                >= seen.id
            ):
                break
            await asyncio.sleep(0.2)
        assert await scalar(engine, f"SELECT count(*) FROM events WHERE id <= {seen.id}") == 0  # noqa: S608
        async with subscribe(http, url, admin, last_event_id=seen.id - 1) as late:
            reset = await late.wait_for(lambda e: e.name == "reset")
            assert json.loads(reset.data) == {"reason": "events-pruned"}
            after = await post(http, url, admin, "/api/bases",
                               factories.feature("bases", geometry=factories.point(x, y + 0.01)))  # fmt: skip
            await late.wait_for(lambda e: e.name == "feature" and after["id"] in e.data)
            assert late.last_id is not None
            resume_from = late.last_id
        # Resuming from an id that is still kept: no reset, and what happened meanwhile.
        meanwhile = await post(http, url, admin, "/api/bases",
                               factories.feature("bases", geometry=factories.point(x, y + 0.02)))  # fmt: skip
        async with subscribe(http, url, admin, last_event_id=resume_from) as current:
            await current.wait_for(lambda e: meanwhile["id"] in e.data)
            assert not [e for e in current.events if e.name == "reset"]
