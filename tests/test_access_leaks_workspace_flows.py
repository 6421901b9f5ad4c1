"""The leak suite for the workspace's requests and alerts pages: a request a user may not see
never appears in their queue, their lists or its page (neither its id nor its words); forged
steps on it are refused and change nothing; the alert rules are not shown to partners."""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from typing import Any

from httpx import AsyncClient

from tests import factories

Headers = Callable[[str], dict[str, str]]
FRAGMENT = {"HX-Request": "true"}
#: Who sees a request of each classification in full (the documented policy, written out).
SEES: dict[str, set[str]] = {
    "partner": {"public"},
    "analyst": {"public", "mission"},
    "officer": {"public", "mission"},
    "analyst-cleared": {"public", "mission", "restricted"},
    "admin": {"public", "mission", "restricted"},
}


async def plant(client: AsyncClient, headers: Headers, make: Any) -> dict[str, tuple[str, str]]:
    """One request of each classification, its words marked: classification -> (id, marker)."""
    actor = await make("actors", name="Leak Relief", classification="public")
    planted = {}
    for classification in ("public", "mission", "restricted"):
        marker = f"LEAK-{classification}-{uuid.uuid4().hex[:8]}"
        feature = {
            "type": "Feature",
            "geometry": factories.point(25.41, 7.51),
            "properties": {
                "title": f"{marker}-title",
                "need": f"{marker}-need",
                "justification": f"{marker}-justification",
                "capability": "medical",
                "needed_from": "2026-11-12T00:00:00Z",
                "requesting_actor_id": actor["id"],
                "classification": classification,
            },
        }
        made = await client.post("/api/assistance_requests", json=feature, headers=headers("admin"))
        assert made.status_code == 201, made.text
        planted[classification] = (str(made.json()["id"]), marker)
    return planted


async def test_no_requests_page_shows_a_request_its_user_may_not_see(
    client: AsyncClient, headers: Headers, make: Any
) -> None:
    planted = await plant(client, headers, make)
    for user, sees in SEES.items():
        auth = {**headers(user), **FRAGMENT}
        got: dict[str, str] = {}
        for url in (
            "/workspace/requests",
            "/workspace/alerts",
            *(f"/workspace/requests/{record_id}" for record_id, _ in planted.values()),
        ):
            answer = await client.get(url, headers=auth)
            assert answer.status_code in (200, 403, 404), (user, url, answer.status_code)
            got[url] = html.unescape(answer.text)
        everything = "\n".join(got.values())
        for classification, (record_id, marker) in planted.items():
            where = f"{user} / {classification}"
            page = got[f"/workspace/requests/{record_id}"]
            if classification in sees:
                assert f"{marker}-need" in page, f"{where}: should be shown"
            else:
                assert record_id not in everything, f"{where}: hidden id came out"
                assert marker not in everything, f"{where}: hidden words came out"
                assert "There is no such record, or you may not see it." in page, where
        rules = await client.get("/workspace/alerts/rules", headers=auth)
        assert rules.status_code == (403 if user == "partner" else 200), user


async def test_forged_steps_are_refused_and_change_nothing(
    client: AsyncClient, headers: Headers, make: Any
) -> None:
    planted = await plant(client, headers, make)
    public_id, _ = planted["public"]
    restricted_id, _ = planted["restricted"]
    review = {"review__note": "forged"}
    for user, record_id, refused_with in (
        ("partner", public_id, 403),  # not the partner's organisation, nor its step
        ("analyst", public_id, 403),
        ("officer", restricted_id, 404),  # not cleared: as if it did not exist
    ):
        auth = {**headers(user), **FRAGMENT}
        answer = await client.post(
            f"/workspace/requests/{record_id}/review", data=review, headers=auth
        )
        assert answer.status_code == refused_with, (user, answer.text)
    for record_id in (public_id, restricted_id):
        history = await client.get(
            f"/api/assistance_requests/{record_id}/history", headers=headers("admin")
        )
        assert history.json()["status"] == "submitted"
        assert [h["step"] for h in history.json()["history"]] == ["recorded"]
