"""Hostile input against the service as users run it.

Schemathesis generates requests for every operation of the OpenAPI document, valid and
invalid, signed in as an admin and as a partner: no answer may be a 5xx, and every answer must
be one the document describes (status, media type, headers, body schema). Then every filter
parameter of every list, items, analysis and export route gets SQL injection strings and
oversized values: each is refused with a 4xx (free-text search finds nothing), never a 5xx,
and the database is the same afterwards. Schemathesis also generates valid bodies for every
POST, sent as an officer with geometries inside the mission area and times in the years kept:
no 5xx, and each record created (201) reads back.

``CIVOP_FUZZ_EXAMPLES`` (default 5, valid and invalid) sets the requests per operation and
user; ``CIVOP_FUZZ_SEED`` (default 10) picks other ones: ``CIVOP_FUZZ_EXAMPLES=100`` runs
deeper (about twenty times as long); ``CIVOP_FUZZ_WRITE_EXAMPLES`` (default 8) the valid
writes per POST operation."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import create_async_engine

from service.ops.backup import USER_RELATIONS
from tests import factories
from tests.conftest import TEST_DB, create_database, drop_database
from tests.reliability.conftest import Service, record_figures

EXAMPLES = int(os.environ.get("CIVOP_FUZZ_EXAMPLES", "5"))
SEED = int(os.environ.get("CIVOP_FUZZ_SEED", "10"))
USERS = ("admin", "partner")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Text searched for as given (``q``; the audit's exact ``collection`` and ``actor``): a
#: hostile string is a search that finds nothing, not an error.
FREE_TEXT = {"q", "collection", "actor"}
SQL_INJECTION = [
    "abduction' OR '1'='1",
    "1; DROP TABLE incidents; --",
    "x' UNION SELECT password_hash FROM users --",
    "' AND pg_sleep(10) --",
]
#: What the service writes on its own schedule (when its alert passes last ran).
BOOKKEEPING = {
    "public.alert_engine_state",
    "public.alert_schedule_state",
    # The job queue: the scheduled alert pass is queued and run, workers send heartbeats.
    "public.procrastinate_jobs",
    "public.procrastinate_events",
    "public.procrastinate_workers",
    "public.procrastinate_periodic_defers",
    # The point groups of low-zoom tiles, counted again by a worker after the records planted.
    "public.point_groups",
    "public.point_group_builds",
}
OVERSIZED = ["9" * 5000, "a" * 50_000, ",".join(["1"] * 10_000), "1e309"]


@dataclass
class Hostile:
    service: Service
    url: str
    headers: dict[str, dict[str, str]]
    patrol: str
    ran: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def hostile() -> AsyncIterator[Hostile]:
    """The service on a database of its own with a few records of every collection."""
    name = f"{TEST_DB}_hostile"
    url = await create_database(name)
    engine = create_async_engine(url)
    try:
        await factories.build_world(engine)
    finally:
        await engine.dispose()
    service = Service(url, "reliability-hostile-server.log", settings={"CIVOP_TILE_CACHE_MB": "0"})
    await service.start()
    try:
        headers: dict[str, dict[str, str]] = {}
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
            for user in USERS:
                login = await http.post(
                    "/auth/token", data={"username": user, "password": factories.PASSWORD}
                )
                headers[user] = {"Authorization": f"Bearer {login.json()['access_token']}"}
            made: dict[str, str] = {}
            for collection in ("actors", "idp_sites", "projects", "incidents", "patrols", "bases"):
                for classification in ("public", "mission"):
                    feature = factories.feature(collection, classification=classification)
                    created = await http.post(
                        f"/api/{collection}", json=feature, headers=headers["admin"]
                    )
                    assert created.status_code == 201, created.text
                    made[collection] = created.json()["id"]
        yield Hostile(service, url, headers, made["patrols"])
    finally:
        service.stop()
        await drop_database(name)


async def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        found = {}
        for row in await connection.fetch(USER_RELATIONS):
            if row[0] in BOOKKEEPING:
                continue
            schema, _, table = row[0].partition(".")
            rows = f"""SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))
                FROM "{schema}"."{table}" t"""  # noqa: S608 - names from the catalog
            found[row[0]] = tuple(await connection.fetchrow(rows))
        return found
    finally:
        await connection.close()


def _filter_routes(paths: dict[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(path, query parameters) of every list, items, analysis and export route."""
    for path, operations in paths.items():
        get = operations.get("get")
        if get is None or "{" in path or path == "/api/stream":  # a live feed, not a list
            continue
        kind = (
            path.startswith("/api/analysis/")
            or path.endswith("/export")
            or path.endswith("/items")
            or (path.count("/") == 2 and path.startswith("/api/") and "tiles" not in path)
        )
        parameters = [p for p in get.get("parameters", []) if p["in"] == "query"]
        if kind and parameters:
            yield path, parameters


def _valid(path: str, hostile: Hostile) -> dict[str, str]:
    """What a route needs to answer 200: an area for analyses, a point, a patrol."""
    if not path.startswith("/api/analysis/"):
        return {}
    # Emerging hot spots, hot spots and the risk overlay over the whole mission run in a worker
    # (202): a small area answers here.
    in_worker = path.endswith(("emerging-hotspots", "/hotspots", "/risk"))
    bbox = "25,5.5,25.5,6" if in_worker else "23,3,29,9"
    return {"bbox": bbox, "point": "25,6", "patrol": hostile.patrol}


async def test_sql_injection_and_oversized_values_in_every_filter_are_refused(
    hostile: Hostile,
) -> None:
    admin = hostile.headers["admin"]
    before = await fingerprint(hostile.url)
    limits = httpx.Limits(max_connections=4)
    async with httpx.AsyncClient(base_url=hostile.service.url, timeout=60, limits=limits) as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
        routes = list(_filter_routes(paths))
        tried: list[tuple[str, str, str, int]] = []
        for path, parameters in routes:
            required = {p["name"] for p in parameters if p.get("required")}
            base = {k: v for k, v in _valid(path, hostile).items() if k in required | {"bbox"}}
            baseline = await http.get(path, params=base, headers=admin)
            assert baseline.status_code == 200, (path, baseline.text)

            async def attempt(
                name: str, value: str, path: str = path, base: dict[str, str] = base
            ) -> None:
                params = {**base, name: value}
                answer = await http.get(path, params=params, headers=admin)
                tried.append((path, name, value[:40], answer.status_code))
                assert answer.status_code < 500, (path, name, value[:60], answer.text[:300])
                if name in FREE_TEXT and answer.status_code == 200:
                    found = answer.json() if "json" in answer.headers["content-type"] else []
                    found = found["features"] if isinstance(found, dict) else found
                    assert found == [], (path, name, value[:60])
                    return
                assert 400 <= answer.status_code < 500, (path, name, value[:60], answer.text[:300])

            await asyncio.gather(
                *(
                    attempt(p["name"], value)
                    for p in parameters
                    for value in SQL_INJECTION + OVERSIZED
                )
            )
    assert await fingerprint(hostile.url) == before
    statuses = sorted({status for *_, status in tried})
    refused = sum(1 for *_, status in tried if 400 <= status < 500)
    parameters_tried = {(path, name) for path, name, *_ in tried}
    record_figures(
        "hostile-filters",
        {"routes": len(routes), "parameters": len(parameters_tried), "requests": len(tried)},
        [
            f"{len(tried)} hostile requests on {len(parameters_tried)} parameters of "
            f"{len(routes)} list/items/analysis/export routes: {refused} refused (4xx), the "
            f"rest free-text searches that found nothing; statuses {statuses}; no 5xx; "
            "database unchanged",
        ],
    )


# --- every operation, generated by Schemathesis ------------------------------------------


@pytest.fixture(scope="module", params=USERS)
def fuzzed_as(request: pytest.FixtureRequest, hostile: Hostile) -> Iterator[str]:
    user: str = request.param
    started = time.monotonic()
    hostile.ran[user] = {"operations": set(), "examples": 0}
    yield user
    ran = hostile.ran[user]
    seconds = time.monotonic() - started
    record_figures(
        f"schemathesis-{user}",
        {"operations": len(ran["operations"]), "examples": ran["examples"], "seconds": seconds},
        [
            f"as {user}: {len(ran['operations'])} operations, {ran['examples']} generated "
            f"requests (at most {EXAMPLES} per operation, seed {SEED}) in {seconds:.0f} s: "
            "no 5xx, every answer as documented"
        ],
    )


def test_every_operation_answers_as_documented(hostile: Hostile, fuzzed_as: str) -> None:
    config = SchemathesisConfig.from_dict(
        {
            "headers": hostile.headers[fuzzed_as],
            "request-timeout": 30,
            "max-stream-events": 3,
            # Signed in as the user throughout: no generated Authorization or X-API-Key.
            "generation": {"with-security-parameters": False},
            # The live stream never ends: read for half a second, then judge what came.
            "operations": [{"include-path": "/api/stream", "request-timeout": 0.5}],
        }
    )
    schema = schemathesis.openapi.from_url(f"{hostile.service.url}/openapi.json", config=config)
    ran = hostile.ran[fuzzed_as]
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        ran["operations"].add(operation.label)
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @hypothesis.seed(SEED)
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(case=strategy)
        def answers_as_documented(case: schemathesis.Case) -> None:
            ran["examples"] += 1
            case.call_and_validate(checks=CHECKS, headers=hostile.headers[fuzzed_as])

        try:
            answers_as_documented()
        except Exception as failure:  # every operation is tried; all failures are reported
            failures.append(f"{operation.label}: {failure}")
    assert not failures, "\n\n".join(failures)


# --- valid writes, generated -----------------------------------------------------------------

#: Valid bodies per POST operation, signed in as an officer (who may write).
WRITE_EXAMPLES = int(os.environ.get("CIVOP_FUZZ_WRITE_EXAMPLES", "8"))
#: The mission area of the test world, a little inside its edges.
LONGITUDES, LATITUDES = (23.1, 28.9), (3.1, 8.9)
LINES = {"patrols"}
AREAS = {"sectors"}


def _geometry(collection: str) -> st.SearchStrategy[dict[str, Any]]:
    """A valid geometry inside the mission area for the collection."""
    points = st.tuples(
        st.floats(*LONGITUDES, allow_nan=False).map(lambda v: round(v, 5)),
        st.floats(*LATITUDES, allow_nan=False).map(lambda v: round(v, 5)),
    )
    if collection in LINES:
        return points.map(
            lambda p: {"type": "LineString", "coordinates": [list(p), [p[0] + 0.05, p[1] + 0.02]]}
        )
    if collection in AREAS:
        return points.map(lambda p: factories.square(p[0], p[1], p[0] + 0.05, p[1] + 0.05))
    return points.map(lambda p: {"type": "Point", "coordinates": list(p)})


INSTANTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


def _realistic(case: schemathesis.Case, data: st.DataObject, site: str) -> None:
    """Keep what Schemathesis generated, with what it cannot know: a geometry inside the
    mission area, instants and days in the years kept, references to records that exist."""
    if "site_id" in (case.path_parameters or {}):
        case.path_parameters = {**(case.path_parameters or {}), "site_id": site}
    body = case.body
    if not isinstance(body, dict):
        return
    if body.get("type") == "Feature":
        parts = case.path.strip("/").split("/")
        body["geometry"] = data.draw(_geometry(parts[1]))
        body["properties"] = properties = dict(body.get("properties") or {})
    else:
        properties = body
    for name, value in list(properties.items()):
        if name.endswith("_id"):
            del properties[name]  # a random id names no record
        elif isinstance(value, str) and len(value) == 10 and value[4:5] == "-":
            properties[name] = data.draw(INSTANTS).date().isoformat()
        elif isinstance(value, str) and value[4:5] == "-" and "T" in value:
            properties[name] = data.draw(INSTANTS).isoformat()


def test_generated_valid_writes_are_stored_and_read_back(hostile: Hostile) -> None:
    """Every POST that writes, with bodies valid by the OpenAPI document (and geometries and
    times a mission has), as an officer: never a 5xx, and each record created (201) reads
    back as it was answered."""
    started = time.monotonic()
    with httpx.Client(base_url=hostile.service.url, timeout=30) as http:
        login = http.post(
            "/auth/token", data={"username": "officer", "password": factories.PASSWORD}
        )
        officer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        site = http.get("/api/idp_sites", headers=officer).json()["features"][0]["id"]
        config = SchemathesisConfig.from_dict(
            {
                "headers": officer,
                "request-timeout": 30,
                "generation": {"with-security-parameters": False},
            }
        )
        schema = schemathesis.openapi.from_url(f"{hostile.service.url}/openapi.json", config=config)
        created: dict[str, int] = {}
        statuses: dict[int, int] = {}
        failures: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.method.upper() != "POST" or operation.path.startswith("/auth/"):
                continue

            @hypothesis.seed(SEED)
            @hypothesis.settings(
                max_examples=WRITE_EXAMPLES,
                deadline=None,
                database=None,
                phases=[hypothesis.Phase.generate],
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(GenerationMode.POSITIVE), data=st.data())
            def stored_and_read_back(case: schemathesis.Case, data: st.DataObject) -> None:
                label = case.operation.label
                _realistic(case, data, site)
                response = case.call(headers=officer)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                assert response.status_code < 500, (label, response.status_code, response.text)
                if response.status_code != 201:
                    return
                answered = response.json()
                if "Location" in response.headers:
                    again = http.get(response.headers["Location"], headers=officer)
                    assert again.status_code == 200, (label, again.text)
                    assert again.json()["id"] == answered["id"], label
                elif case.path.endswith("/population"):
                    history = http.get(f"/api/idp_sites/{site}/population", headers=officer)
                    assert answered["id"] in {f["id"] for f in history.json()}, label
                created[label] = created.get(label, 0) + 1

            try:
                stored_and_read_back()
            except Exception as failure:  # every operation is tried; all failures are reported
                failures.append(f"{operation.label}: {failure}")
    assert not failures, "\n\n".join(failures)
    # Each collection's create, in the domain API and in OGC API - Features, stored records.
    for collection in ("actors", "idp_sites", "projects", "incidents", "patrols", "bases"):
        for path in (f"/api/{collection}", f"/collections/{collection}/items"):
            assert created.get(f"POST {path}", 0) > 0, (path, created, statuses)
    seconds = time.monotonic() - started
    record_figures(
        "schemathesis-writes",
        {"created": sum(created.values()), "statuses": statuses, "seconds": seconds},
        [
            f"as officer: {sum(statuses.values())} generated valid writes (at most "
            f"{WRITE_EXAMPLES} per POST operation, seed {SEED}) in {seconds:.0f} s: "
            f"{sum(created.values())} records created and read back, statuses {statuses}, "
            "no 5xx"
        ],
    )
