"""The leak suite for requests for civil assistance: for every role (and partners working for
an actor), no hidden request's id, text or exact place comes out of the API, the history, OGC
API items, vector tiles or exports; partners see public requests and their own actor's.

The expectations are written out by hand from the documented policy, not derived from the code.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import morecantile
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import service as auth
from service.auth.security import issue_token
from service.config import get_settings
from service.enums import Role
from tests import factories
from tests.test_access_leaks_layers import tile_features
from tests.test_requests import URL, request_feature

Headers = Callable[[str], dict[str, str]]
TMS = morecantile.tms.get("WebMercatorQuad")
FULL, HIDDEN = "full", "hidden"
CLASSIFICATIONS = ("public", "mission", "restricted")
OWNERS = ("A", "B")
STAFF = ["analyst", "analyst-cleared", "officer", "officer-north", "analyst-south", "admin"]
USERS = ["partner", "partner-A", "partner-B", *STAFF]


def expected(user: str, owner: str, classification: str) -> str:
    """What ``user`` gets of a request of ``owner``'s actor, planted in the North."""
    if user == "analyst-south":  # limited to the South
        return HIDDEN
    if user in ("analyst-cleared", "admin"):
        return FULL
    if user.startswith("partner"):
        if classification == "public":
            return FULL
        own = user == f"partner-{owner}"
        return FULL if own and classification == "mission" else HIDDEN
    return HIDDEN if classification == "restricted" else FULL


@dataclass
class Planted:
    owner: str
    classification: str
    id: str
    marker: str
    lon: float
    lat: float

    @property
    def coordinates(self) -> list[str]:
        return [f"{self.lon:.7f}".rstrip("0"), f"{self.lat:.7f}".rstrip("0")]


@dataclass
class Mission:
    planted: list[Planted]
    auth: dict[str, dict[str, str]]


@pytest.fixture
async def mission(
    client: AsyncClient, headers: Headers, session: AsyncSession, world: factories.World
) -> Mission:
    """Two actors, a partner account for each, and a request of each classification from each."""
    users = {name: headers(name) for name in ["partner", *STAFF]}
    planted: list[Planted] = []
    for oi, owner in enumerate(OWNERS):
        actor = await client.post(
            "/api/actors",
            json=factories.feature("actors", name=f"Relief {owner}", classification="public"),
            headers=headers("admin"),
        )
        actor_id = actor.json()["id"]
        user = await auth.add_user(
            session,
            username=f"leak-partner-{owner}-{uuid.uuid4().hex[:6]}",
            password=factories.PASSWORD,
            role=Role.partner,
            actor_id=uuid.UUID(actor_id),
            actor="test-setup",
        )
        token, _ = issue_token(user.id, get_settings().signing_key(), timedelta(minutes=5))
        users[f"partner-{owner}"] = {"Authorization": f"Bearer {token}"}
        for ci, classification in enumerate(CLASSIFICATIONS):
            lon = round(24.3123457 + 0.2 * oi + 0.05 * ci, 7)
            lat = round(7.4123457 + 0.03 * ci + 0.011 * oi, 7)
            marker = f"LEAK-request-{owner}-{classification}"
            feature = request_feature(
                actor_id,
                title=f"{marker}-title",
                need=f"{marker}-need",
                justification=f"{marker}-justification",
                classification=classification,
            )
            feature["geometry"] = factories.point(lon, lat)
            created = await client.post(URL, json=feature, headers=headers("admin"))
            assert created.status_code == 201, created.text
            planted.append(Planted(owner, classification, created.json()["id"], marker, lon, lat))
    return Mission(planted, users)


async def outputs(
    client: AsyncClient, auth: dict[str, str], planted: list[Planted], tmp_path: Path
) -> list[str]:
    """Every output path of requests, as JSON texts."""
    texts: list[str] = []

    async def get(url: str, **params: Any) -> None:
        response = await client.get(url, params=params, headers=auth)
        assert response.status_code in (200, 403, 404), (url, response.status_code, response.text)
        body = response.json()
        if isinstance(body, dict):
            body.pop("links", None)
        texts.append(json.dumps(body))

    await get(URL, limit=1000)
    await get("/collections/assistance_requests/items", limit=1000)
    await get("/collections/assistance_requests")
    for record in planted:
        box = f"{record.lon - 0.0001},{record.lat - 0.0001},{record.lon + 0.0001},{record.lat + 0.0001}"
        await get(f"{URL}/{record.id}")
        await get(f"{URL}/{record.id}/history")
        await get(URL, bbox=box)
        await get(URL, q=record.marker)
        await get(f"/collections/assistance_requests/items/{record.id}")
        await get("/api/audit", record=record.id)
        for z in (6, 10, 14):
            tile = TMS.tile(record.lon, record.lat, z)
            features = await tile_features(client, auth, "assistance_requests", tile)
            texts.append(json.dumps({"tile": [tile.z, tile.x, tile.y], "features": features}))
    for fmt in ("geojson", "csv"):
        response = await client.get(f"{URL}/export", params={"format": fmt}, headers=auth)
        assert response.status_code == 200, response.text
        texts.append(json.dumps({"raw": response.content.decode("utf-8", "replace")}))
    return texts


def _feature(texts: list[str], record_id: str) -> dict[str, Any] | None:
    for text in texts:
        body = json.loads(text)
        if not isinstance(body, dict):
            continue
        if body.get("type") == "Feature" and body.get("id") == record_id:
            return body
        for feature in body.get("features", []):
            if feature.get("id") == record_id and "geometry" in feature:
                return feature  # type: ignore[no-any-return]
    return None


@pytest.mark.parametrize("user", USERS)
async def test_nothing_leaks_from_requests(
    client: AsyncClient, mission: Mission, tmp_path: Path, user: str
) -> None:
    texts = await outputs(client, mission.auth[user], mission.planted, tmp_path)
    everything = "\n".join(texts)
    for record in mission.planted:
        where = f"{user} / {record.owner} / {record.classification}"
        if expected(user, record.owner, record.classification) == HIDDEN:
            assert record.id not in everything, f"{where}: hidden id came out"
            assert record.marker not in everything, f"{where}: hidden text came out"
            for coordinate in record.coordinates:
                assert coordinate not in everything, f"{where}: exact place came out"
            continue
        feature = _feature(texts, record.id)
        assert feature is not None, f"{where}: should be visible"
        properties = feature["properties"]
        assert properties["title"] == f"{record.marker}-title", where
        assert properties["need"] == f"{record.marker}-need", where
        assert properties["generalised"] is False, where
        assert feature["geometry"]["coordinates"] == [record.lon, record.lat], where
        assert (properties["created_by"] is None) == user.startswith("partner"), where
        history = next(json.loads(t) for t in texts if f'"request_id": "{record.id}"' in t)
        assert history["history"][0]["step"] == "recorded", where
        assert (history["history"][0]["recorded_by"] is None) == user.startswith("partner")


async def test_partners_of_different_actors_never_share_a_tile(
    client: AsyncClient, mission: Mission
) -> None:
    own = next(p for p in mission.planted if p.owner == "A" and p.classification == "mission")
    tile = TMS.tile(own.lon, own.lat, 10)
    seen_by_a = await tile_features(client, mission.auth["partner-A"], "assistance_requests", tile)
    assert own.id in {f["properties"]["id"] for f in seen_by_a}
    # The same tile, just cached for partner A, asked for by partner B and by a partner
    # working for nobody.
    for other in ("partner-B", "partner"):
        seen = await tile_features(client, mission.auth[other], "assistance_requests", tile)
        assert own.id not in {f["properties"]["id"] for f in seen}, other


async def test_hidden_requests_cannot_be_acted_on(client: AsyncClient, mission: Mission) -> None:
    theirs = next(p for p in mission.planted if p.owner == "A" and p.classification == "mission")
    restricted = next(p for p in mission.planted if p.classification == "restricted")
    for user, record in (("partner-B", theirs), ("officer", restricted), ("partner-A", restricted)):
        response = await client.post(
            f"{URL}/{record.id}/withdraw", json={"reason": "probe"}, headers=mission.auth[user]
        )
        assert response.status_code == 404, (user, response.text)
        assert record.marker not in response.text
