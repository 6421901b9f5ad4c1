"""Every record and collection answer lists the actions its reader may take, and only those:
a page shows the buttons the API says will work (``service.access.actions``).

Roles of the test world: admin, officer, officer-north (a writer limited to the North),
analyst, partner (no organisation) and partners of an organisation made per test."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.actions import allowed, authorize
from service.access.policy import Principal
from service.enums import Role
from service.errors import Forbidden
from tests import factories
from tests.test_requests import BODIES, PartnerOf, ngo, partner_of, request_feature

__all__ = ["ngo", "partner_of"]  # fixtures

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]


IN_THE_NORTH = factories.point(27.0, 7.5)
IN_THE_SOUTH = factories.point(27.0, 4.5)


async def _actions(client: AsyncClient, url: str, who: dict[str, str]) -> list[str] | None:
    """The actions an answer offers; ``None`` when the reader may not see the record at all."""
    response = await client.get(url, headers=who)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    actions: list[str] = response.json()["actions"]
    return actions


@pytest.mark.parametrize(
    ("user", "north", "south"),
    [
        # A verified incident may be discredited by staff (docs/field-reports.md).
        ("admin", ["edit", "delete", "discredit"], ["edit", "delete", "discredit"]),
        ("officer", ["edit", "delete", "discredit"], ["edit", "delete", "discredit"]),
        # Readers limited to sectors do not see records outside them at all.
        ("officer-north", ["edit", "delete", "discredit"], None),
        ("analyst", ["discredit"], ["discredit"]),
        ("analyst-south", None, ["discredit"]),
        ("partner", [], []),
    ],
)
async def test_a_record_says_what_each_role_may_do_with_it(
    client: AsyncClient,
    headers: Headers,
    make: Make,
    user: str,
    north: list[str] | None,
    south: list[str] | None,
) -> None:
    for geometry, expected in ((IN_THE_NORTH, north), (IN_THE_SOUTH, south)):
        record = await make("incidents", geometry=geometry, classification="public")
        url = f"/api/incidents/{record['id']}"
        assert await _actions(client, url, headers(user)) == expected
        # The answer and the decision agree: what is offered works, what is not is refused.
        change = {"properties": {"description": f"checked by {user}"}}
        response = await client.patch(url, json=change, headers=headers(user))
        if expected is None:
            # A writer is told the record is unknown; a reader that their role may not write.
            assert response.status_code == (404 if user.startswith("officer") else 403)
            continue
        assert (response.status_code == 200) == ("edit" in expected), response.text
        if response.status_code == 200:
            assert response.json()["actions"] == expected


async def test_a_record_seen_generalised_offers_nothing(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    """A partner sees a mission actor generalised; an officer sees it in full."""
    actor = await make("actors", name="Kalembe Water Board", classification="mission")
    url = f"/api/actors/{actor['id']}"
    assert await _actions(client, url, headers("partner")) == []
    assert await _actions(client, url, headers("officer")) == ["edit", "delete"]
    assert actor["actions"] == ["edit", "delete"]  # the creation's answer says it too


async def test_a_project_offers_its_status_change_to_writers(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    project = await make("projects", classification="public")
    url = f"/api/projects/{project['id']}"
    assert await _actions(client, url, headers("officer")) == ["edit", "delete", "transition"]
    assert await _actions(client, url, headers("analyst")) == []
    assert await _actions(client, url, headers("partner")) == []


@pytest.mark.parametrize(
    ("user", "incidents", "sectors"),
    [
        ("admin", ["create", "import"], ["create", "import"]),
        ("officer", ["create", "import"], ["create", "import"]),
        # Limited to the North: may not redraw the areas of responsibility by import.
        ("officer-north", ["create", "import"], ["create"]),
        ("analyst", [], []),
        ("partner", [], []),
    ],
)
async def test_a_collection_says_what_each_role_may_do_with_it(
    client: AsyncClient, headers: Headers, user: str, incidents: list[str], sectors: list[str]
) -> None:
    assert await _actions(client, "/api/incidents?limit=1", headers(user)) == incidents
    assert await _actions(client, "/api/sectors?limit=1", headers(user)) == sectors
    assert await _actions(client, "/collections/incidents/items?limit=1", headers(user)) == (
        incidents
    )


async def test_a_request_offers_the_steps_its_state_and_the_reader_allow(
    client: AsyncClient,
    headers: Headers,
    make: Make,
    ngo: str,
    partner_of: PartnerOf,
) -> None:
    own = await partner_of(ngo)
    assert await _actions(client, "/api/assistance_requests?limit=1", own) == ["submit"]
    # A partner with no organisation cannot submit: nothing is offered.
    assert await _actions(client, "/api/assistance_requests?limit=1", headers("partner")) == []
    assert await _actions(client, "/api/assistance_requests?limit=1", headers("officer")) == [
        "submit",
        "import",
    ]

    submitted = await client.post(
        "/api/assistance_requests", json=request_feature(ngo, classification="public"), headers=own
    )
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["actions"] == ["withdraw"]
    url = f"/api/assistance_requests/{submitted.json()['id']}"

    assert await _actions(client, url, headers("officer")) == [
        "edit",
        "delete",
        "review",
        "delivered_by_other",
        "withdraw",
    ]
    assert await _actions(client, url, headers("analyst")) == []
    assert await _actions(client, url, own) == ["withdraw"]
    # Another organisation's partner sees a public request but may not act on it.
    other = await make("actors", name="Other Aid", classification="public")
    stranger = await partner_of(str(other["id"]))
    assert await _actions(client, url, stranger) == []

    reviewed = await client.post(f"{url}/review", json=BODIES["review"], headers=headers("officer"))
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["actions"] == [
        "edit",
        "delete",
        "humanitarian_decision",
        "military_decision",
        "delivered_by_other",
        "withdraw",
    ]
    # What is not offered is refused.
    early = await client.post(
        f"{url}/complete", json=BODIES["complete"], headers=headers("officer")
    )
    assert early.status_code == 409, early.text


async def test_an_alert_offers_the_steps_of_its_life_to_who_may_take_them(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession
) -> None:
    from tests.test_alerts import KM, X, Y, evaluate, near_rule

    await near_rule(client, headers)
    await make("idp_sites", geometry=factories.point(X, Y), classification="public")
    incident = await make(
        "incidents", geometry=factories.point(X, Y + 2 * KM), severity=5, classification="public"
    )
    (raised,) = await evaluate(session, incidents=[incident["id"]])
    url = f"/api/alerts/{raised.alert_id}"
    assert await _actions(client, url, headers("officer")) == [
        "acknowledge",
        "close",
        "assign",
        "annotate",
    ]
    assert await _actions(client, url, headers("analyst")) == []
    acknowledged = await client.post(f"{url}/acknowledge", headers=headers("officer"))
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["actions"] == ["close", "assign", "annotate"]
    closed = await client.post(f"{url}/close", headers=headers("admin"))
    assert closed.json()["actions"] == []


@pytest.mark.parametrize(
    "user", ["admin", "officer", "officer-north", "analyst", "analyst-south", "partner"]
)
@pytest.mark.parametrize("collection", ["incidents", "projects", "actors", "assistance_requests"])
async def test_each_feature_of_a_list_says_what_its_reader_may_do_with_it(
    client: AsyncClient,
    headers: Headers,
    make: Make,
    ngo: str,
    partner_of: PartnerOf,
    user: str,
    collection: str,
) -> None:
    """A list's features carry the actions their reader may take on each, the same as each
    record's own answer says, in the API and in OGC API - Features alike (a partner of the
    requesting organisation stands for "partner" on requests: they act on their own)."""
    if collection == "assistance_requests":
        for body in (request_feature(ngo, classification="public"), request_feature(ngo)):
            created = await client.post(
                "/api/assistance_requests", json=body, headers=headers("officer")
            )
            assert created.status_code == 201, created.text
    else:
        for geometry in (IN_THE_NORTH, IN_THE_SOUTH):
            await make(collection, geometry=geometry, classification="public")
    if collection == "assistance_requests" and user == "partner":
        who = await partner_of(ngo)
    else:
        who = headers(user)
    for url in (f"/api/{collection}?limit=50", f"/collections/{collection}/items?limit=50"):
        response = await client.get(url, headers=who)
        assert response.status_code == 200, response.text
        features = response.json()["features"]
        # (The requests lie in no area of the South: a reader limited to it sees none.)
        assert features or (collection, user) == ("assistance_requests", "analyst-south")
        for feature in features:
            one = await _actions(client, f"/api/{collection}/{feature['id']}", who)
            assert feature["actions"] == one, (url, feature["id"])


#: What a writer may do with a verified incident.
WRITER = ["edit", "delete", "discredit"]


async def test_a_list_offers_each_writer_what_they_may_do_on_each_record(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    north = await make("incidents", geometry=IN_THE_NORTH, classification="public")
    south = await make("incidents", geometry=IN_THE_SOUTH, classification="public")
    expected = {
        "officer": {north["id"]: WRITER, south["id"]: WRITER},
        "officer-north": {north["id"]: WRITER},
        "analyst": {north["id"]: ["discredit"], south["id"]: ["discredit"]},
    }
    for user, offers in expected.items():
        response = await client.get("/api/incidents?limit=100", headers=headers(user))
        listed = {f["id"]: f["actions"] for f in response.json()["features"]}
        assert {k: listed.get(k) for k in offers} == offers
        assert south["id"] not in listed or user != "officer-north"


def test_a_job_is_cancelled_by_its_owner_or_an_admin_and_retried_by_its_owner() -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    for role in Role:
        mine = Principal(username="u", role=role, user_id=owner)
        theirs = Principal(username="v", role=role, user_id=other)
        assert allowed(mine, "cancel_job", owner=owner)
        assert allowed(theirs, "cancel_job", owner=owner) == (role is Role.admin)
        assert allowed(mine, "retry_job", owner=owner)
        assert not allowed(theirs, "retry_job", owner=owner)
    with pytest.raises(Forbidden, match="only the user who started a job can retry it"):
        authorize(Principal(username="a", role=Role.admin), "retry_job", owner=owner)
