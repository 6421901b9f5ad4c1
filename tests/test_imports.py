"""Importing files through the API: every format, the preview, re-imports, rollback, jobs and
who may import what."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import shapely
from httpx import AsyncClient

from tests import geofiles

Headers = Callable[[str], dict[str, str]]


async def upload(
    client: AsyncClient,
    headers: Headers,
    path: Path | None = None,
    *,
    name: str | None = None,
    content: bytes | None = None,
    user: str = "officer",
    wait: bool = True,
    **fields: Any,
) -> Any:
    """POST a file to /api/imports; form fields as keyword arguments."""
    data = {"wait": "true" if wait else "false"}
    for key, value in fields.items():
        data[key] = json.dumps(value) if isinstance(value, dict) else str(value)
    body = content if content is not None else path.read_bytes()  # type: ignore[union-attr]  # noqa: ASYNC240 - a small test file
    filename = name or (path.name if path else "upload")
    return await client.post(
        "/api/imports", files={"file": (filename, body)}, data=data, headers=headers(user)
    )


async def records(
    client: AsyncClient, headers: Headers, collection: str, **params: Any
) -> dict[str, dict[str, Any]]:
    """Features by external_id, as an analyst sees them."""
    response = await client.get(
        f"/api/{collection}", params={"limit": 1000, **params}, headers=headers("admin")
    )
    assert response.status_code == 200, response.text
    return {f["properties"]["external_id"]: f for f in response.json()["features"]}


def assert_incidents(found: dict[str, dict[str, Any]], origin: str = "import") -> None:
    for expected in geofiles.INCIDENTS:
        feature = found[expected["external_id"]]
        props = feature["properties"]
        assert props["origin"] == origin
        assert props["category"] == expected["category"]
        assert props["severity"] == expected["severity"]
        assert props["killed"] == expected["killed"]
        assert props["description"] == expected["description"]
        assert props["occurred_at"].startswith(expected["occurred_at"][:19])
        x, y = feature["geometry"]["coordinates"]
        assert (x, y) == pytest.approx((expected["lon"], expected["lat"]), abs=1e-6)


async def test_a_geopackage_of_incidents_is_imported_and_audited(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = geofiles.write(tmp_path / "incidents.gpkg", geofiles.table(), "GPKG", layer="events")
    response = await upload(client, headers, path, collection="incidents")
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] == "succeeded"
    assert (job["created"], job["updated"], job["rows_read"]) == (3, 0, 3)
    assert job["format"] == "gpkg" and job["layer"] == "events" and job["crs"] == "EPSG:4326"
    assert job["created_by"] == "officer" and len(job["file_sha256"]) == 64
    found = await records(client, headers, "incidents", q="")
    assert_incidents(found)
    one = found["inc-1"]
    assert one["properties"]["classification"] == "mission"
    assert one["properties"]["created_by"] == "officer"
    history = await client.get("/api/audit", params={"record": one["id"]}, headers=headers("admin"))
    (entry,) = history.json()
    assert entry["action"] == "create" and entry["context"] == f"import:{job['id']}"
    assert entry["actor"] == "officer"


def _kml(folder: Path) -> Path:
    return geofiles.write(folder / "incidents.kml", geofiles.table(), "LIBKML", layer="incidents")


def _kmz(folder: Path) -> Path:
    kml = _kml(folder)
    return geofiles.zip_files(folder / "incidents.kmz", [kml], ["doc.kml"])


def _geojson(folder: Path) -> Path:
    return geofiles.write(folder / "incidents.geojson", geofiles.table(), "GeoJSON")


def _csv(folder: Path) -> Path:
    path = folder / "incidents.csv"
    path.write_text(geofiles.incidents_csv())
    return path


def _hxl(folder: Path) -> Path:
    path = folder / "incidents-hxl.csv"
    text = geofiles.incidents_csv(hxl=True)
    # Different column names: only the hashtags say what the columns hold.
    lines = text.splitlines()
    lines[0] = "ref,what,when,how bad,dead,story,y,x"
    path.write_text("\n".join(lines) + "\n")
    return path


def _wkt_csv(folder: Path) -> Path:
    rows: list[list[Any]] = [[*geofiles.FIELDS, "wkt"]]
    for r in geofiles.INCIDENTS:
        rows.append([*(r[f] for f in geofiles.FIELDS), f"POINT ({r['lon']} {r['lat']})"])
    path = folder / "incidents-wkt.csv"
    path.write_text(geofiles.csv_text(rows))
    return path


def _utm_shapefile(folder: Path) -> Path:
    data = geofiles.table(crs="EPSG:32635")
    return geofiles.shapefile_zip(folder / "utm", data, crs="EPSG:32635")


MAKERS = {
    "gpkg": lambda f: geofiles.write(f / "i.gpkg", geofiles.table(), "GPKG"),
    "shapefile-utm": _utm_shapefile,
    "geojson": _geojson,
    "kml": _kml,
    "kmz": _kmz,
    "csv-latlon": _csv,
    "csv-wkt": _wkt_csv,
    "csv-hxl": _hxl,
}


@pytest.mark.parametrize("kind", MAKERS)
async def test_every_format_brings_the_same_incidents(
    client: AsyncClient, headers: Headers, tmp_path: Path, kind: str
) -> None:
    path = MAKERS[kind](tmp_path)
    response = await upload(client, headers, path, collection="incidents")
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["created"] == 3, job
    assert_incidents(await records(client, headers, "incidents"))
    if kind == "shapefile-utm":
        assert job["crs"] == "EPSG:32635"


async def test_a_latin1_shapefile_keeps_its_accents(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    accented = [
        dict(r, description=f"Près du marché de Kalémié ({i})")
        for i, r in enumerate(geofiles.INCIDENTS)
    ]
    data = geofiles.table(accented)
    path = geofiles.shapefile_zip(tmp_path / "latin1", data, encoding="latin1")
    with_cpg = await upload(client, headers, path, collection="incidents")
    assert with_cpg.status_code == 201, with_cpg.text
    found = await records(client, headers, "incidents")
    assert found["inc-1"]["properties"]["description"] == "Près du marché de Kalémié (0)"
    # Without its .cpg the file does not say its encoding: the import says so, and the caller
    # gives it.
    no_cpg = geofiles.shapefile_zip(tmp_path / "nocpg", data, encoding="latin1", leave_out=[".cpg"])
    refused = await upload(client, headers, no_cpg, collection="incidents", origin="second")
    assert refused.status_code == 422
    (detail,) = refused.json()["detail"]
    assert detail["loc"] == ["body", "encoding"] and "encoding=latin-1" in detail["msg"]
    again = await upload(
        client, headers, no_cpg, collection="incidents", origin="second", encoding="latin-1"
    )
    assert again.status_code == 201, again.text
    listed = await client.get(
        "/api/incidents", params={"q": "Kalémié (2)"}, headers=headers("admin")
    )
    origins = {f["properties"]["origin"] for f in listed.json()["features"]}
    assert origins == {"import", "second"}


async def test_acled_export_becomes_incidents(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "acled.csv"
    path.write_text(geofiles.acled_csv(geofiles.ACLED_ROWS))
    response = await upload(client, headers, path, collection="incidents")
    assert response.status_code == 201, response.text
    assert response.json()["format"] == "acled"
    found = await records(client, headers, "incidents")
    abduction, clash = found["CEN1001"]["properties"], found["CEN1002"]["properties"]
    assert abduction["origin"] == "acled"
    assert abduction["category"] == "abduction" and abduction["severity"] == 2
    assert abduction["location_precision"] == "exact"
    assert "Three farmers abducted" in abduction["description"]
    assert "Unidentified Armed Group vs Civilians" in abduction["description"]
    assert abduction["source"] == "Radio Ndeke Luka"
    assert clash["category"] == "armed_clash" and clash["killed"] == 7 and clash["severity"] == 4
    assert clash["occurred_at"].startswith("2026-08-15")
    assert clash["location_precision"] == "approximate"


async def test_dtm_site_list_becomes_idp_sites(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "dtm-round-12.csv"
    path.write_text(geofiles.dtm_csv())
    response = await upload(client, headers, path, collection="idp_sites")
    assert response.status_code == 201, response.text
    assert response.json()["format"] == "dtm"
    found = await records(client, headers, "idp_sites")
    kalembe = found["CF-0101"]["properties"]
    assert kalembe["origin"] == "dtm" and kalembe["name"] == "Kalembe"
    assert kalembe["site_type"] == "planned_camp" and kalembe["status"] == "open"
    assert kalembe["population_individuals"] == 12000
    assert kalembe["population_households"] == 2400
    assert kalembe["population_date"] == "2026-07-30"
    assert found["CF-0102"]["properties"]["site_type"] == "collective_centre"
    assert found["CF-0103"]["properties"]["status"] == "closed"
    assert found["CF-0103"]["properties"]["site_type"] == "spontaneous_settlement"


async def test_a_geopackage_with_several_layers_needs_one_picked(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "two.gpkg"
    geofiles.write(path, geofiles.table(), "GPKG", layer="events")
    geofiles.write(path, geofiles.table(geofiles.INCIDENTS[:1]), "GPKG", layer="other")
    refused = await upload(client, headers, path, collection="incidents")
    assert refused.status_code == 422
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["body", "layer"]
    assert "'events'" in problem["msg"] and "'other'" in problem["msg"]
    picked = await upload(client, headers, path, collection="incidents", layer="other")
    assert picked.status_code == 201 and picked.json()["created"] == 1


async def test_preview_reports_everything_and_writes_nothing(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    rows = [dict(r) for r in geofiles.INCIDENTS]
    rows[1]["severity"] = "very bad"
    rows[2]["category"] = "riot"
    path = tmp_path / "preview.csv"
    path.write_text(geofiles.incidents_csv(rows))
    response = await upload(client, headers, path, collection="incidents", dry_run="true")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is False
    assert report["format"] == "csv" and report["crs"] == "EPSG:4326"
    assert report["mapping"]["fields"]["occurred_at"] == "occurred_at"
    assert report["mapping"]["location"] == "lonlat"
    assert report["counts"]["read"] == 3 and report["would"]["create"] == 3
    problems = {(p["row"], p["field"]): p for p in report["problems"]}
    assert "not a number: 'very bad'" in problems[(2, "severity")]["message"]
    assert "unknown category 'riot'" in problems[(3, "category")]["message"]
    assert report["sample"][0]["properties"]["external_id"] == "inc-1"
    assert report["sample"][0]["geometry"]["coordinates"] == [24.11, 7.21]
    assert await records(client, headers, "incidents") == {}
    jobs = await client.get("/api/imports", headers=headers("officer"))
    assert jobs.json() == []


async def test_bad_rows_refuse_the_whole_file_with_row_and_field(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    rows = [dict(r) for r in geofiles.INCIDENTS]
    rows[2]["killed"] = "three"
    path = tmp_path / "bad.csv"
    path.write_text(geofiles.incidents_csv(rows))
    response = await upload(client, headers, path, collection="incidents")
    assert response.status_code == 422
    body = response.json()
    assert body["detail"][0]["loc"] == ["body", "file", 3, "killed"]
    assert "not a number: 'three'" in body["detail"][0]["msg"]
    assert body["job"]["status"] == "failed" and body["job"]["created"] == 0
    assert await records(client, headers, "incidents") == {}


async def test_reimport_updates_by_external_id_instead_of_duplicating(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "v1.csv"
    path.write_text(geofiles.incidents_csv())
    first = (await upload(client, headers, path, collection="incidents")).json()
    assert first["created"] == 3
    same = (await upload(client, headers, path, collection="incidents")).json()
    assert (same["created"], same["updated"], same["unchanged"]) == (0, 0, 3)
    rows = [dict(r) for r in geofiles.INCIDENTS]
    rows[0]["severity"] = 5
    rows.append(dict(rows[1], external_id="inc-4", lon=24.9))
    updated = tmp_path / "v2.csv"
    updated.write_text(geofiles.incidents_csv(rows))
    second = (await upload(client, headers, updated, collection="incidents")).json()
    assert (second["created"], second["updated"], second["unchanged"]) == (1, 1, 2)
    found = await records(client, headers, "incidents")
    assert len(found) == 4 and found["inc-1"]["properties"]["severity"] == 5


async def test_a_record_named_by_id_in_one_row_and_by_key_in_another_is_refused(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    """Both rows would change the same record: one of them would be lost without a word."""
    path = tmp_path / "v1.csv"
    path.write_text(geofiles.incidents_csv())
    assert (await upload(client, headers, path, collection="incidents")).status_code == 201
    record = (await records(client, headers, "incidents"))["inc-1"]
    fields = [*geofiles.FIELDS, "latitude", "longitude"]
    first, second = geofiles.INCIDENTS[0], geofiles.INCIDENTS[1]
    both = tmp_path / "both.csv"
    both.write_text(
        geofiles.csv_text(
            [
                ["id", *fields],
                # Row 1: inc-1 by its id (under a new external id); row 2: inc-1 by its key.
                [
                    record["id"],
                    "inc-1-renamed",
                    *(first[f] for f in geofiles.FIELDS[1:]),
                    first["lat"],
                    first["lon"],
                ],
                ["", *(first[f] for f in geofiles.FIELDS), second["lat"], second["lon"]],
            ]
        )
    )
    mapping = {"id": "id"}  # civop ids are taken from a file when asked (or from our exports)
    report = (
        await upload(client, headers, both, collection="incidents", mapping=mapping, dry_run="true")
    ).json()
    assert report["ok"] is False
    problems = {p["row"]: p["message"] for p in report["problems"]}
    assert "names the record row 1 names by id" in problems.get(2, ""), report["problems"]
    refused = await upload(client, headers, both, collection="incidents", mapping=mapping)
    assert refused.status_code == 422, refused.text
    found = await records(client, headers, "incidents")
    assert found["inc-1"]["geometry"]["coordinates"] == record["geometry"]["coordinates"]


async def test_a_record_whose_key_was_changed_keeps_it_and_the_old_key_is_free(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    """inc-1 is renamed and moved south after its import. Its old key then names no record:
    importing the old file again makes a new inc-1 and leaves the renamed record as it is."""
    path = tmp_path / "v1.csv"
    path.write_text(geofiles.incidents_csv())
    assert (await upload(client, headers, path, collection="incidents")).status_code == 201
    record = (await records(client, headers, "incidents"))["inc-1"]
    moved = await client.patch(
        f"/api/incidents/{record['id']}",
        json={
            "properties": {"external_id": "inc-1-renamed"},
            "geometry": {"type": "Point", "coordinates": [24.11, 4.5]},
        },
        headers=headers("officer"),
    )
    assert moved.status_code == 200, moved.text

    again = await upload(client, headers, path, collection="incidents")
    assert again.status_code == 201, again.text
    assert (again.json()["created"], again.json()["updated"]) == (1, 0)
    found = await records(client, headers, "incidents")
    assert len(found) == 4 and found["inc-1-renamed"]["id"] == record["id"]
    assert found["inc-1-renamed"]["geometry"]["coordinates"] == [24.11, 4.5]
    assert found["inc-1"]["id"] != record["id"]


async def test_a_file_without_ids_can_be_imported_twice_without_duplicates(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    rows = [
        [r["category"], r["occurred_at"], r["severity"], r["lat"], r["lon"]]
        for r in geofiles.INCIDENTS
    ]
    path = tmp_path / "noids.csv"
    path.write_text(geofiles.csv_text([["category", "date", "severity", "lat", "lon"], *rows]))
    first = (await upload(client, headers, path, collection="incidents")).json()
    again = (await upload(client, headers, path, collection="incidents")).json()
    assert (first["created"], again["created"], again["unchanged"]) == (3, 0, 3)
    response = await client.get("/api/incidents", headers=headers("admin"))
    assert len(response.json()["features"]) == 3


async def test_records_can_be_rolled_back_as_a_whole(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "v1.csv"
    path.write_text(geofiles.incidents_csv())
    await upload(client, headers, path, collection="incidents")
    rows = [dict(r) for r in geofiles.INCIDENTS]
    rows[0]["severity"] = 5
    rows.append(dict(rows[1], external_id="inc-4"))
    changed = tmp_path / "v2.csv"
    changed.write_text(geofiles.incidents_csv(rows))
    job = (await upload(client, headers, changed, collection="incidents")).json()
    response = await client.post(f"/api/imports/{job['id']}/rollback", headers=headers("officer"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rolled_back"
    assert "1 record(s) removed, 1 restored" in response.json()["message"]
    found = await records(client, headers, "incidents")
    assert sorted(found) == ["inc-1", "inc-2", "inc-3"]
    assert found["inc-1"]["properties"]["severity"] == 3
    twice = await client.post(f"/api/imports/{job['id']}/rollback", headers=headers("officer"))
    assert twice.status_code == 409
    again = (await upload(client, headers, changed, collection="incidents")).json()
    assert (again["created"], again["updated"]) == (1, 1)


async def test_who_may_import_what(client: AsyncClient, headers: Headers, tmp_path: Path) -> None:
    path = _csv(tmp_path)
    for user in ("partner", "analyst"):
        refused = await upload(client, headers, path, collection="incidents", user=user)
        assert refused.status_code == 403, user
    restricted = await upload(
        client, headers, path, collection="incidents", classification="restricted"
    )
    assert restricted.status_code == 403
    assert "restricted" in restricted.json()["detail"]
    cleared = await upload(
        client, headers, path, collection="incidents", classification="restricted", user="admin"
    )
    assert cleared.status_code == 201
    found = await records(client, headers, "incidents")
    assert {f["properties"]["classification"] for f in found.values()} == {"restricted"}


async def test_officers_limited_to_sectors_import_only_inside_them(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    rows = [dict(r) for r in geofiles.INCIDENTS]
    rows[1]["lat"] = 4.5  # in the South
    path = tmp_path / "mixed.csv"
    path.write_text(geofiles.incidents_csv(rows))
    response = await upload(client, headers, path, collection="incidents", user="officer-north")
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"][2] == 2 and "outside the sectors" in problem["msg"]
    path.write_text(geofiles.incidents_csv(geofiles.INCIDENTS))
    inside = await upload(client, headers, path, collection="incidents", user="officer-north")
    assert inside.status_code == 201


async def test_a_key_held_only_by_a_record_hidden_from_the_importer_is_free_for_them(
    client: AsyncClient, headers: Headers, make: Any, tmp_path: Path
) -> None:
    """(tests/test_access_leaks_existence.py compares the answers with those for an unused key.)"""
    hidden = await make(
        "incidents", classification="restricted", origin="import", external_id="inc-1"
    )
    response = await upload(client, headers, _csv(tmp_path), collection="incidents")
    assert response.status_code == 201, response.text
    assert (response.json()["created"], response.json()["updated"]) == (3, 0)
    kept = await client.get(f"/api/incidents/{hidden['id']}", headers=headers("admin"))
    assert kept.json()["properties"]["category"] == hidden["properties"]["category"]
    assert kept.json()["geometry"] == hidden["geometry"]


async def test_an_explicit_mapping_wins_and_unknown_names_are_refused(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    rows = [["when", "kind", "sev", "y", "x"]]
    rows += [
        [r["occurred_at"], r["category"], r["severity"], r["lat"], r["lon"]]
        for r in geofiles.INCIDENTS
    ]
    path = tmp_path / "odd.csv"
    path.write_text(geofiles.csv_text(rows))
    mapping = {"occurred_at": "when", "category": "kind", "severity": "sev"}
    response = await upload(client, headers, path, collection="incidents", mapping=mapping)
    assert response.status_code == 201, response.text
    assert response.json()["options"]["applied_mapping"]["fields"]["severity"] == "sev"
    unknown_source = await upload(
        client, headers, path, collection="incidents", mapping={**mapping, "severity": "grade"}
    )
    assert unknown_source.status_code == 422
    detail = unknown_source.json()["detail"][0]
    assert detail["loc"] == ["body", "mapping"] and "'grade'" in detail["msg"]
    assert "when, kind, sev, y, x" in detail["msg"]
    unknown_target = await upload(
        client, headers, path, collection="incidents", mapping={**mapping, "colour": "kind"}
    )
    assert unknown_target.status_code == 422
    assert "'colour'" in unknown_target.json()["detail"][0]["msg"]


async def test_geometries_are_made_fit_or_refused_with_the_row(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    shapes = [
        "POINT Z (24.1 7.2 350)",  # Z dropped
        "MULTIPOINT ((24.2 7.3))",  # one part: a point
        "MULTIPOINT ((24.2 7.3), (24.3 7.4))",  # two parts: refused
        "",  # empty: refused
        "LINESTRING (24 7, 25 8)",  # wrong type
    ]
    rows: list[list[Any]] = [["external_id", "category", "occurred_at", "severity", "wkt"]]
    rows += [[f"g{i}", "other", "2026-09-01", 1, s] for i, s in enumerate(shapes)]
    path = tmp_path / "shapes.csv"
    path.write_text(geofiles.csv_text(rows))
    report = (await upload(client, headers, path, collection="incidents", dry_run="true")).json()
    problems = {p["row"]: p["message"] for p in report["problems"]}
    assert set(problems) == {3, 4, 5}
    assert "MultiPoint cannot be stored" in problems[3]
    assert "no geometry" in problems[4]
    assert "LineString cannot be stored" in problems[5]
    sample = report["sample"]
    assert sample[0]["geometry"]["coordinates"] == [24.1, 7.2]
    assert sample[1]["geometry"]["type"] == "Point"


async def test_invalid_areas_are_repaired_when_safe_and_refused_otherwise(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    spike = "POLYGON ((24 7, 24.5 7, 24.5 7.5, 24.25 7.5, 24.25 7.8, 24.25 7.5, 24 7.5, 24 7))"
    bowtie = "POLYGON ((24 7, 24.5 7.5, 24.5 7, 24 7.5, 24 7))"
    rows: list[list[Any]] = [["external_id", "name", "site_type", "wkt"]]
    rows += [["s1", "Spiky camp", "planned_camp", spike], ["s2", "Bow tie", "planned_camp", bowtie]]
    path = tmp_path / "areas.csv"
    path.write_text(geofiles.csv_text(rows))
    report = (await upload(client, headers, path, collection="idp_sites", dry_run="true")).json()
    by_row = {p["row"]: p for p in report["problems"]}
    assert by_row[1]["severity"] == "warning" and "repaired" in by_row[1]["message"]
    assert by_row[2]["severity"] == "error" and "cannot be repaired" in by_row[2]["message"]
    assert shapely.geometry.shape(report["sample"][0]["geometry"]).is_valid


async def test_far_outside_the_mission_area_is_refused_with_a_hint(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    swapped = [dict(r, lat=r["lon"], lon=r["lat"]) for r in geofiles.INCIDENTS]
    path = tmp_path / "swapped.csv"
    path.write_text(geofiles.incidents_csv(swapped))
    response = await upload(client, headers, path, collection="incidents")
    assert response.status_code == 422
    messages = [d["msg"] for d in response.json()["detail"]]
    assert len(messages) == 3 and all("latitude and longitude swapped" in m for m in messages)
    # A UTM shapefile whose .prj says WGS 84: metres read as degrees.
    data = geofiles.table(crs="EPSG:32635")
    wrong = geofiles.shapefile_zip(tmp_path / "wrong", data, crs="EPSG:4326")
    refused = await upload(client, headers, wrong, collection="incidents")
    assert refused.status_code == 422
    assert "look projected" in refused.json()["detail"][0]["msg"]


async def test_a_file_without_a_crs_needs_source_crs(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    data = geofiles.table(crs="EPSG:32635")
    path = geofiles.shapefile_zip(tmp_path / "noprj", data, crs="EPSG:32635", leave_out=[".prj"])
    refused = await upload(client, headers, path, collection="incidents")
    assert refused.status_code == 422
    (detail,) = refused.json()["detail"]
    assert detail["loc"] == ["body", "source_crs"]
    assert "coordinate reference system" in detail["msg"] and "source_crs" in detail["msg"]
    given = await upload(client, headers, path, collection="incidents", source_crs="EPSG:32635")
    assert given.status_code == 201, given.text
    assert_incidents(await records(client, headers, "incidents"))


async def test_jobs_run_in_the_background_and_can_be_followed(
    client: AsyncClient, headers: Headers, tmp_path: Path, app: Any, worker: Any
) -> None:
    """Without wait the import runs after the answer, in a worker process (queued, then
    running): committed for real here, so the test undoes it (with the rollback, in a
    committed session) at the end."""
    import asyncio

    from service.access.policy import Principal
    from service.config import get_settings
    from service.enums import Role
    from service.imports import service

    path = tmp_path / "background.csv"
    rows = [dict(r, external_id=f"bg-{r['external_id']}") for r in geofiles.INCIDENTS]
    path.write_text(geofiles.incidents_csv(rows))
    response = await upload(
        client, headers, path, collection="incidents", wait=False, origin="background-test"
    )
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    job: dict[str, Any] = {}
    try:
        for _ in range(600):
            job = (await client.get(location, headers=headers("officer"))).json()
            if job["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.1)
        assert 'rel="job"' in response.headers["link"]
        assert job["status"] == "succeeded" and job["created"] == 3
        assert job["progress"]["percent"] == 100.0
        assert (await client.get(location, headers=headers("officer-north"))).status_code == 404
        listed = await client.get("/api/imports", headers=headers("admin"))
        assert job["id"] in [j["id"] for j in listed.json()]
    finally:
        officer = Principal(username="officer", role=Role.officer)
        async with app.state.sessionmaker() as own:
            undone = await service.rollback(own, officer, job["id"], get_settings())
    assert undone.status == "rolled_back" and "3 record(s) removed" in str(undone.message)


async def test_imported_records_get_the_area_of_responsibility_the_database_would_give(
    client: AsyncClient, headers: Headers, session: Any, tmp_path: Path, world: Any
) -> None:
    """The import finds sectors set-wise; it must agree with ``civop_sector_at``."""
    from sqlalchemy import text

    places = [(24.5, 7.5), (27.5, 8.5), (25.0, 4.0), (23.5, 6.5), (29.5, 2.5)]
    rows = [
        dict(geofiles.INCIDENTS[0], external_id=f"s{i}", lon=x, lat=y)
        for i, (x, y) in enumerate(places)
    ]
    path = tmp_path / "sectors.csv"
    path.write_text(geofiles.incidents_csv(rows))
    response = await upload(client, headers, path, collection="incidents")
    assert response.status_code == 201, response.text
    found = (
        await session.execute(
            text(
                "SELECT external_id, sector_id, civop_sector_at(geom) FROM incidents "
                "WHERE origin = 'import' ORDER BY external_id"
            )
        )
    ).all()
    assert [r[1] for r in found] == [r[2] for r in found]
    by_name = {v: k for k, v in world.sectors.items()}
    assert [by_name.get(r[1]) for r in found] == [
        "North-West",
        "North-East",
        "South-All",
        "North-West",
        None,
    ]


async def test_the_formats_and_the_upload_form_are_documented(
    client: AsyncClient, headers: Headers
) -> None:
    formats = (await client.get("/api/imports/formats", headers=headers("officer"))).json()
    by_name = {f["name"]: f for f in formats}
    assert (
        by_name["acled"]["collection"] == "incidents"
        and by_name["dtm"]["collection"] == "idp_sites"
    )
    assert all(by_name[n]["write"] for n in ("shapefile", "gpkg", "geojson", "kml", "csv"))
    schema = (await client.get("/openapi.json")).json()
    form = schema["paths"]["/api/imports"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert {"file", "collection", "mapping", "source_crs", "dry_run"} <= set(
        form["schema"]["properties"]
    )
    assert "/api/incidents/export" in schema["paths"]
