"""GIS tools read the layers: GDAL's OGC API - Features driver (as QGIS and ArcGIS use it)
lists and reads every collection, with correct geometries and attributes, as the key's user."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import factories
from tests.conftest import LiveServer

pytestmark = pytest.mark.skipif(
    shutil.which("ogr2ogr") is None, reason="GDAL command-line tools missing"
)


def gdal(*args: str, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*args, "--config", "GDAL_HTTP_HEADERS", f"X-API-Key: {key}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
async def published(live_server: LiveServer) -> dict[str, dict[str, Any]]:
    """One public and one restricted record of each collection, created through the API."""
    key = await live_server.api_key("admin")
    created: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": key}) as http:
        for collection in factories.DEFAULTS:
            for classification in ("public", "restricted"):
                feature = factories.feature(collection, classification=classification)
                response = await http.post(f"/api/{collection}", json=feature)
                assert response.status_code == 201, response.text
                created[f"{collection}:{classification}"] = response.json()
    return created


async def test_ogrinfo_lists_every_collection(
    live_server: LiveServer, published: dict[str, Any]
) -> None:
    key = await live_server.api_key("analyst-cleared")
    result = gdal("ogrinfo", "-ro", "-q", f"OAPIF:{live_server.url}", key=key)
    assert result.returncode == 0, result.stderr
    for collection in factories.DEFAULTS:
        assert f": {collection} " in result.stdout or f": {collection}\n" in result.stdout, (
            result.stdout
        )


@pytest.mark.parametrize("collection", list(factories.DEFAULTS))
async def test_ogr2ogr_reads_geometries_and_attributes(
    live_server: LiveServer, published: dict[str, Any], collection: str, tmp_path: Path
) -> None:
    key = await live_server.api_key("admin")
    out = tmp_path / f"{collection}.geojson"
    result = gdal(
        "ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{live_server.url}", collection, key=key
    )
    assert result.returncode == 0, result.stderr
    features = {f["properties"]["id"]: f for f in json.loads(out.read_text())["features"]}
    for classification in ("public", "restricted"):
        original = published[f"{collection}:{classification}"]
        read = features[original["id"]]
        assert read["geometry"]["type"] == original["geometry"]["type"]
        assert _rounded(read["geometry"]["coordinates"]) == _rounded(
            original["geometry"]["coordinates"]
        )
        for field, value in factories.DEFAULTS[collection][1].items():
            if isinstance(value, (str, int, bool)) and not isinstance(value, dict):
                assert read["properties"][field] == value, field


async def test_a_partner_key_reads_only_what_a_partner_may_see(
    live_server: LiveServer, published: dict[str, Any], tmp_path: Path
) -> None:
    key = await live_server.api_key("partner")
    out = tmp_path / "incidents.geojson"
    result = gdal(
        "ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{live_server.url}", "incidents", key=key
    )
    assert result.returncode == 0, result.stderr
    ids = {f["properties"]["id"] for f in json.loads(out.read_text())["features"]}
    assert published["incidents:public"]["id"] in ids
    assert published["incidents:restricted"]["id"] not in ids
    assert (
        "informant" not in out.read_text() or published["incidents:public"]["properties"]["source"]
    )


async def test_a_revoked_or_missing_key_reads_nothing(live_server: LiveServer) -> None:
    result = gdal("ogrinfo", "-ro", "-q", f"OAPIF:{live_server.url}", key="civop_not-a-key")
    assert result.returncode != 0


def _rounded(coordinates: Any) -> Any:
    if isinstance(coordinates, (int, float)):
        return round(coordinates, 6)
    return [_rounded(c) for c in coordinates]
