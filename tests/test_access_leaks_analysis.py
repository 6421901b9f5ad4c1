"""The leak suite for the analysis outputs: for every role, every analysis run over the planted
records of ``tests.test_access_leaks`` gives out no hidden record's id, attribute or exact
coordinate, generalised records only generalised, and counts nothing the user may not see.

``check_outputs`` is given the analysis answers together with the plain collection lists
(which show every visible record in full, as it demands); its "nothing hidden anywhere"
checks then run over every analysis answer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from httpx import AsyncClient

from tests import factories
from tests.test_access_leaks import (
    CELL,
    COARSE,
    HIDDEN,
    USERS,
    Headers,
    Planted,
    check_outputs,
    expected,
    plant,
)

WINDOW = "2026-09-01T00:00:00Z/2026-10-31T00:00:00Z"
AREA = "23.5,6.5,25.5,8.5"  # the North-West, around every planted record


def visible(user: str, planted: list[Planted], collection: str) -> list[Planted]:
    return [
        p
        for p in planted
        if p.collection == collection and expected(user, collection, p.classification) != HIDDEN
    ]


async def analysis_answers(
    client: AsyncClient, headers: Headers, user: str, planted: list[Planted]
) -> dict[str, Any]:
    """Every analysis, as ``user`` gets it, over the planted records."""
    auth = headers(user)
    answers: dict[str, Any] = {}

    async def get(name: str, path: str, **params: Any) -> None:
        response = await client.get(f"/api/analysis/{path}", params=params, headers=auth)
        assert response.status_code in (200, 404), (path, response.status_code, response.text)
        answers[name] = response.json()

    common = {"datetime": WINDOW, "bbox": AREA}
    await get("proximity", "proximity", radius_km=100, **common)
    await get("exposure", "exposure", radius_km=100, top=10, **common)
    await get("risk", "risk", resolution=7, **common)
    await get("hotspots", "hotspots", resolution=6, **common)
    await get("emerging", "emerging-hotspots", resolution=6, **common)
    await get("coverage", "coverage-gaps", radius_km=100, include_covered=True, **common)
    await get("opportunities", "opportunities", resolution=7, partner_radius_km=1, **common)
    await get("near", "near", point="24.2,7.2", radius_km=100, datetime=WINDOW, limit=1000)
    for record in planted:
        if record.collection == "patrols":
            await get(f"deconfliction {record.id}", "deconfliction", patrol=record.id, buffer_km=50)
    route = {"type": "LineString", "coordinates": [[23.9, 7.0], [24.6, 7.6]]}
    posted = await client.post(
        "/api/analysis/deconfliction", json=route, params={"buffer_km": 50}, headers=auth
    )
    assert posted.status_code == 200, posted.text
    answers["deconfliction posted"] = posted.json()
    near_area = await client.post(
        "/api/analysis/near",
        json=factories.square(24.0, 7.0, 24.5, 7.5),
        params={"radius_km": 100, "datetime": WINDOW, "limit": 1000},
        headers=auth,
    )
    assert near_area.status_code == 200, near_area.text
    answers["near polygon"] = near_area.json()
    return answers


async def collection_lists(client: AsyncClient, headers: Headers, user: str) -> list[str]:
    texts = []
    for collection in factories.DEFAULTS:
        response = await client.get(
            f"/api/{collection}", params={"limit": 1000}, headers=headers(user)
        )
        body = response.json()
        body.pop("links", None)
        texts.append(json.dumps(body))
    return texts


def _is_cell_centre(value: float) -> bool:
    steps = value / CELL - 0.5
    return abs(steps - round(steps)) < 1e-6


@pytest.mark.parametrize("user", USERS)
async def test_nothing_leaks_through_the_analysis(
    client: AsyncClient, headers: Headers, user: str
) -> None:
    planted = await plant(client, headers)
    answers = await analysis_answers(client, headers, user, planted)
    # The lists first: check_outputs reads each visible record's properties from the first
    # answer that holds it. Parameters only echo the request.
    texts = [json.dumps({**a, "parameters": None}) for a in answers.values()]
    check_outputs(user, planted, await collection_lists(client, headers, user) + texts)

    incidents = visible(user, planted, "incidents")
    sites = visible(user, planted, "idp_sites")
    patrols = visible(user, planted, "patrols")

    # Statistics count only what the user sees.
    proximity = answers["proximity"]
    assert proximity["summary"]["incidents_in_window"] == len(incidents)
    assert len(proximity["features"]) == len(sites)
    for feature in proximity["features"]:
        assert feature["properties"]["incidents"] == len(incidents)
    assert answers["hotspots"]["summary"]["incidents"] == len(incidents)
    assert sum(f["properties"]["incidents"] for f in answers["risk"]["features"]) == len(incidents)
    assert answers["coverage"]["summary"]["patrols_considered"] == len(patrols)
    for name in ("near", "near polygon"):
        within = answers[name]["summary"]["within"]
        assert within["incidents"] == len(incidents)
        assert within["idp_sites"] == len(sites)
        assert within["patrols"] == len(patrols)
    exposure = answers["exposure"]["features"]
    assert all(len(f["properties"]["why"]) == len(incidents) for f in exposure)
    assert {r["incident_id"] for f in exposure for r in f["properties"]["why"]} <= {
        p.id for p in incidents
    }

    # A generalised site enters analysis only at its generalised place, without its name.
    for name in ("proximity", "exposure", "coverage"):
        for feature in answers[name]["features"]:
            record = next(p for p in planted if p.id == feature["id"])
            if expected(user, "idp_sites", record.classification) == COARSE:
                x, y = feature["geometry"]["coordinates"]
                assert _is_cell_centre(x) and _is_cell_centre(y), (user, name)
                assert feature["properties"]["name"] is None
                assert feature["properties"]["generalised"] is True
