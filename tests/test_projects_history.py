"""Quick impact and community support projects: the status workflow on every write path, and
the status history with who, when and why."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]

STATUSES = ("proposed", "approved", "ongoing", "completed", "cancelled")
#: The project workflow, written out by hand.
NEXT: dict[str, list[str]] = {
    "proposed": ["approved", "cancelled"],
    "approved": ["ongoing", "cancelled"],
    "ongoing": ["completed", "cancelled"],
    "completed": [],
    "cancelled": [],
}
#: How to reach each status from ``proposed``.
ROUTE: dict[str, list[str]] = {
    "proposed": [],
    "approved": ["approved"],
    "ongoing": ["approved", "ongoing"],
    "completed": ["approved", "ongoing", "completed"],
    "cancelled": ["cancelled"],
}


async def history(client: AsyncClient, headers: Headers, pid: str, user: str = "officer") -> Any:
    response = await client.get(f"/api/projects/{pid}/history", headers=headers(user))
    assert response.status_code == 200, response.text
    return response.json()


async def test_status_changes_are_kept_with_who_when_and_why(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    project = await make("projects", status="proposed", title="Borehole in Tanzo")
    pid = project["id"]
    first = await history(client, headers, pid)
    assert first["status"] == "proposed" and first["next_statuses"] == ["approved", "cancelled"]
    assert [(h["from_status"], h["to_status"]) for h in first["history"]] == [(None, "proposed")]

    approved = await client.post(
        f"/api/projects/{pid}/status",
        json={"status": "approved", "reason": "QIP committee of 12 November"},
        headers=headers("officer"),
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["properties"]["status"] == "approved"
    patched = await client.patch(
        f"/api/projects/{pid}", json={"properties": {"status": "ongoing"}}, headers=headers("admin")
    )
    assert patched.status_code == 200
    # Other changes leave the status history alone.
    await client.patch(
        f"/api/projects/{pid}",
        json={"properties": {"beneficiaries": 900}},
        headers=headers("admin"),
    )
    found = await history(client, headers, pid)
    assert [(h["from_status"], h["to_status"]) for h in found["history"]] == [
        (None, "proposed"),
        ("proposed", "approved"),
        ("approved", "ongoing"),
    ]
    assert [h["changed_by"] for h in found["history"]] == ["admin", "officer", "admin"]
    assert [h["reason"] for h in found["history"]] == [None, "QIP committee of 12 November", None]
    assert found["status"] == "ongoing" and found["next_statuses"] == ["completed", "cancelled"]


@pytest.mark.parametrize("start", STATUSES)
async def test_every_transition_follows_the_workflow(
    client: AsyncClient, headers: Headers, make: Make, start: str
) -> None:
    for target in STATUSES:
        if target == start:
            continue
        project = await make("projects", status="proposed")
        pid = project["id"]
        for status in ROUTE[start]:
            moved = await client.post(
                f"/api/projects/{pid}/status", json={"status": status}, headers=headers("officer")
            )
            assert moved.status_code == 200, moved.text
        before = await history(client, headers, pid)
        response = await client.patch(
            f"/api/projects/{pid}",
            json={"properties": {"status": target}},
            headers=headers("admin"),
        )
        after = await history(client, headers, pid)
        if target in NEXT[start]:
            assert response.status_code == 200, (start, target, response.text)
            assert after["history"][-1]["from_status"] == start
            assert after["history"][-1]["to_status"] == target
            continue
        assert response.status_code == 409, (start, target, response.text)
        message = response.json()["detail"]
        assert f"the project is {start}; it cannot become {target}" in message
        if NEXT[start]:
            assert f"it may become {' or '.join(NEXT[start])}" in message
        else:
            assert f"{start} is final" in message
        assert after == before


async def test_every_write_path_follows_the_workflow(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    project = await make("projects", status="proposed")
    pid = project["id"]
    ogc = await client.patch(
        f"/collections/projects/items/{pid}",
        json={"type": "Feature", "properties": {"status": "completed"}},
        headers=headers("officer"),
    )
    assert ogc.status_code == 409 and "it may become approved or cancelled" in ogc.text
    same = await client.post(
        f"/api/projects/{pid}/status", json={"status": "proposed"}, headers=headers("officer")
    )
    assert same.status_code == 409 and "already" in same.text
    unknown = await client.post(
        f"/api/projects/{pid}/status", json={"status": "paused"}, headers=headers("officer")
    )
    assert unknown.status_code == 422
    analyst = await client.post(
        f"/api/projects/{pid}/status", json={"status": "approved"}, headers=headers("analyst")
    )
    assert analyst.status_code == 403


async def test_the_history_follows_the_project(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    public = await make("projects", status="proposed", classification="public")
    mission = await make("projects", status="proposed", classification="mission")
    restricted = await make("projects", status="proposed", classification="restricted")
    seen = await history(client, headers, public["id"], user="partner")
    assert seen["history"][0]["changed_by"] is None  # staff only
    generalised = await client.get(
        f"/api/projects/{mission['id']}/history", headers=headers("partner")
    )
    assert generalised.status_code == 403
    hidden = await client.get(
        f"/api/projects/{restricted['id']}/history", headers=headers("officer")
    )
    assert hidden.status_code == 404
    cleared = await history(client, headers, restricted["id"], user="admin")
    assert cleared["history"][0]["changed_by"] == "admin"
