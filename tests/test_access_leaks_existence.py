"""No answer tells a user that a record hidden from them exists.

ACLED and DTM ids are public: if writing a record under a key said "taken" because a restricted
record holds it, anyone could learn, say, that a report of sexual violence is held for a given
ACLED event. So every path that checks keys (API and OGC API - Features Part 4 create, replace
and change, imports previewed and run, ordinary and bulk) must answer a key held only by records
the writer may not see in full exactly as it answers a key never used: same status, same body
and headers apart from ids, the same statements run, the same counts.

Each case is played twice, by the same user and with keys of the same length: once with a key
a hidden record holds, once with a key no record has, and the two answers are compared.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.access.policy import Principal
from service.collections.registry import COLLECTIONS
from service.config import get_settings
from service.core import keys
from service.enums import Role
from tests import factories, geofiles
from tests.test_imports import upload
from tests.test_requests import PartnerOf, ngo, partner_of, request_feature

__all__ = ["ngo", "partner_of"]  # fixtures

Headers = Callable[[str], dict[str, str]]

HIDDEN = "EVT-HIDDEN-0001"
UNUSED = "EVT-UNUSED-0001"
ORIGIN = "acled"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NORTH = factories.point(25.3, 7.3)
SOUTH = factories.point(25.3, 4.3)

#: Who writes, and the record hidden from them that holds the key: restricted (above their
#: clearance), in a sector they are not assigned to, or shown to them generalised (under a
#: policy that generalises restricted incidents, ``GENERALISED``).
HOLDERS = {
    "restricted": ("officer", {"classification": "restricted"}, NORTH),
    "outside their sectors": ("officer-north", {"classification": "mission"}, SOUTH),
    "generalised": ("officer", {"classification": "restricted"}, NORTH),
}
GENERALISED = {"incidents": {"restricted": "generalise"}}


def _answer(response: Response, key: str) -> tuple[int, str, dict[str, str]]:
    """What a user notices of an answer, with ids and the key they wrote made alike."""
    body = UUID.sub("<id>", response.text.replace(key, "<key>"))
    kept = {
        name: UUID.sub("<id>", value)
        for name, value in response.headers.items()
        if name not in ("location", "content-length")
    }
    return response.status_code, body, kept


async def _hide(
    client: AsyncClient, headers: Headers, holder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store the hidden record, and read as its writer-to-be once (their user is then cached,
    so that each of their requests after runs the same statements)."""
    user, properties, where = HOLDERS[holder]
    if holder == "generalised":
        monkeypatch.setattr(get_settings(), "policies", GENERALISED)
    assert (await client.get("/auth/me", headers=headers(user))).status_code == 200
    feature = factories.feature(
        "incidents", geometry=where, origin=ORIGIN, external_id=HIDDEN, **properties
    )
    response = await client.post("/api/incidents", json=feature, headers=headers("admin"))
    assert response.status_code == 201, response.text


@contextmanager
def _statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL the service sends (text without values), in order (the savepoints that keep
    each test in one transaction numbered alike)."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(re.sub(r"sa_savepoint_\d+", "sa_savepoint", args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


PREFIXES = {"API": "/api/incidents", "OGC API Part 4": "/collections/incidents/items"}


@pytest.mark.parametrize("holder", list(HOLDERS))
@pytest.mark.parametrize("flavour", list(PREFIXES))
async def test_creating_a_record_under_a_hidden_records_key_answers_as_under_an_unused_key(
    client: AsyncClient,
    headers: Headers,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    holder: str,
    flavour: str,
) -> None:
    await _hide(client, headers, holder, monkeypatch)
    user = HOLDERS[holder][0]
    url = PREFIXES[flavour]
    answers, sent = [], []
    for key in (HIDDEN, UNUSED):
        feature = factories.feature("incidents", geometry=NORTH, origin=ORIGIN, external_id=key)
        with _statements(engine) as statements:
            response = await client.post(url, json=feature, headers=headers(user))
        answers.append(_answer(response, key))
        sent.append(statements)
    hidden, unused = answers
    assert unused[0] == 201, unused
    assert hidden == unused
    assert sent[0] == sent[1], "the two writes ran different statements"


@pytest.mark.parametrize("holder", list(HOLDERS))
@pytest.mark.parametrize("flavour", list(PREFIXES))
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_changing_a_key_to_a_hidden_records_key_answers_as_to_an_unused_key(
    client: AsyncClient,
    headers: Headers,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    holder: str,
    flavour: str,
    method: str,
) -> None:
    await _hide(client, headers, holder, monkeypatch)
    user = HOLDERS[holder][0]
    url = PREFIXES[flavour]
    answers, sent = [], []
    for key in (HIDDEN, UNUSED):
        mine = factories.feature("incidents", geometry=NORTH, origin=ORIGIN, external_id="mine")
        created = await client.post(url, json=mine, headers=headers(user))
        assert created.status_code == 201, created.text
        body: dict[str, Any] = (
            factories.feature("incidents", geometry=NORTH, origin=ORIGIN, external_id=key)
            if method == "PUT"
            else {"properties": {"external_id": key}}
        )
        with _statements(engine) as statements:
            response = await client.request(
                method, f"{url}/{created.json()['id']}", json=body, headers=headers(user)
            )
        answers.append(_answer(response, key))
        sent.append(statements)
    hidden, unused = answers
    assert unused[0] == 200, unused
    assert hidden == unused
    assert sent[0] == sent[1], "the two changes ran different statements"


def _file(folder: Path, key: str) -> Path:
    rows = [dict(geofiles.INCIDENTS[0], external_id=key)]
    folder = folder / key
    folder.mkdir()
    path = folder / "acled-extract.csv"
    path.write_text(geofiles.incidents_csv(rows))
    return path


def _job(response: Response, key: str) -> tuple[int, Any]:
    """An import's answer without what differs between any two runs (ids, the file's digest,
    the seconds each step took)."""
    body = json.loads(UUID.sub("<id>", response.text.replace(key, "<key>")))
    if isinstance(body, dict):
        for name in ("number", "file_sha256"):
            body.pop(name, None)
        body.get("options", {}).pop("seconds", None)
    return response.status_code, body


@pytest.mark.parametrize("holder", list(HOLDERS))
@pytest.mark.parametrize("bulk", [False, True], ids=["ordinary", "bulk load"])
async def test_importing_a_hidden_records_key_answers_as_an_unused_key(
    client: AsyncClient,
    headers: Headers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    holder: str,
    session: AsyncSession,
    bulk: bool,
) -> None:
    await _hide(client, headers, holder, monkeypatch)
    if bulk:
        # A one-row file is a bulk load when the collection holds no more than two records.
        monkeypatch.setattr(get_settings(), "import_bulk_rows", 1)
        await session.execute(text("ANALYZE incidents"))
    user = HOLDERS[holder][0]
    previews, jobs, seconds = [], [], []
    for key in (HIDDEN, UNUSED):
        path = _file(tmp_path, key)
        preview = await upload(
            client, headers, path, collection="incidents", origin=ORIGIN, user=user, dry_run="true"
        )
        previews.append(_job(preview, key))
        job = await upload(client, headers, path, collection="incidents", origin=ORIGIN, user=user)
        jobs.append(_job(job, key))
        seconds.append(job.json().get("options", {}).get("seconds", {}))
    assert previews[0] == previews[1]
    assert previews[1][1]["would"] == {"create": 1, "update": 0, "unchanged": 0, "skip": 0}, (
        previews[1]
    )
    assert jobs[0] == jobs[1]
    status, job = jobs[1]
    assert (status, job["status"], job["created"]) == (201, "succeeded", 1), job
    assert ("indexes" in seconds[1]) is bulk, seconds


async def test_ids_of_new_records_say_nothing_of_their_key(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    """An id computed from a public key (as uuid5 of collection, origin and key) would give away,
    by not being the one computed, that the key is held by a record hidden from the writer."""
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "urn:civop:records")
    feature = factories.feature("incidents", origin=ORIGIN, external_id=UNUSED)
    created = await client.post("/api/incidents", json=feature, headers=headers("officer"))
    assert created.status_code == 201, created.text
    assert created.json()["id"] != str(uuid.uuid5(namespace, f"incidents:{ORIGIN}:{UNUSED}"))
    path = _file(tmp_path, HIDDEN)
    imported = await upload(client, headers, path, collection="incidents", origin=ORIGIN)
    assert imported.status_code == 201, imported.text
    listed = await client.get("/api/incidents", headers=headers("officer"))
    ids = {f["properties"]["external_id"]: f["id"] for f in listed.json()["features"]}
    assert ids[HIDDEN] != str(uuid.uuid5(namespace, f"incidents:{ORIGIN}:{HIDDEN}"))


async def test_a_file_naming_a_hidden_record_by_its_id_answers_as_an_unknown_id(
    client: AsyncClient, headers: Headers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A civop id in a file that names a record the importer may not see in full is no match:
    the row is a new record with an id of its own, as with an id no record has."""
    await _hide(client, headers, "restricted", monkeypatch)
    hidden_id = (await client.get("/api/incidents", headers=headers("admin"))).json()["features"][
        0
    ]["id"]
    previews = []
    for record_id, key in ((hidden_id, "EVT-BYID-1"), (str(uuid.uuid4()), "EVT-BYID-2")):
        row = dict(geofiles.INCIDENTS[0], external_id=key)
        path = tmp_path / f"{key}.csv"
        path.write_text(
            geofiles.csv_text(
                [
                    ["id", *geofiles.FIELDS, "latitude", "longitude"],
                    [record_id, *(row[f] for f in geofiles.FIELDS), row["lat"], row["lon"]],
                ]
            )
        )
        preview = await upload(
            client,
            headers,
            path,
            collection="incidents",
            origin=ORIGIN,
            mapping={"id": "id"},
            dry_run="true",
        )
        previews.append(_job(preview, key))
        job = await upload(
            client, headers, path, collection="incidents", origin=ORIGIN, mapping={"id": "id"}
        )
        assert job.status_code == 201 and job.json()["created"] == 1, job.text
    assert previews[0] == previews[1]
    listed = (await client.get("/api/incidents", headers=headers("officer"))).json()["features"]
    assert hidden_id not in {f["id"] for f in listed}


async def test_a_cleared_user_sees_both_records_and_a_reimport_updates_the_most_restricted(
    client: AsyncClient,
    headers: Headers,
    session: AsyncSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The officer's record and the restricted one share the key. The admin, cleared for both,
    lists both; a key already held by a record the writer sees in full is still a conflict; and
    the admin's re-import of the file updates the record at the highest classification they see
    (the oldest of those when several), never the officer's copy."""
    await _hide(client, headers, "restricted", monkeypatch)
    path = _file(tmp_path, HIDDEN)
    officers = await upload(client, headers, path, collection="incidents", origin=ORIGIN)
    assert officers.status_code == 201 and officers.json()["created"] == 1, officers.text

    listed = await client.get("/api/incidents", headers=headers("admin"))
    both = [f for f in listed.json()["features"] if f["properties"]["external_id"] == HIDDEN]
    assert sorted(f["properties"]["classification"] for f in both) == ["mission", "restricted"]
    assert {f["properties"]["created_by"] for f in both} == {"admin", "officer"}

    again = factories.feature("incidents", origin=ORIGIN, external_id=HIDDEN)
    for user in ("admin", "officer"):
        refused = await client.post("/api/incidents", json=again, headers=headers(user))
        assert refused.status_code == 409, (user, refused.text)
        assert "external_id" in refused.json()["detail"]

    rows = [dict(geofiles.INCIDENTS[0], external_id=HIDDEN, severity=5)]
    newer = tmp_path / "newer.csv"
    newer.write_text(geofiles.incidents_csv(rows))
    preview = await upload(
        client, headers, newer, collection="incidents", origin=ORIGIN, user="admin", dry_run="true"
    )
    assert preview.json()["would"] == {"create": 0, "update": 1, "unchanged": 0, "skip": 0}, (
        preview.text
    )
    job = await upload(client, headers, newer, collection="incidents", origin=ORIGIN, user="admin")
    assert (job.json()["created"], job.json()["updated"]) == (0, 1), job.text
    severities = dict(
        (
            await session.execute(
                text(
                    "SELECT classification, severity FROM incidents "
                    "WHERE origin = :origin AND external_id = :key"
                ),
                {"origin": ORIGIN, "key": HIDDEN},
            )
        ).all()
    )
    assert severities == {"restricted": 5, "mission": geofiles.INCIDENTS[0]["severity"]}


async def test_of_two_records_at_one_classification_a_reimport_updates_the_oldest(
    client: AsyncClient,
    headers: Headers,
    session: AsyncSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The South record came first; an officer limited to the North, who cannot see it, then
    stored their own under the same key. An officer who sees both re-imports the key."""
    await _hide(client, headers, "outside their sectors", monkeypatch)
    north = factories.feature("incidents", geometry=NORTH, origin=ORIGIN, external_id=HIDDEN)
    created = await client.post("/api/incidents", json=north, headers=headers("officer-north"))
    assert created.status_code == 201, created.text
    # (Both were written in this test's one transaction: the South one is dated a day back.)
    await session.execute(
        text(
            "UPDATE incidents SET created_at = created_at - interval '1 day' "
            "WHERE created_by = 'admin' AND external_id = :key"
        ),
        {"key": HIDDEN},
    )
    rows = [dict(geofiles.INCIDENTS[0], external_id=HIDDEN, severity=5, lat=4.3, lon=25.3)]
    newer = tmp_path / "newer.csv"
    newer.write_text(geofiles.incidents_csv(rows))
    job = await upload(client, headers, newer, collection="incidents", origin=ORIGIN)
    assert (job.json()["created"], job.json()["updated"]) == (0, 1), job.text
    severities = dict(
        (
            await session.execute(
                text(
                    "SELECT created_by, severity FROM incidents "
                    "WHERE origin = :origin AND external_id = :key"
                ),
                {"origin": ORIGIN, "key": HIDDEN},
            )
        ).all()
    )
    assert severities == {"admin": 5, "officer-north": north["properties"]["severity"]}


@pytest.mark.parametrize("writer", ["officer", "partner"])
async def test_submitting_a_request_under_a_hidden_requests_key_answers_as_under_an_unused_key(
    client: AsyncClient,
    headers: Headers,
    make: Any,
    ngo: str,
    partner_of: PartnerOf,
    writer: str,
) -> None:
    """A request for civil assistance hidden from the writer: restricted (from an officer), or
    another organisation's (from a partner)."""
    other = str((await make("actors", name="Other Relief", classification="public"))["id"])
    holder = request_feature(
        other,
        origin=ORIGIN,
        external_id=HIDDEN,
        classification="restricted" if writer == "officer" else "mission",
    )
    stored = await client.post("/api/assistance_requests", json=holder, headers=headers("admin"))
    assert stored.status_code == 201, stored.text
    own = headers("officer") if writer == "officer" else await partner_of(ngo)
    assert (await client.get("/auth/me", headers=own)).status_code == 200
    answers = []
    for key in (HIDDEN, UNUSED):
        feature = request_feature(ngo, origin=ORIGIN, external_id=key)
        response = await client.post("/api/assistance_requests", json=feature, headers=own)
        answers.append(_answer(response, key))
    hidden, unused = answers
    assert unused[0] == 201, unused
    assert hidden == unused


async def _waiting_for_a_key(engine: AsyncEngine) -> bool:
    """Whether some transaction waits for an advisory lock of the keys (polled, not timed)."""
    for _ in range(200):
        async with engine.connect() as watcher:
            waiting = await watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND classid IN (:keys, :key) "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"keys": keys.KEYS_LOCK, "key": keys.KEY_LOCK},
            )
        if waiting:
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("first", ["API write", "import"])
async def test_writers_of_one_key_wait_for_each_other(engine: AsyncEngine, first: str) -> None:
    """Two records a writer sees never end up under one key: a write through the API waits
    for another writing the same key, and for an import checking the collection's keys, until
    that transaction ends (both are rolled back here: nothing stays)."""
    table = COLLECTIONS["incidents"].table
    admin = Principal(username="admin", role=Role.admin)
    async with AsyncSession(engine) as holding, AsyncSession(engine) as waiting:
        if first == "import":
            await keys.lock_all(holding, table)
        else:
            await keys.claim(holding, table, admin, ORIGIN, UNUSED)
        claim = asyncio.create_task(keys.claim(waiting, table, admin, ORIGIN, UNUSED))
        try:
            assert await _waiting_for_a_key(engine)
            assert not claim.done()
            await holding.rollback()
            await asyncio.wait_for(claim, 30)
        finally:
            claim.cancel()
            await waiting.rollback()
