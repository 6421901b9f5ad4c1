"""Exports: every format opens in GDAL with the records the list shows, the list filters apply,
and a round trip export -> import gives back the same records."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx import AsyncClient

from service.collections.registry import COLLECTIONS
from tests import factories, geofiles
from tests.conftest import LiveServer
from tests.test_imports import upload

Headers = Callable[[str], dict[str, str]]
FORMATS = ["geojson", "gpkg", "shapefile", "kml", "csv"]
MEDIA = {
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "shapefile": "application/zip",
    "kml": "application/vnd.google-earth.kml+xml",
    "csv": "text/csv; charset=utf-8",
}
#: Stamped by the database, so never equal between an original and its copy.
STAMPS = {"origin", "external_id", "created_at", "created_by", "updated_at", "updated_by"}


def export_columns(collection: str) -> list[str]:
    table = COLLECTIONS[collection].table
    names = [c.name for c in table.c if c.name not in ("deleted_at", "deleted_by", "geom")]
    return [*names, "generalised"]


async def export(
    client: AsyncClient,
    headers: Headers,
    tmp_path: Path,
    collection: str,
    fmt: str,
    user: str = "admin",
    **params: Any,
) -> Path:
    response = await client.get(
        f"/api/{collection}/export", params={"format": fmt, **params}, headers=headers(user)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA[fmt]
    suffix = geofiles.EXPORT_SUFFIX[fmt]
    assert f'filename="{collection}{suffix}"' in response.headers["content-disposition"]
    path = tmp_path / f"{user}-{collection}{suffix}"
    path.write_bytes(response.content)
    return path


async def _incidents(make: Any) -> list[dict[str, Any]]:
    made = []
    for i, (x, y) in enumerate([(24.1234567, 7.1), (24.5, 7.5), (25.25, 8.75)]):
        made.append(
            await make(
                "incidents",
                geometry=factories.point(x, y),
                severity=i + 1,
                category=["armed_clash", "looting", "abduction"][i],
                description=f"Incident {i} — près du marché",
                reported_at="2026-10-02T08:15:00Z" if i else None,
                source_reliability="B" if i == 1 else None,
            )
        )
    return made


async def _sites(make: Any) -> list[dict[str, Any]]:
    return [
        await make("idp_sites", name="Camp point", population_individuals=1200),
        await make(
            "idp_sites",
            geometry=factories.square(24.0, 7.0, 24.1, 7.1),
            name="Camp area",
            site_type="spontaneous_settlement",
            population_households=300,
            population_date="2026-09-30",
        ),
    ]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_every_format_holds_what_the_list_shows(
    client: AsyncClient, headers: Headers, make: Any, tmp_path: Path, fmt: str
) -> None:
    made = await _incidents(make)
    path = await export(client, headers, tmp_path, "incidents", fmt)
    features = geofiles.features_of(path, fmt, export_columns("incidents"))
    by_id = {f["id"]: f for f in features}
    assert set(by_id) == {m["id"] for m in made}
    for original in made:
        exported = by_id[original["id"]]
        for name in ("category", "severity", "description", "classification"):
            value = exported["properties"][name]
            assert str(value) == str(original["properties"][name]), (fmt, name)
        assert exported["geometry"]["coordinates"] == original["geometry"]["coordinates"]


async def test_the_list_filters_apply_to_exports(
    client: AsyncClient, headers: Headers, make: Any, tmp_path: Path
) -> None:
    made = await _incidents(make)
    path = await export(
        client,
        headers,
        tmp_path,
        "incidents",
        "gpkg",
        category="looting,abduction",
        bbox="24.4,7.4,26,9",
    )
    features = geofiles.features_of(path, "gpkg")
    assert {f["id"] for f in features} == {made[1]["id"], made[2]["id"]}
    none = await export(client, headers, tmp_path, "incidents", "csv", q="no such words")
    assert geofiles.features_of(none, "csv") == []


async def test_an_unknown_format_is_refused(client: AsyncClient, headers: Headers) -> None:
    response = await client.get(
        "/api/incidents/export", params={"format": "dwg"}, headers=headers("admin")
    )
    assert response.status_code == 422


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("collection", ["incidents", "idp_sites"])
async def test_a_round_trip_gives_back_the_same_records(
    client: AsyncClient,
    headers: Headers,
    make: Any,
    tmp_path: Path,
    fmt: str,
    collection: str,
) -> None:
    made = await (_incidents(make) if collection == "incidents" else _sites(make))
    path = await export(client, headers, tmp_path, collection, fmt)
    layers = (
        ["idp_sites_points", "idp_sites_polygons"]
        if (fmt == "shapefile" and collection == "idp_sites")
        else [None]
    )
    unchanged = 0
    for layer in layers:
        fields = {"collection": collection, **({"layer": layer} if layer else {})}
        again = await upload(client, headers, path, user="admin", **fields)
        assert again.status_code == 201, again.text
        job = again.json()
        assert (job["created"], job["updated"]) == (0, 0), job
        unchanged += job["unchanged"]
    assert unchanged == len(made)
    # Imported as new records (no id, no origin, no external_id), they equal the originals.
    copies: dict[str, dict[str, Any]] = {}
    for layer in layers:
        fields = {"collection": collection, **({"layer": layer} if layer else {})}
        mapping = {"id": None, "origin": None, "external_id": None}
        response = await upload(
            client, headers, path, user="admin", origin="copy", mapping=mapping, **fields
        )
        assert response.status_code == 201, response.text
    listed = await client.get(f"/api/{collection}", params={"limit": 100}, headers=headers("admin"))
    for feature in listed.json()["features"]:
        if feature["properties"]["origin"] == "copy":
            copies[feature["properties"].get("name") or feature["properties"]["description"]] = (
                feature
            )
    assert len(copies) == len(made)
    for original in made:
        key = original["properties"].get("name") or original["properties"]["description"]
        copy = copies[key]
        assert copy["geometry"] == original["geometry"], fmt
        for name, value in original["properties"].items():
            if name not in STAMPS:
                assert copy["properties"][name] == value, (fmt, name)


async def test_the_export_route_is_not_taken_for_a_record_id(
    client: AsyncClient, headers: Headers
) -> None:
    response = await client.get("/api/bases/export", headers=headers("partner"))
    assert response.status_code == 200
    assert response.json() == {"type": "FeatureCollection", "features": []}


async def test_civop_export_writes_what_the_user_may_see(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """The command line exports through the same access rules; a refusal is a message and
    exit status 1, not a traceback."""
    key = await live_server.api_key("admin")
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": key}) as http:
        for classification in ("public", "restricted"):
            marker = f"cli-export-{classification}"
            feature = factories.feature(
                "incidents", classification=classification, description=marker
            )
            assert (await http.post("/api/incidents", json=feature)).status_code == 201
    env = {
        **os.environ,
        "DATABASE_URL": live_server.database_url.replace("postgresql+asyncpg://", "postgresql://"),
    }
    output = tmp_path / "incidents.geojson"
    command = [sys.executable, "-m", "service.cli", "export", "incidents", "--format", "geojson"]
    done = subprocess.run(
        [*command, "--user", "partner", "--output", str(output)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"incidents exported to {output}" in done.stdout
    written = output.read_text()
    assert "cli-export-public" in written and "cli-export-restricted" not in written

    refused = subprocess.run(
        [*command, "--user", "nobody", "--output", str(tmp_path / "x.geojson")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1 and "error: no active user 'nobody'" in refused.stderr
    assert "Traceback" not in refused.stderr


async def test_kml_carries_the_id_as_a_field_and_numbers_typed(
    client: AsyncClient, headers: Headers, make: Any, tmp_path: Path
) -> None:
    """GDAL and QGIS show a KML placemark's ExtendedData, not its id attribute: the id is a
    field too, and numbers are declared as numbers in the Schema."""
    import pyogrio

    made = await _incidents(make)
    path = await export(client, headers, tmp_path, "incidents", "kml")
    info = pyogrio.read_info(path)
    types = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert types["severity"].startswith("int") and types["killed"].startswith("int")
    assert types["id"] == "object"
    frame = pyogrio.read_dataframe(path)
    assert set(frame["id"]) == {m["id"] for m in made}
    assert sorted(frame["severity"]) == [1, 2, 3]
