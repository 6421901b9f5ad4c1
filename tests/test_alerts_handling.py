"""Handling an alert: assigning it to an officer, notes on it, and the actions each reader is
offered; a closed alert takes nothing more."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories
from tests.test_alerts import KM, Headers, Make, evaluate, near_rule

# A place of its own: 28.5, 4.5 in the South.
X, Y = 28.5, 4.5


async def test_an_alert_is_assigned_annotated_and_closed(
    client: AsyncClient, headers: Headers, make: Make, session: AsyncSession
) -> None:
    await near_rule(client, headers)
    site = await make("idp_sites", geometry=factories.point(X, Y), classification="public")
    near = await make(
        "incidents", geometry=factories.point(X + 2 * KM, Y), severity=4, classification="public"
    )
    (raised,) = await evaluate(session, incidents=[near["id"]], idp_sites=[site["id"]])
    url = f"/api/alerts/{raised.alert_id}"

    seen: dict[str, Any] = (await client.get(url, headers=headers("officer"))).json()
    assert seen["actions"] == ["acknowledge", "close", "assign", "annotate"]
    assert (await client.get(url, headers=headers("analyst"))).json()["actions"] == []

    refused = await client.post(
        f"{url}/assign", json={"assigned_to": "officer"}, headers=headers("analyst")
    )
    assert refused.status_code == 403
    nobody = await client.post(
        f"{url}/assign", json={"assigned_to": "analyst"}, headers=headers("officer")
    )
    assert nobody.status_code == 422 and "officer or an admin" in nobody.text
    # The officer of the North does not see an alert in the South.
    elsewhere = await client.post(
        f"{url}/assign", json={"assigned_to": "officer-north"}, headers=headers("admin")
    )
    assert elsewhere.status_code == 422 and "not cleared" in elsewhere.text
    assigned = await client.post(
        f"{url}/assign", json={"assigned_to": "officer"}, headers=headers("admin")
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["properties"]["assigned_to"] == "officer"

    note = await client.post(
        f"{url}/notes", json={"note": "Patrol sent from Kalembe"}, headers=headers("officer")
    )
    assert note.status_code == 201 and note.json()["written_by"] == "officer"
    assert (
        await client.post(f"{url}/notes", json={"note": "x"}, headers=headers("analyst"))
    ).status_code == 403
    listed = await client.get(f"{url}/notes", headers=headers("analyst"))
    assert [n["note"] for n in listed.json()] == ["Patrol sent from Kalembe"]
    assert (await client.get(f"{url}/notes", headers=headers("partner"))).json() == []

    closed = await client.post(f"{url}/close", headers=headers("officer"))
    assert closed.json()["actions"] == []
    late = await client.post(f"{url}/notes", json={"note": "too late"}, headers=headers("officer"))
    assert late.status_code == 409 and "closed" in late.text
