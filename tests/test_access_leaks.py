"""The leak suite: for every role and every output path, no hidden record's id, attribute or
exact coordinate comes out, and generalised records come out only generalised.

The expectations are written out by hand below from the documented default policy, not derived
from the code under test. A new output path is added either to ``responses_for`` or, for a
family of outputs (exports, map layers, analysis), in a ``test_access_leaks_<family>.py`` that
plants the same records with ``plant`` and checks what each user gets with ``check_outputs``.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories

Headers = Callable[[str], dict[str, str]]
CELL = 10.0 / 111.32  # default generalisation cell, degrees

FULL, COARSE, COARSE_LOCATION, HIDDEN = "full", "generalised", "coarse location", "hidden"
CLASSIFICATIONS = ("public", "mission", "restricted")
LOCATION_ONLY_FOR_PARTNERS = {"actors"}
HIDDEN_ABOVE_CLEARANCE = {"incidents", "patrols"}
# Fields that carry the leak marker in each collection.
MARKED = {
    "sectors": ("name",),
    "actors": ("name", "focal_point", "phone", "description"),
    "idp_sites": ("name", "description"),
    "projects": ("title", "description"),
    "incidents": ("source", "description"),
    "patrols": ("unit", "description"),
    "bases": ("name", "unit"),
    "places": ("name", "alternate_names"),
}
CONTACTS = ("focal_point", "phone")
#: Fields that find a record's exact place, or the record, outside civop: never on a record
#: shown with a coarse location (the documented default policy).
IDENTIFYING = {
    "origin",
    "external_id",
    "sector_id",
    "hq",
    "parent_id",
    "location_precision",
}
#: Where planted records come from, as an imported DTM list's sites do.
ORIGIN = "dtm"


def expected(user: str, collection: str, classification: str) -> str:
    """What ``user`` should get of a record in the North (the documented default policy)."""
    if user == "analyst-south":  # scoped to the South: records in the North are out of scope
        return HIDDEN
    if user == "officer-north" and collection == "sectors":
        return HIDDEN  # planted areas are not part of the North's tree of sub-areas
    if user == "partner":
        if classification == "public":
            return COARSE_LOCATION if collection in LOCATION_ONLY_FOR_PARTNERS else FULL
        if classification == "mission":
            return HIDDEN if collection in HIDDEN_ABOVE_CLEARANCE else COARSE
        return HIDDEN
    if classification == "restricted" and user not in ("analyst-cleared", "admin"):
        return HIDDEN
    return FULL


def sees_contacts(user: str) -> bool:
    return user in ("officer", "officer-north", "admin")


@dataclass
class Planted:
    collection: str
    classification: str
    id: str
    marker: str
    coordinates: list[str]  # exact coordinates as they would be printed
    bounds: tuple[float, float, float, float]

    @property
    def key(self) -> str:
        """The record's key in its source (as a DTM site code), public outside civop."""
        return f"CAR-{self.marker}"


def _geometry(collection: str, x: float, y: float) -> dict[str, Any]:
    if collection == "sectors":
        return factories.square(x, y, x + 0.02, y + 0.02)
    if collection == "patrols":
        return {"type": "LineString", "coordinates": [[x, y], [x + 0.01, y + 0.005], [x + 0.02, y]]}
    return factories.point(x, y)


async def plant(client: AsyncClient, headers: Headers) -> list[Planted]:
    """One record of each classification in each collection, all in the North-West."""
    planted: list[Planted] = []
    restricted_actor: str | None = None
    for ci, collection in enumerate(factories.DEFAULTS):
        for ki, classification in enumerate(CLASSIFICATIONS):
            # Away from cell centres so a tight box around the exact place misses the centre.
            x = (int(24.0 / CELL) + 2 * ci + 0.13) * CELL + ki * 0.0013 + 0.0000123
            y = (int(7.0 / CELL) + 2 * ki + 0.17) * CELL + ci * 0.0011 + 0.0000456
            marker = f"LEAK-{collection}-{classification}"
            properties: dict[str, Any] = {
                "classification": classification,
                "origin": ORIGIN,
                "external_id": f"CAR-{marker}",
                **{field: f"{marker}-{field}" for field in MARKED[collection]},
            }
            if collection == "actors":
                properties["email"] = f"{marker}@example.org".lower()
            if collection == "incidents" and restricted_actor:
                properties["perpetrator_actor_id"] = restricted_actor
            geometry = _geometry(collection, x, y)
            feature = factories.feature(collection, geometry=geometry, **properties)
            response = await client.post(
                f"/api/{collection}", json=feature, headers=headers("admin")
            )
            assert response.status_code == 201, response.text
            record_id = response.json()["id"]
            if collection == "actors" and classification == "restricted":
                restricted_actor = record_id
            coords = [f"{x:.7f}".rstrip("0"), f"{y:.7f}".rstrip("0")]
            planted.append(
                Planted(
                    collection,
                    classification,
                    record_id,
                    marker,
                    coords,
                    (x, y, x + 0.02, y + 0.02),
                )
            )
    return planted


async def responses_for(
    client: AsyncClient, headers: Headers, user: str, planted: list[Planted]
) -> list[str]:
    """Every output path that exists, as this user sees it."""
    auth = headers(user)
    texts: list[str] = []

    async def get(url: str, **params: Any) -> None:
        response = await client.get(url, params=params, headers=auth)
        assert response.status_code in (200, 403, 404), (url, response.status_code, response.text)
        body = response.json()
        if isinstance(body, dict):
            body.pop("links", None)  # echoes the request, not data
        texts.append(json.dumps(body))

    for collection in factories.DEFAULTS:
        await get(f"/api/{collection}", limit=1000)
    for record in planted:
        x0, y0, _, _ = record.bounds
        await get(f"/api/{record.collection}/{record.id}")
        await get(
            f"/api/{record.collection}",
            bbox=f"{x0 - 0.0001},{y0 - 0.0001},{x0 + 0.0001},{y0 + 0.0001}",
        )
        await get(f"/api/{record.collection}", q=record.marker)
        await get("/api/audit", record=record.id)
        if record.collection == "idp_sites":
            await get(f"/api/idp_sites/{record.id}/population")
        if record.collection == "incidents":
            await get(
                "/api/incidents", category="armed_clash", datetime="2026-01-01/..", limit=1000
            )
    return texts


def _feature_in(text: str, record_id: str) -> dict[str, Any] | None:
    body = json.loads(text)
    if not isinstance(body, dict):
        return None
    if body.get("type") == "Feature" and body.get("id") == record_id:
        return body
    for feature in body.get("features", []):
        if feature.get("id") == record_id:
            return feature  # type: ignore[no-any-return]
    return None


def _is_cell_centre(value: float) -> bool:
    steps = value / CELL - 0.5
    return math.isclose(steps, round(steps), abs_tol=1e-6)


USERS = [
    "partner",
    "analyst",
    "analyst-cleared",
    "officer",
    "officer-north",
    "analyst-south",
    "admin",
]


def check_outputs(user: str, planted: list[Planted], texts: list[str]) -> None:
    """Assert the policy on everything ``user`` got back. ``texts`` are JSON documents: API
    answers, or exports and analysis results turned into GeoJSON by the caller."""
    everything = "\n".join(texts)
    for record in planted:
        expectation = expected(user, record.collection, record.classification)
        where = f"{user} / {record.collection} / {record.classification}"
        feature = next((f for f in (_feature_in(t, record.id) for t in texts) if f), None)
        if expectation == HIDDEN:
            assert record.id not in everything, f"{where}: hidden id came out"
            assert record.marker not in everything, f"{where}: hidden attribute came out"
            for coordinate in record.coordinates:
                assert coordinate not in everything, f"{where}: exact coordinate came out"
            continue
        assert feature is not None, f"{where}: should be visible"
        properties = feature["properties"]
        geometry = feature["geometry"]
        if expectation in (COARSE, COARSE_LOCATION):
            assert geometry["type"] == "Point", where
            x, y = geometry["coordinates"]
            assert _is_cell_centre(x) and _is_cell_centre(y), (
                f"{where}: not snapped to a cell centre"
            )
            x0, y0, x1, y1 = record.bounds
            assert x0 - CELL <= x <= x1 + CELL and y0 - CELL <= y <= y1 + CELL, where
            assert properties["generalised"] is True, where
            for coordinate in record.coordinates:
                assert coordinate not in everything, f"{where}: exact coordinate came out"
            # Nothing that finds the exact place again through a public list or the sectors.
            assert record.key not in everything, f"{where}: external id of a generalised record"
            for name in IDENTIFYING & set(properties):
                assert properties[name] in (None, ""), f"{where}: {name} of a generalised record"
        if expectation == COARSE:
            assert record.marker not in everything, (
                f"{where}: sensitive field of a generalised record"
            )
        if expectation == FULL:
            assert properties["generalised"] is False, where
            assert geometry["type"] != "Point" or geometry["coordinates"] == [
                float(record.coordinates[0]),
                float(record.coordinates[1]),
            ], where
        if expectation in (FULL, COARSE_LOCATION):
            for field in MARKED[record.collection]:
                value = properties[field]
                if field in CONTACTS and not sees_contacts(user):
                    assert value is None, f"{where}: contact {field} shown"
                else:
                    assert value == f"{record.marker}-{field}", f"{where}: {field}"
        if record.collection == "actors" and not sees_contacts(user):
            assert properties["email"] is None, where
        assert (properties["created_by"] is None) == (user == "partner"), where


@pytest.mark.parametrize("user", USERS)
async def test_nothing_leaks_through_the_api(
    client: AsyncClient, headers: Headers, user: str
) -> None:
    planted = await plant(client, headers)
    check_outputs(user, planted, await responses_for(client, headers, user, planted))


async def test_partner_cannot_find_a_generalised_record_by_its_exact_place(
    client: AsyncClient, headers: Headers
) -> None:
    planted = await plant(client, headers)
    actor = next(p for p in planted if p.collection == "actors" and p.classification == "mission")
    x0, y0, _, _ = actor.bounds
    tight = f"{x0 - 0.001},{y0 - 0.001},{x0 + 0.001},{y0 + 0.001}"
    partner = await client.get("/api/actors", params={"bbox": tight}, headers=headers("partner"))
    assert actor.id not in partner.text
    analyst = await client.get("/api/actors", params={"bbox": tight}, headers=headers("analyst"))
    assert actor.id in analyst.text


async def test_hidden_records_cannot_be_changed_or_confirmed(
    client: AsyncClient, headers: Headers
) -> None:
    planted = await plant(client, headers)
    restricted = next(
        p for p in planted if p.collection == "incidents" and p.classification == "restricted"
    )
    for method in ("PATCH", "DELETE"):
        body = {"properties": {"severity": 1}} if method == "PATCH" else None
        response = await client.request(
            method, f"/api/incidents/{restricted.id}", json=body, headers=headers("officer")
        )
        assert response.status_code == 404, method
    site = next(
        p for p in planted if p.collection == "idp_sites" and p.classification == "restricted"
    )
    response = await client.post(
        f"/api/idp_sites/{site.id}/population",
        json={"observed_on": "2026-10-01", "individuals": 10},
        headers=headers("officer"),
    )
    assert response.status_code == 404


async def test_reference_to_a_hidden_record_cannot_be_written(
    client: AsyncClient, headers: Headers
) -> None:
    planted = await plant(client, headers)
    restricted_actor = next(
        p for p in planted if p.collection == "actors" and p.classification == "restricted"
    )
    feature = factories.feature("incidents", perpetrator_actor_id=restricted_actor.id)
    response = await client.post("/api/incidents", json=feature, headers=headers("officer"))
    assert response.status_code == 422
    assert "perpetrator_actor_id" in response.json()["detail"][0]["loc"]


async def test_a_policy_change_takes_effect_at_once(
    client: AsyncClient, headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Views are built once per principal; a changed policy must not be served from that."""
    from service.config import get_settings

    planted = await plant(client, headers)
    mission = next(
        p for p in planted if p.collection == "incidents" and p.classification == "mission"
    )

    async def partner_sees() -> dict[str, Any] | None:
        response = await client.get(
            "/api/incidents", params={"limit": 1000}, headers=headers("partner")
        )
        assert response.status_code == 200
        by_id = {f["id"]: f for f in response.json()["features"]}
        return by_id.get(str(mission.id))

    assert await partner_sees() is None  # hidden by the default policy
    monkeypatch.setattr(get_settings(), "policies", {"incidents": {"mission": "generalise"}})
    shown = await partner_sees()
    assert shown is not None and shown["properties"]["generalised"] is True
    monkeypatch.setattr(get_settings(), "policies", {})
    assert await partner_sees() is None


async def test_a_generalised_records_id_cannot_be_computed_from_its_public_key(
    client: AsyncClient, headers: Headers
) -> None:
    """A DTM site code is public, with the site's exact place: an id anyone could compute from
    it (uuid5 of the key, as ids once were) would tie the generalised site back to that place."""
    planted = await plant(client, headers)
    site = next(p for p in planted if p.collection == "idp_sites" and p.classification == "mission")
    public_namespace = uuid.uuid5(uuid.NAMESPACE_URL, "urn:civop:records")
    computable = {
        str(uuid.uuid5(public_namespace, f"idp_sites:{ORIGIN}:{site.key}")),
        str(uuid.uuid5(uuid.NAMESPACE_URL, site.key)),
        str(uuid.uuid5(uuid.NAMESPACE_OID, site.key)),
    }
    assert site.id not in computable
    # The id is random: the same key written again (after a delete) gets another one.
    assert uuid.UUID(site.id).version == 4
    shown = await client.get(f"/api/idp_sites/{site.id}", headers=headers("partner"))
    assert shown.json()["properties"]["generalised"] is True


@pytest.mark.parametrize("kind", ["civ-oes", "handover"])
async def test_a_partners_report_names_no_key_of_a_generalised_record(
    client: AsyncClient,
    headers: Headers,
    session: AsyncSession,
    world: factories.World,
    kind: str,
) -> None:
    """The report a job worker makes for a partner (the request itself only queues it; see
    tests/test_reports.py), built here the same way within the test's transaction."""
    from service.auth import service as auth
    from service.reports.render import render_html
    from service.reports.service import ReportQuery, build_report

    planted = await plant(client, headers)
    asked = await client.get(
        f"/api/reports/{kind}", params={"bbox": "23.5,6.5,25.5,8.5"}, headers=headers("partner")
    )
    assert asked.status_code == 202, asked.text
    partner = await auth.principal_of_user(session, world.users["partner"])
    assert partner is not None
    query = ReportQuery(
        kind=kind,  # type: ignore[arg-type]
        bbox=(23.5, 6.5, 25.5, 8.5),
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 12, 31, tzinfo=UTC),
    )
    text = render_html(await build_report(session, partner, query))
    assert "<html" in text.lower()
    for record in planted:
        if expected("partner", record.collection, record.classification) in (COARSE, HIDDEN):
            assert record.key not in text, (kind, record.collection)
            assert record.marker not in text, (kind, record.collection)
            assert record.id not in text, (kind, record.collection)
