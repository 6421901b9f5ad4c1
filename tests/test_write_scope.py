"""Where a record lies decides its sector, and a writer limited to sectors writes only what lies
wholly within them: on the API, on OGC API - Features Part 4 and in imports alike.

The test mission: North (y 6..9, battalion areas North-West and North-East) and South (y 3..6).
``officer-north`` writes in the North only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from tests import factories, geofiles
from tests.factories import World
from tests.test_imports import records, upload

Headers = Callable[[str], dict[str, str]]

IN_THE_SOUTH = factories.point(27.0, 4.5)
IN_THE_NORTH = factories.point(27.0, 7.5)
#: Almost the whole mission; its point on surface (where its sector is found) is in the North.
WHOLE_MISSION = factories.square(23.1, 3.1, 28.9, 9.0)
#: Items of a collection on the domain API and on OGC API - Features Part 4.
ROUTES = ["/api/{name}", "/collections/{name}/items"]


async def _all(client: AsyncClient, headers: Headers, collection: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/{collection}?limit=1000", headers=headers("admin"))
    assert response.status_code == 200, response.text
    features: list[dict[str, Any]] = response.json()["features"]
    return features


@pytest.mark.parametrize("route", ROUTES)
async def test_a_sector_id_does_not_let_a_scoped_officer_write_in_another_sector(
    client: AsyncClient, headers: Headers, world: World, route: str
) -> None:
    """Claiming the North for a point in the South was stored as the North (201)."""
    north = str(world.sectors["North"])
    feature = factories.feature("incidents", geometry=IN_THE_SOUTH, sector_id=north)
    url = route.format(name="incidents")
    response = await client.post(url, json=feature, headers=headers("officer-north"))
    assert response.status_code == 403, response.text
    assert "beyond the sectors you are assigned to" in response.json()["detail"]
    assert not await _all(client, headers, "incidents")


@pytest.mark.parametrize("route", ROUTES)
async def test_a_sector_id_that_disagrees_with_the_geometry_is_refused(
    client: AsyncClient, headers: Headers, world: World, route: str
) -> None:
    url = route.format(name="incidents")
    north, south = str(world.sectors["North"]), str(world.sectors["South-All"])
    feature = factories.feature("incidents", geometry=IN_THE_SOUTH, sector_id=north)
    refused = await client.post(url, json=feature, headers=headers("admin"))
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["body", "properties", "sector_id"]
    assert f"South-All ({south})" in problem["msg"]
    assert not await _all(client, headers, "incidents")
    # The sector the geometry gives, or none at all, is accepted.
    for sector_id in (south, None):
        feature = factories.feature("incidents", geometry=IN_THE_SOUTH, sector_id=sector_id)
        created = await client.post(url, json=feature, headers=headers("admin"))
        assert created.status_code == 201, created.text
        assert created.json()["properties"]["sector_id"] == south
    # Moving a record re-files it; keeping its old sector_id while moving it is refused.
    record = created.json()
    kept = {k: v for k, v in record["properties"].items() if k in feature["properties"]}
    moved = {"type": "Feature", "geometry": IN_THE_NORTH, "properties": kept}
    item = f"{url}/{record['id']}"
    stale = await client.put(item, json=moved, headers=headers("admin"))
    assert stale.status_code == 422, stale.text
    assert stale.json()["detail"][0]["loc"] == ["body", "properties", "sector_id"]
    moved["properties"].pop("sector_id")
    replaced = await client.put(item, json=moved, headers=headers("admin"))
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["properties"]["sector_id"] == str(world.sectors["North-East"])
    patched = await client.patch(
        item, json={"properties": {"sector_id": north}}, headers=headers("admin")
    )
    assert patched.status_code == 422, patched.text


@pytest.mark.parametrize("route", ROUTES)
async def test_an_area_reaching_beyond_a_scoped_officers_sectors_is_refused(
    client: AsyncClient, headers: Headers, route: str
) -> None:
    """A polygon over the whole mission was filed under the sector of one point on its
    surface, in the North, and accepted from an officer of the North."""
    url = route.format(name="idp_sites")
    feature = factories.feature("idp_sites", geometry=WHOLE_MISSION)
    response = await client.post(url, json=feature, headers=headers("officer-north"))
    assert response.status_code == 403, response.text
    assert not await _all(client, headers, "idp_sites")
    inside = factories.feature("idp_sites", geometry=factories.square(24.0, 7.0, 28.0, 8.0))
    created = await client.post(url, json=inside, headers=headers("officer-north"))
    assert created.status_code == 201, created.text
    # Nor may an area inside be stretched beyond.
    item = f"{url}/{created.json()['id']}"
    stretched = await client.patch(
        item, json={"geometry": WHOLE_MISSION}, headers=headers("officer-north")
    )
    assert stretched.status_code == 403, stretched.text


@pytest.mark.parametrize("route", ROUTES)
async def test_a_record_reaching_beyond_a_scoped_officers_sectors_is_not_theirs_to_change(
    client: AsyncClient, headers: Headers, make: Any, route: str
) -> None:
    """The whole-mission site is filed under the North and shown to the officer of the North,
    who could change and delete it."""
    site = await make("idp_sites", geometry=WHOLE_MISSION)
    item = route.format(name="idp_sites") + f"/{site['id']}"
    officer = headers("officer-north")
    assert (await client.get(item, headers=officer)).status_code == 200
    changed = await client.patch(item, json={"properties": {"name": "Mine"}}, headers=officer)
    assert changed.status_code == 403, changed.text
    assert "reaches beyond the sectors" in changed.json()["detail"]
    inside = {"geometry": factories.square(24.0, 7.0, 28.0, 8.0)}
    shrunk = await client.patch(item, json=inside, headers=officer)
    assert shrunk.status_code == 403, shrunk.text
    assert (await client.delete(item, headers=officer)).status_code == 403
    figure = {"observed_on": "2026-10-01", "individuals": 5}
    population = await client.post(
        f"/api/idp_sites/{site['id']}/population", json=figure, headers=officer
    )
    assert population.status_code == 403, population.text
    (kept,) = await _all(client, headers, "idp_sites")
    assert kept["properties"]["name"] == site["properties"]["name"]
    assert kept["geometry"] == site["geometry"]


@pytest.mark.parametrize("route", ROUTES)
async def test_a_record_in_another_sector_stays_out_of_reach_and_out_of_sight(
    client: AsyncClient, headers: Headers, make: Any, route: str
) -> None:
    """Moving a record in from outside, or out of the officer's sectors: the first answers
    as for a record that does not exist, the second is refused and nothing moves."""
    south = await make("incidents", geometry=IN_THE_SOUTH)
    north = await make("incidents", geometry=IN_THE_NORTH)
    url = route.format(name="incidents")
    officer = headers("officer-north")
    pulled = await client.patch(
        f"{url}/{south['id']}", json={"geometry": IN_THE_NORTH}, headers=officer
    )
    assert pulled.status_code == 404, pulled.text
    pushed = await client.patch(
        f"{url}/{north['id']}", json={"geometry": IN_THE_SOUTH}, headers=officer
    )
    assert pushed.status_code == 403, pushed.text
    assert (await client.delete(f"{url}/{south['id']}", headers=officer)).status_code == 404
    found = {f["id"]: f["geometry"] for f in await _all(client, headers, "incidents")}
    assert found == {south["id"]: IN_THE_SOUTH, north["id"]: IN_THE_NORTH}


def _incidents_with_sectors(folder: Path, sector_ids: list[str], lats: list[float]) -> Path:
    rows = [[*geofiles.FIELDS, "latitude", "longitude", "sector_id"]]
    for i, (sector_id, lat) in enumerate(zip(sector_ids, lats, strict=True)):
        r = geofiles.INCIDENTS[i]
        rows.append([*(r[f] for f in geofiles.FIELDS), lat, r["lon"], sector_id])
    path = folder / "sectors.csv"
    path.write_text(geofiles.csv_text(rows))
    return path


@pytest.mark.parametrize("dry_run", [False, True])
async def test_an_import_claiming_the_officers_sector_for_a_row_elsewhere_is_refused(
    client: AsyncClient, headers: Headers, world: World, tmp_path: Path, dry_run: bool
) -> None:
    """Row 2 lies in the South and says it is in the North-West: it was imported there."""
    north_west = str(world.sectors["North-West"])
    path = _incidents_with_sectors(tmp_path, [north_west] * 3, [7.21, 4.5, 8.04])
    options: dict[str, Any] = {"dry_run": "true"} if dry_run else {}
    response = await upload(
        client, headers, path, collection="incidents", user="officer-north", **options
    )
    if dry_run:
        assert response.status_code == 200, response.text
        problems = [p for p in response.json()["problems"] if p["severity"] == "error"]
        assert [(p["row"], p["field"]) for p in problems] == [(2, "geometry")]
        assert "outside the sectors you are assigned to" in problems[0]["message"]
    else:
        assert response.status_code == 422, response.text
        (problem,) = [p for p in response.json()["detail"] if p["type"] == "value_error"]
        assert problem["loc"] == ["body", "file", 2, "geometry"]
        assert "outside the sectors you are assigned to" in problem["msg"]
    assert not await _all(client, headers, "incidents")


async def test_an_imported_sector_id_must_be_the_one_the_geometry_gives(
    client: AsyncClient, headers: Headers, world: World, tmp_path: Path
) -> None:
    north, north_west = str(world.sectors["North"]), str(world.sectors["North-West"])
    south = str(world.sectors["South-All"])
    path = _incidents_with_sectors(tmp_path, [north_west, north, ""], [7.21, 4.5, 8.04])
    response = await upload(client, headers, path, collection="incidents", user="admin")
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "file", 2, "sector_id"]
    assert south in problem["msg"] and "leave it empty" in problem["msg"]
    assert not await _all(client, headers, "incidents")
    path = _incidents_with_sectors(tmp_path, [north_west, south, ""], [7.21, 4.5, 8.04])
    assert (await upload(client, headers, path, collection="incidents")).status_code == 201
    found = await records(client, headers, "incidents")
    assert {k: f["properties"]["sector_id"] for k, f in found.items()} == {
        "inc-1": north_west,
        "inc-2": south,
        "inc-3": north_west,
    }


def _sites_csv(folder: Path, wkt: str) -> Path:
    path = folder / "sites.csv"
    path.write_text(
        geofiles.csv_text(
            [["external_id", "name", "site_type", "wkt"], ["s-1", "Kalembe", "planned_camp", wkt]]
        )
    )
    return path


@pytest.mark.parametrize("bulk", [False, True])
async def test_an_imported_area_reaching_beyond_the_officers_sectors_is_refused(
    client: AsyncClient,
    headers: Headers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bulk: bool,
) -> None:
    from service.config import get_settings

    if bulk:
        monkeypatch.setattr(get_settings(), "import_bulk_rows", 1)
    whole = "POLYGON ((23.1 3.1, 28.9 3.1, 28.9 9, 23.1 9, 23.1 3.1))"
    response = await upload(
        client, headers, _sites_csv(tmp_path, whole), collection="idp_sites", user="officer-north"
    )
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "file", 1, "geometry"]
    assert not await _all(client, headers, "idp_sites")
    inside = "POLYGON ((24 7, 28 7, 28 8, 24 8, 24 7))"
    response = await upload(
        client, headers, _sites_csv(tmp_path, inside), collection="idp_sites", user="officer-north"
    )
    assert response.status_code == 201, response.text
    # Re-importing it stretched over the mission changes a record to reach beyond.
    response = await upload(
        client, headers, _sites_csv(tmp_path, whole), collection="idp_sites", user="officer-north"
    )
    assert response.status_code == 422, response.text
    (kept,) = await _all(client, headers, "idp_sites")
    assert kept["geometry"]["coordinates"][0][0] == [24.0, 7.0]


async def test_an_import_may_not_change_a_record_reaching_beyond_the_officers_sectors(
    client: AsyncClient, headers: Headers, make: Any, tmp_path: Path
) -> None:
    await make("idp_sites", geometry=WHOLE_MISSION, origin="import", external_id="s-1")
    inside = "POLYGON ((24 7, 28 7, 28 8, 24 8, 24 7))"
    response = await upload(
        client, headers, _sites_csv(tmp_path, inside), collection="idp_sites", user="officer-north"
    )
    assert response.status_code == 422, response.text
    assert any("reaches beyond the sectors" in p["msg"] for p in response.json()["detail"])
    (kept,) = await _all(client, headers, "idp_sites")
    assert kept["geometry"] == WHOLE_MISSION


async def test_requests_and_project_status_follow_the_same_rule(
    client: AsyncClient, headers: Headers, make: Any, world: World
) -> None:
    """A request for the whole mission, or one claiming the North for a place in the South,
    was accepted from the officer of the North; so was a project's status change on a project
    reaching beyond the North."""
    from tests.test_requests import URL, request_feature

    actor = await make("actors", geometry=IN_THE_NORTH, classification="public")
    officer = headers("officer-north")
    whole = dict(request_feature(actor["id"]), geometry=WHOLE_MISSION)
    refused = await client.post(URL, json=whole, headers=officer)
    assert refused.status_code == 403, refused.text
    claimed = request_feature(actor["id"], sector_id=str(world.sectors["North"]))
    claimed["geometry"] = IN_THE_SOUTH
    refused = await client.post(URL, json=claimed, headers=officer)
    assert refused.status_code == 403, refused.text
    wide = await client.post(URL, json=whole, headers=headers("officer"))
    assert wide.status_code == 201, wide.text
    review = await client.post(f"{URL}/{wide.json()['id']}/review", json={}, headers=officer)
    assert review.status_code == 403, review.text
    assert wide.json()["properties"]["status"] == "submitted"

    project = await make("projects", geometry=WHOLE_MISSION, status="proposed")
    change = {"status": "approved", "reason": "funded"}
    changed = await client.post(
        f"/api/projects/{project['id']}/status", json=change, headers=officer
    )
    assert changed.status_code == 403, changed.text
    (kept,) = await _all(client, headers, "projects")
    assert kept["properties"]["status"] == "proposed"


async def test_a_sector_hidden_from_the_writer_reads_as_no_sector_at_all(
    client: AsyncClient, headers: Headers, world: World, tmp_path: Path
) -> None:
    """Claiming a sector for a point in a restricted sector said "outside the sectors you may
    see", and for a point in none "in no area of responsibility": two answers that map out
    the hidden area. An import named the hidden sector's id."""
    hidden = factories.feature(
        "sectors",
        geometry=factories.square(29.2, 9.2, 29.8, 9.8),
        name="Hidden area",
        hq=factories.point(29.5, 9.5),
        classification="restricted",
    )
    created = await client.post("/api/sectors", json=hidden, headers=headers("admin"))
    assert created.status_code == 201, created.text
    hidden_id = created.json()["id"]
    north = str(world.sectors["North"])
    in_hidden, in_none = (29.5, 9.5), (29.5, 2.5)

    answers = []
    for lon, lat in (in_hidden, in_none):
        feature = factories.feature(
            "incidents", geometry=factories.point(lon, lat), sector_id=north
        )
        response = await client.post("/api/incidents", json=feature, headers=headers("officer"))
        answers.append((response.status_code, response.json()))
    assert answers[0][0] == 422
    assert answers[0] == answers[1]

    rows = [[*geofiles.FIELDS, "latitude", "longitude", "sector_id"]]
    for i, (lon, lat) in enumerate((in_hidden, in_none)):
        r = geofiles.INCIDENTS[i]
        rows.append([*(r[f] for f in geofiles.FIELDS), lat, lon, north])
    path = tmp_path / "claims.csv"
    path.write_text(geofiles.csv_text(rows))
    response = await upload(
        client, headers, path, collection="incidents", user="officer", dry_run="true"
    )
    assert response.status_code == 200, response.text
    problems = [p for p in response.json()["problems"] if p["field"] == "sector_id"]
    assert [p["row"] for p in problems] == [1, 2]
    assert problems[0]["message"] == problems[1]["message"]
    assert hidden_id not in response.text
