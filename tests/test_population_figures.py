"""Population figures of IDP sites can be corrected and withdrawn, with who, when and why kept in
the record and the audit trail; the site shows the latest figure still standing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from httpx import AsyncClient

from tests import factories

Headers = Callable[[str], dict[str, str]]
Make = Callable[..., Awaitable[dict[str, Any]]]


async def add_figure(
    client: AsyncClient, headers: Headers, site_id: str, observed_on: str, individuals: int
) -> str:
    response = await client.post(
        f"/api/idp_sites/{site_id}/population",
        json={"observed_on": observed_on, "individuals": individuals, "source": "DTM round 4"},
        headers=headers("officer"),
    )
    assert response.status_code == 201, response.text
    figure_id: str = response.json()["id"]
    return figure_id


async def site_population(client: AsyncClient, headers: Headers, site_id: str) -> tuple[Any, Any]:
    response = await client.get(f"/api/idp_sites/{site_id}", headers=headers("officer"))
    assert response.status_code == 200, response.text
    properties = response.json()["properties"]
    return properties["population_individuals"], properties["population_date"]


async def test_a_wrong_figure_is_withdrawn_and_the_site_shows_the_one_before(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    site = await make("idp_sites")
    await add_figure(client, headers, site["id"], "2026-09-01", 1000)
    wrong = await add_figure(client, headers, site["id"], "2026-10-01", 50_000)
    assert await site_population(client, headers, site["id"]) == (50_000, "2026-10-01")

    response = await client.delete(
        f"/api/idp_sites/{site['id']}/population/{wrong}",
        params={"reason": "typed one zero too many"},
        headers=headers("officer"),
    )
    assert response.status_code == 204, response.text
    assert await site_population(client, headers, site["id"]) == (1000, "2026-09-01")

    standing = await client.get(
        f"/api/idp_sites/{site['id']}/population", headers=headers("officer")
    )
    assert [f["individuals"] for f in standing.json()] == [1000]
    everything = await client.get(
        f"/api/idp_sites/{site['id']}/population",
        params={"withdrawn": "true"},
        headers=headers("officer"),
    )
    (withdrawn,) = [f for f in everything.json() if f["id"] == wrong]
    assert withdrawn["withdrawn_by"] == "officer"
    assert withdrawn["withdrawn_reason"] == "typed one zero too many"
    assert withdrawn["withdrawn_at"]
    # Withdrawn once is withdrawn: it cannot be corrected or withdrawn again.
    again = await client.patch(
        f"/api/idp_sites/{site['id']}/population/{wrong}",
        json={"individuals": 5000},
        headers=headers("officer"),
    )
    assert again.status_code == 409


async def test_a_withdrawal_says_why(client: AsyncClient, headers: Headers, make: Make) -> None:
    site = await make("idp_sites")
    figure = await add_figure(client, headers, site["id"], "2026-09-01", 1000)
    response = await client.delete(
        f"/api/idp_sites/{site['id']}/population/{figure}", headers=headers("officer")
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "reason"
    blank = await client.delete(
        f"/api/idp_sites/{site['id']}/population/{figure}",
        params={"reason": "   "},
        headers=headers("officer"),
    )
    assert blank.status_code == 422


async def test_with_no_figure_standing_the_site_has_no_population(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    site = await make("idp_sites")
    figure = await add_figure(client, headers, site["id"], "2026-09-01", 1000)
    response = await client.delete(
        f"/api/idp_sites/{site['id']}/population/{figure}",
        params={"reason": "the wrong camp"},
        headers=headers("officer"),
    )
    assert response.status_code == 204, response.text
    assert await site_population(client, headers, site["id"]) == (None, None)


async def test_a_corrected_figure_moves_the_site_to_the_figure_now_latest(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    site = await make("idp_sites")
    september = await add_figure(client, headers, site["id"], "2026-09-01", 1000)
    misdated = await add_figure(client, headers, site["id"], "2026-10-01", 2000)
    assert await site_population(client, headers, site["id"]) == (2000, "2026-10-01")

    # The second figure was observed in August, not October: September's is now the latest.
    response = await client.patch(
        f"/api/idp_sites/{site['id']}/population/{misdated}",
        json={"observed_on": "2026-08-01"},
        headers=headers("officer"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["observed_on"] == "2026-08-01"
    assert response.json()["individuals"] == 2000
    assert await site_population(client, headers, site["id"]) == (1000, "2026-09-01")

    response = await client.put(
        f"/api/idp_sites/{site['id']}/population/{september}",
        json={"observed_on": "2026-09-01", "individuals": 1100, "households": 220},
        headers=headers("officer"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["source"] is None  # a PUT replaces the whole figure
    assert await site_population(client, headers, site["id"]) == (1100, "2026-09-01")


async def test_corrections_and_withdrawals_are_in_the_audit_trail(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    site = await make("idp_sites")
    figure = await add_figure(client, headers, site["id"], "2026-09-01", 1000)
    await client.patch(
        f"/api/idp_sites/{site['id']}/population/{figure}",
        json={"individuals": 1200},
        headers=headers("officer"),
    )
    await client.delete(
        f"/api/idp_sites/{site['id']}/population/{figure}",
        params={"reason": "double-counted with the annex"},
        headers=headers("officer"),
    )
    trail = await client.get("/api/audit", params={"record": figure}, headers=headers("admin"))
    assert trail.status_code == 200
    entries = sorted(trail.json(), key=lambda e: e["id"])
    assert [e["action"] for e in entries] == ["create", "update", "update"]
    assert all(e["actor"] == "officer" for e in entries)
    corrected, withdrawn = entries[1], entries[2]
    assert (corrected["before"]["individuals"], corrected["after"]["individuals"]) == (1000, 1200)
    assert withdrawn["before"]["withdrawn_at"] is None
    assert withdrawn["after"]["withdrawn_reason"] == "double-counted with the annex"
    assert withdrawn["after"]["withdrawn_by"] == "officer"


async def test_only_those_who_may_write_the_site_correct_or_withdraw_its_figures(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    south = await make("idp_sites", geometry=factories.point(25.1, 4.1))
    figure = await add_figure(client, headers, south["id"], "2026-09-01", 1000)
    path = f"/api/idp_sites/{south['id']}/population/{figure}"
    # (A site outside the sectors an officer is assigned to is not theirs to see: 404.)
    for user, status in (("analyst", 403), ("officer-north", 404), ("partner", 403)):
        patched = await client.patch(path, json={"individuals": 1}, headers=headers(user))
        assert patched.status_code == status, (user, patched.text)
        deleted = await client.delete(path, params={"reason": "x"}, headers=headers(user))
        assert deleted.status_code == status, (user, deleted.text)
    restricted = await make("idp_sites", classification="restricted")
    hidden = await client.post(
        f"/api/idp_sites/{restricted['id']}/population",
        json={"observed_on": "2026-09-01", "individuals": 10},
        headers=headers("admin"),
    )
    hidden_path = f"/api/idp_sites/{restricted['id']}/population/{hidden.json()['id']}"
    patched = await client.patch(hidden_path, json={"individuals": 1}, headers=headers("officer"))
    assert patched.status_code == 404
    # A figure is reached through its own site only.
    other = await make("idp_sites")
    response = await client.patch(
        f"/api/idp_sites/{other['id']}/population/{figure}",
        json={"individuals": 1},
        headers=headers("officer"),
    )
    assert response.status_code == 404
    assert await site_population(client, headers, south["id"]) == (1000, "2026-09-01")


async def test_partners_are_not_told_who_recorded_or_withdrew_a_figure_nor_why(
    client: AsyncClient, headers: Headers, make: Make
) -> None:
    """Who wrote a record is staff information; a withdrawal's reason is staff's too."""
    site = await make("idp_sites", classification="public")
    await add_figure(client, headers, site["id"], "2026-09-01", 1000)
    wrong = await add_figure(client, headers, site["id"], "2026-10-01", 50_000)
    withdrawn = await client.delete(
        f"/api/idp_sites/{site['id']}/population/{wrong}",
        params={"reason": "double count"},
        headers=headers("officer"),
    )
    assert withdrawn.status_code == 204, withdrawn.text
    staff = ("created_by", "updated_by", "withdrawn_by", "withdrawn_reason")

    async def figures(user: str) -> list[dict[str, Any]]:
        response = await client.get(
            f"/api/idp_sites/{site['id']}/population",
            params={"withdrawn": "true"},
            headers=headers(user),
        )
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    seen_by_partner = await figures("partner")
    assert [f["individuals"] for f in seen_by_partner] == [1000, 50_000]
    assert all(f[name] is None for f in seen_by_partner for name in staff)
    assert seen_by_partner[1]["withdrawn_at"] is not None  # that it was withdrawn is not hidden
    seen_by_analyst = await figures("analyst")
    assert seen_by_analyst[1]["withdrawn_by"] == "officer"
    assert seen_by_analyst[1]["withdrawn_reason"] == "double count"
