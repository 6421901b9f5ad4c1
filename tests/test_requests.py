"""Requests for civil assistance through the API: submission, every legal path through the
workflow, every illegal step refused with the state and the steps allowed, who may take which
step, the history, the audit trail and the map layer."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import mapbox_vector_tile
import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import service as auth
from service.auth.security import issue_token
from service.config import get_settings
from service.enums import Role
from tests import factories

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]
PartnerOf = Callable[[str], Awaitable[dict[str, str]]]
URL = "/api/assistance_requests"

STEPS = (
    "review",
    "humanitarian-decision",
    "military-decision",
    "srsg-decision",
    "complete",
    "delivered-by-other",
    "withdraw",
)
#: The workflow, written out by hand: the steps allowed in each state.
ALLOWED: dict[str, list[str]] = {
    "submitted": ["review", "delivered-by-other", "withdraw"],
    "under_review": [
        "humanitarian-decision",
        "military-decision",
        "delivered-by-other",
        "withdraw",
    ],
    "under_review, humanitarian side decided": [
        "military-decision",
        "delivered-by-other",
        "withdraw",
    ],
    "referred_to_srsg": ["srsg-decision", "delivered-by-other", "withdraw"],
    "approved": ["complete", "delivered-by-other", "withdraw"],
    "denied": ["delivered-by-other"],
    "completed": [],
    "delivered_by_other": [],
    "withdrawn": [],
    "submitted, life-saving": ["review", "complete", "delivered-by-other", "withdraw"],
}


def decision(outcome: str, who: str = "A. Amani, DSRSG/RC/HC", **extra: Any) -> dict[str, Any]:
    return {"decision": outcome, "decided_by": who, "reason": f"{who} says {outcome}", **extra}


BODIES: dict[str, dict[str, Any]] = {
    "review": {"note": "complete and within the mission's means"},
    "humanitarian-decision": decision("approve"),
    "military-decision": decision("approve", "B. Bello, HOMC"),
    "srsg-decision": decision("approve", "C. Conte, SRSG"),
    "complete": {"note": "delivered by 2 helicopters"},
    "delivered-by-other": {"actor_name": "World Food Programme", "note": "trucks got through"},
    "withdraw": {"reason": "the road reopened"},
}


def request_feature(actor_id: str | None = None, **properties: Any) -> dict[str, Any]:
    """A request that affirms the three last-resort conditions unless told otherwise."""
    values: dict[str, Any] = {
        "title": "Airlift of cholera kits to Kalembe",
        "need": "4 t of cholera kits for the Kalembe camps; the road is cut",
        "capability": "air_transport",
        "requested_at": "2026-11-10T08:00:00Z",
        "needed_from": "2026-11-12T00:00:00Z",
        "needed_until": "2026-12-05T00:00:00Z",
        "capability_unique": True,
        "no_civilian_alternative": True,
        "limited_in_time_and_space": True,
        "justification": "No civilian helicopter before the rains",
        **properties,
    }
    if actor_id is not None:
        values.setdefault("requesting_actor_id", actor_id)
    return {"type": "Feature", "geometry": factories.point(25.21, 7.31), "properties": values}


@pytest.fixture
async def ngo(make: Make) -> str:
    """A humanitarian NGO that asks for support (public, like most NGOs)."""
    actor = await make("actors", name="Kalembe Relief", classification="public")
    return str(actor["id"])


@pytest.fixture
def partner_of(session: AsyncSession) -> PartnerOf:
    """Headers of a new partner account working for the given actor."""

    async def create(actor_id: str) -> dict[str, str]:
        user = await auth.add_user(
            session,
            username=f"partner-{uuid.uuid4().hex[:8]}",
            password=factories.PASSWORD,
            role=Role.partner,
            actor_id=uuid.UUID(actor_id),
            actor="test-setup",
        )
        token, _ = issue_token(user.id, get_settings().signing_key(), timedelta(minutes=5))
        return {"Authorization": f"Bearer {token}"}

    return create


class Walker:
    """Submits requests and takes steps as an officer, checking each answer."""

    def __init__(self, client: AsyncClient, headers: Headers, actor_id: str) -> None:
        self.client, self.headers, self.actor_id = client, headers, actor_id

    async def submit(self, **properties: Any) -> dict[str, Any]:
        feature = request_feature(self.actor_id, **properties)
        response = await self.client.post(URL, json=feature, headers=self.headers("officer"))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def step(
        self, record_id: str, step: str, status: int = 200, user: str = "officer", **body: Any
    ) -> dict[str, Any]:
        response = await self.client.post(
            f"{URL}/{record_id}/{step}",
            json=body or BODIES[step],
            headers=self.headers(user),
        )
        assert response.status_code == status, (step, response.text)
        answer: dict[str, Any] = response.json()
        return answer

    async def history(self, record_id: str, user: str = "officer") -> dict[str, Any]:
        response = await self.client.get(f"{URL}/{record_id}/history", headers=self.headers(user))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def reach(self, state: str) -> str:
        """A new request brought to ``state`` (a key of :data:`ALLOWED`) through the API."""
        life_saving = state.endswith("life-saving")
        record = await self.submit(life_saving=life_saving)
        rid = record["id"]
        name = state.split(",")[0]
        if name == "submitted":
            return rid
        if name == "withdrawn":
            await self.step(rid, "withdraw")
            return rid
        if name == "delivered_by_other":
            await self.step(rid, "delivered-by-other")
            return rid
        await self.step(rid, "review")
        if state == "under_review":
            return rid
        if name == "under_review":
            await self.step(rid, "humanitarian-decision")
            return rid
        if name == "referred_to_srsg":
            await self.step(rid, "humanitarian-decision")
            await self.step(rid, "military-decision", **decision("deny", "B. Bello, HOMC"))
            return rid
        if name == "denied":
            await self.step(rid, "humanitarian-decision", **decision("deny"))
            await self.step(rid, "military-decision", **decision("deny", "B. Bello, HOMC"))
            return rid
        await self.step(rid, "humanitarian-decision")
        await self.step(rid, "military-decision")
        if name == "completed":
            await self.step(rid, "complete")
        return rid


@pytest.fixture
def walker(client: AsyncClient, headers: Headers, ngo: str) -> Walker:
    return Walker(client, headers, ngo)


# --- submission and who sees what ------------------------------------------------------------


async def test_partner_submits_for_its_own_actor_and_sees_it(
    client: AsyncClient, headers: Headers, make: Make, ngo: str, partner_of: PartnerOf
) -> None:
    own = await partner_of(ngo)
    assert (await client.get("/auth/me", headers=own)).json()["actor_id"] == ngo
    feature = request_feature(classification="mission")
    created = await client.post(URL, json=feature, headers=own)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"].endswith(f"{URL}/{body['id']}")
    assert body["properties"]["status"] == "submitted"
    assert body["properties"]["requesting_actor_id"] == ngo
    assert body["properties"]["created_by"] is None  # staff field, hidden from partners
    listed = await client.get(URL, headers=own)
    assert [f["id"] for f in listed.json()["features"]] == [body["id"]]

    # Another organisation's partner and a partner with no organisation see nothing of it.
    other_actor = await make("actors", name="Other Aid", classification="public")
    other = await partner_of(str(other_actor["id"]))
    for stranger in (other, headers("partner")):
        assert (await client.get(f"{URL}/{body['id']}", headers=stranger)).status_code == 404
        assert body["id"] not in (await client.get(URL, headers=stranger)).text
    # Staff see it.
    assert (await client.get(f"{URL}/{body['id']}", headers=headers("analyst"))).status_code == 200

    # Nobody submits for another actor's name, nor unlinked.
    forged = await client.post(URL, json=request_feature(ngo), headers=other)
    assert forged.status_code == 403 and "own actor" in forged.json()["detail"]
    unlinked = await client.post(URL, json=request_feature(), headers=headers("partner"))
    assert unlinked.status_code == 403 and "not linked to an actor" in unlinked.json()["detail"]
    assert (
        await client.post(URL, json=request_feature(ngo), headers=headers("analyst"))
    ).status_code == 403
    secret = await client.post(URL, json=request_feature(classification="restricted"), headers=own)
    assert secret.status_code == 403
    # An officer records a request on behalf of an actor, and must name it.
    nameless = await client.post(URL, json=request_feature(), headers=headers("officer"))
    assert nameless.status_code == 422
    assert nameless.json()["detail"][0]["loc"][-1] == "requesting_actor_id"


async def test_invalid_requests_are_refused(
    client: AsyncClient, headers: Headers, ngo: str
) -> None:
    officer = headers("officer")
    for properties, field in (
        ({"capability": "submarine"}, "capability"),
        ({"needed_until": "2026-11-01T00:00:00Z"}, None),
        ({"title": ""}, "title"),
        ({"requesting_actor_id": str(uuid.uuid4())}, "requesting_actor_id"),
    ):
        response = await client.post(URL, json=request_feature(ngo, **properties), headers=officer)
        assert response.status_code == 422, properties
        if field:
            assert field in str(response.json()["detail"]), response.text
    status = await client.post(URL, json=request_feature(ngo, status="approved"), headers=officer)
    assert status.status_code == 422 and "workflow steps" in status.text


# --- the workflow ------------------------------------------------------------------------------


LEGAL_PATHS: list[tuple[str, list[tuple[str, dict[str, Any], str]]]] = [
    (
        "both sides approve, the support is delivered",
        [
            ("review", {}, "under_review"),
            ("humanitarian-decision", decision("approve"), "under_review"),
            ("military-decision", decision("approve", "B. Bello, HOMC"), "approved"),
            ("complete", {"completed_at": "2026-11-20T10:00:00Z"}, "completed"),
        ],
    ),
    (
        "the military side decides first; both deny; another actor delivers",
        [
            ("review", {}, "under_review"),
            ("military-decision", decision("deny", "B. Bello, HOMC"), "under_review"),
            ("humanitarian-decision", decision("deny"), "denied"),
            ("delivered-by-other", {"actor_name": "WFP trucks"}, "delivered_by_other"),
        ],
    ),
    (
        "the sides disagree, the SRSG approves, the requester withdraws",
        [
            ("review", {}, "under_review"),
            ("humanitarian-decision", decision("approve"), "under_review"),
            ("military-decision", decision("deny", "B. Bello, HOMC"), "referred_to_srsg"),
            ("srsg-decision", decision("approve", "C. Conte, SRSG"), "approved"),
            ("withdraw", {"reason": "the road reopened"}, "withdrawn"),
        ],
    ),
    (
        "the sides disagree, the SRSG denies",
        [
            ("review", {}, "under_review"),
            ("humanitarian-decision", decision("deny"), "under_review"),
            ("military-decision", decision("approve", "B. Bello, HOMC"), "referred_to_srsg"),
            ("srsg-decision", decision("deny", "C. Conte, SRSG"), "denied"),
        ],
    ),
    (
        "the sides disagree, another actor delivers before the SRSG decides",
        [
            ("review", {}, "under_review"),
            ("humanitarian-decision", decision("approve"), "under_review"),
            ("military-decision", decision("deny", "B. Bello, HOMC"), "referred_to_srsg"),
            ("delivered-by-other", {"actor_name": "MSF"}, "delivered_by_other"),
        ],
    ),
    ("withdrawn at once", [("withdraw", {"reason": "sent by mistake"}, "withdrawn")]),
    (
        "delivered by another actor before the review",
        [("delivered-by-other", {"actor_name": "ICRC"}, "delivered_by_other")],
    ),
    (
        "delivered by another actor during the review",
        [
            ("review", {}, "under_review"),
            ("delivered-by-other", {"actor_name": "ICRC"}, "delivered_by_other"),
        ],
    ),
    (
        "withdrawn during the review",
        [("review", {}, "under_review"), ("withdraw", {"reason": "no longer needed"}, "withdrawn")],
    ),
    (
        "approved, then delivered by another actor first",
        [
            ("review", {}, "under_review"),
            ("humanitarian-decision", decision("approve"), "under_review"),
            ("military-decision", decision("approve", "B. Bello, HOMC"), "approved"),
            ("delivered-by-other", {"actor_name": "UNHAS"}, "delivered_by_other"),
        ],
    ),
]


@pytest.mark.parametrize("path", LEGAL_PATHS, ids=[p[0] for p in LEGAL_PATHS])
async def test_every_legal_path(
    walker: Walker, path: tuple[str, list[tuple[str, dict[str, Any], str]]]
) -> None:
    _, steps = path
    record = await walker.submit()
    rid = record["id"]
    for step, body, expected_status in steps:
        answer = await walker.step(rid, step, **(body or BODIES[step]))
        assert answer["properties"]["status"] == expected_status, step
    history = await walker.history(rid)
    assert [h["step"] for h in history["history"]] == ["recorded"] + [
        step.replace("-", "_") for step, _, _ in steps
    ]
    assert [h["to_status"] for h in history["history"]] == ["submitted"] + [s for _, _, s in steps]
    assert all(h["recorded_by"] == "officer" for h in history["history"])
    final = answer["properties"]
    if final["status"] == "denied":
        assert final["denial_reason"] and final["decided_at"]
    if final["status"] == "completed":
        assert final["completed_at"].startswith("2026-11-20T10:00:00")
    if final["status"] == "delivered_by_other":
        assert final["delivered_by_name"] and final["delivered_at"]
    if final["status"] == "withdrawn":
        assert final["withdrawal_reason"] and final["withdrawn_at"]


async def test_decisions_keep_who_when_and_why(walker: Walker) -> None:
    rid = (await walker.submit())["id"]
    await walker.step(rid, "review")
    await walker.step(
        rid,
        "humanitarian-decision",
        **decision("approve", decided_at="2099-01-01T00:00:00Z"),
        status=422,
    )
    await walker.step(
        rid,
        "humanitarian-decision",
        **decision("approve", decided_at="2020-01-01T00:00:00Z"),
        status=422,
    )
    when = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
    await walker.step(rid, "humanitarian-decision", **decision("approve", decided_at=when))
    await walker.step(rid, "military-decision", **decision("deny", "B. Bello, HOMC"))
    answer = await walker.step(rid, "srsg-decision", **decision("deny", "C. Conte, SRSG"))
    properties = answer["properties"]
    assert properties["humanitarian_decided_by"] == "A. Amani, DSRSG/RC/HC"
    assert properties["humanitarian_reason"] == "A. Amani, DSRSG/RC/HC says approve"
    assert properties["military_decision"] == "deny"
    assert properties["srsg_decided_by"] == "C. Conte, SRSG"
    assert properties["denial_reason"] == "SRSG: C. Conte, SRSG says deny"
    history = (await walker.history(rid))["history"]
    first = next(h for h in history if h["step"] == "humanitarian_decision")
    assert first["decision"] == "approve" and first["decided_by"] == "A. Amani, DSRSG/RC/HC"
    assert datetime.fromisoformat(first["happened_at"]) == datetime.fromisoformat(when)
    assert first["reason"] == "A. Amani, DSRSG/RC/HC says approve"


async def test_both_sides_deny_with_both_reasons(walker: Walker) -> None:
    rid = (await walker.submit())["id"]
    await walker.step(rid, "review")
    await walker.step(rid, "humanitarian-decision", **decision("deny"))
    answer = await walker.step(rid, "military-decision", **decision("deny", "B. Bello, HOMC"))
    reason = answer["properties"]["denial_reason"]
    assert "A. Amani, DSRSG/RC/HC says deny" in reason and "B. Bello, HOMC says deny" in reason


@pytest.mark.parametrize("state", list(ALLOWED))
async def test_every_illegal_step_is_refused(walker: Walker, state: str) -> None:
    rid = await walker.reach(state)
    before = await walker.history(rid)
    status = state.split(",")[0]
    assert before["status"] == status
    assert before["next_steps"] == ALLOWED[state]
    for step in STEPS:
        if step in ALLOWED[state]:
            continue
        refused = await walker.step(rid, step, status=409)
        message = refused["detail"]
        assert f"the request is {status}" in message, message
        if ALLOWED[state]:
            assert f"allowed now: {', '.join(ALLOWED[state])}" in message, message
        else:
            assert "it is final" in message, message
    after = await walker.history(rid)
    assert after == before  # nothing changed, nothing was added to the history


async def test_life_saving_help_is_completed_before_approval(walker: Walker) -> None:
    rid = (await walker.submit(life_saving=True, capability_unique=False))["id"]
    answer = await walker.step(rid, "complete", completed_at=datetime.now(UTC).isoformat())
    assert answer["properties"]["status"] == "completed"
    history = (await walker.history(rid))["history"]
    assert history[-1]["reason"] == "life-saving help given before approval"
    # Without the flag, completion waits for approval.
    normal = (await walker.submit())["id"]
    refused = await walker.step(normal, "complete", status=409)
    assert "life-saving" in refused["detail"]


async def test_approval_only_as_a_last_resort(client: AsyncClient, walker: Walker) -> None:
    rid = (await walker.submit(no_civilian_alternative=False, capability_unique=False))["id"]
    await walker.step(rid, "review")
    refused = await walker.step(rid, "humanitarian-decision", status=422)
    message = refused["detail"][0]["msg"]
    assert "last resort" in message
    assert "capability_unique, no_civilian_alternative" in message
    # A denial needs no affirmation; amending the request lets the other side approve.
    await walker.step(rid, "humanitarian-decision", **decision("deny"))
    patched = await client.patch(
        f"{URL}/{rid}",
        json={"properties": {"capability_unique": True, "no_civilian_alternative": True}},
        headers=walker.headers("officer"),
    )
    assert patched.status_code == 200, patched.text
    answer = await walker.step(rid, "military-decision", **decision("approve", "B. Bello, HOMC"))
    assert answer["properties"]["status"] == "referred_to_srsg"
    # Once approved, the request cannot be made to look like something else.
    await walker.step(rid, "srsg-decision")
    unaffirm = await client.patch(
        f"{URL}/{rid}",
        json={"properties": {"capability_unique": False}},
        headers=walker.headers("officer"),
    )
    assert unaffirm.status_code == 422 and "last_resort" in unaffirm.text


async def test_a_side_decides_once(walker: Walker) -> None:
    rid = await walker.reach("under_review, humanitarian side decided")
    again = await walker.step(rid, "humanitarian-decision", **decision("deny"), status=409)
    assert "humanitarian side (DSRSG/RC/HC) decision is already recorded" in again["detail"]


# --- who may take which step --------------------------------------------------------------------


async def test_who_may_take_each_step(
    client: AsyncClient, headers: Headers, ngo: str, partner_of: PartnerOf, walker: Walker
) -> None:
    own = await partner_of(ngo)
    created = await client.post(URL, json=request_feature(), headers=own)
    rid = created.json()["id"]
    for step in ("review", "humanitarian-decision", "complete"):
        refused = await client.post(f"{URL}/{rid}/{step}", json=BODIES[step], headers=own)
        assert refused.status_code == 403, step
        analyst = await client.post(
            f"{URL}/{rid}/{step}", json=BODIES[step], headers=headers("analyst")
        )
        assert analyst.status_code == 403 and "officer" in analyst.json()["detail"], step
    history = await client.get(f"{URL}/{rid}/history", headers=own)
    assert history.json()["next_steps"] == ALLOWED["submitted"]
    assert history.json()["you_may"] == ["withdraw"]
    assert history.json()["history"][0]["recorded_by"] is None
    # The requester withdraws its own request; a sector-limited officer elsewhere cannot act.
    south = await walker.submit()
    moved = await client.patch(
        f"{URL}/{south['id']}",
        json={"geometry": factories.point(25.0, 4.0)},
        headers=headers("officer"),
    )
    assert moved.status_code == 200
    scoped = await client.post(
        f"{URL}/{south['id']}/review", json={}, headers=headers("officer-north")
    )
    assert scoped.status_code == 404
    withdrawn = await client.post(f"{URL}/{rid}/withdraw", json=BODIES["withdraw"], headers=own)
    assert withdrawn.status_code == 200 and withdrawn.json()["properties"]["status"] == "withdrawn"


async def test_state_changes_only_through_the_workflow(
    client: AsyncClient, headers: Headers, walker: Walker, session: AsyncSession
) -> None:
    rid = (await walker.submit())["id"]
    patched = await client.patch(
        f"{URL}/{rid}", json={"properties": {"status": "approved"}}, headers=headers("admin")
    )
    assert patched.status_code == 422 and "workflow steps" in patched.text
    replaced = await client.put(
        f"{URL}/{rid}",
        json=request_feature(walker.actor_id, title="Changed"),
        headers=headers("admin"),
    )
    assert replaced.status_code == 200 and replaced.json()["properties"]["status"] == "submitted"
    # Not even in SQL, outside the workflow.
    with pytest.raises(IntegrityError, match="change only through its workflow steps"):
        async with session.begin_nested():
            await session.execute(
                text("UPDATE assistance_requests SET status = 'approved' WHERE id = :id"),
                {"id": rid},
            )
    deleted = await client.delete(f"{URL}/{rid}", headers=headers("officer"))
    assert deleted.status_code == 204
    gone = await client.post(f"{URL}/{rid}/review", json={}, headers=headers("officer"))
    assert gone.status_code == 404


async def test_steps_are_audited(client: AsyncClient, headers: Headers, walker: Walker) -> None:
    rid = await walker.reach("approved")
    audit = await client.get("/api/audit", params={"record": rid}, headers=headers("admin"))
    assert audit.status_code == 200
    entries = list(reversed(audit.json()))
    assert [e["action"] for e in entries] == ["create", "update", "update", "update"]
    assert all(
        e["actor"] == "officer" and e["collection"] == "assistance_requests" for e in entries
    )
    assert [e["after"]["status"] for e in entries] == [
        "submitted",
        "under_review",
        "under_review",
        "approved",
    ]
    assert entries[-1]["after"]["military_decided_by"] == "B. Bello, HOMC"


# --- the map layer -----------------------------------------------------------------------------


async def test_requests_are_a_map_layer(
    client: AsyncClient, headers: Headers, walker: Walker
) -> None:
    approved = await walker.reach("approved")
    pending = await walker.reach("submitted")
    analyst = headers("analyst")
    items = await client.get(
        "/collections/assistance_requests/items", params={"status": "approved"}, headers=analyst
    )
    assert items.status_code == 200
    assert [f["id"] for f in items.json()["features"]] == [approved]
    one = await client.get(f"/collections/assistance_requests/items/{pending}", headers=analyst)
    assert one.status_code == 200 and one.json()["properties"]["status"] == "submitted"
    z, x, y = 10, 583, 491  # holds lon 25.21, lat 7.31
    tile = await client.get(
        f"/collections/assistance_requests/tiles/WebMercatorQuad/{z}/{x}/{y}", headers=analyst
    )
    assert tile.status_code == 200
    layer = mapbox_vector_tile.decode(tile.content)["assistance_requests"]
    statuses = sorted(f["properties"]["status"] for f in layer["features"])
    assert statuses == ["approved", "submitted"]
    listed = await client.get("/collections", headers=analyst)
    assert "assistance_requests" in {c["id"] for c in listed.json()["collections"]}
    # OGC API - Features writes: an officer records a request, which starts its workflow.
    feature = request_feature(walker.actor_id, title="Recorded through OGC")
    created = await client.post(
        "/collections/assistance_requests/items", json=feature, headers=headers("officer")
    )
    assert created.status_code == 201, created.text
    assert created.json()["properties"]["status"] == "submitted"
    steps = (await walker.history(created.json()["id"]))["history"]
    assert [(h["step"], h["to_status"]) for h in steps] == [("recorded", "submitted")]
    forced = await client.patch(
        f"/collections/assistance_requests/items/{created.json()['id']}",
        json={"type": "Feature", "properties": {"status": "approved"}},
        headers=headers("officer"),
    )
    assert forced.status_code == 422 and "workflow steps" in forced.text
