"""The OGC API as GIS clients use it, against the service running as users run it: Debian's
QGIS (headless PyQGIS) with an HTTP Basic authentication configuration, GDAL's vector tile
driver over HTTP, and the OGC API - Features Part 1 test suite (``ogctests``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import factories
from tests.conftest import ARTIFACTS, LiveServer

CLIENTS = Path(__file__).parent / "clients"
ROOT = Path(__file__).resolve().parents[1]
#: The system interpreter, which has Debian's QGIS (``python3-qgis``); not the project's venv.
SYSTEM_PYTHON = "/usr/bin/python3"
OGCTESTS_PYTHON = ROOT / ".venv-ogctests" / "bin" / "python"


@pytest.fixture(scope="module")
async def some_of_each(live_server: LiveServer) -> dict[str, dict[str, Any]]:
    """A public record of each collection (an assistance request too), and an area of each
    collection of points and areas, created through the API: the OGC test suite wants
    features in every collection."""
    key = await live_server.api_key("admin")
    created: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(base_url=live_server.url, headers={"X-API-Key": key}) as http:
        for collection in factories.DEFAULTS:
            feature = factories.feature(collection, classification="public")
            response = await http.post(f"/api/{collection}", json=feature)
            assert response.status_code == 201, response.text
            created[collection] = response.json()
        for collection in ("actors", "idp_sites", "projects"):  # their outlines, as areas
            outline = factories.feature(
                collection,
                geometry=factories.square(25.0, 5.0, 25.05, 5.04),
                classification="public",
            )
            response = await http.post(f"/api/{collection}", json=outline)
            assert response.status_code == 201, response.text
        request = {
            "type": "Feature",
            "geometry": factories.point(25.21, 7.31),
            "properties": {
                "title": "Airlift of cholera kits to Kalembe",
                "need": "4 t of cholera kits for the Kalembe camps; the road is cut",
                "capability": "air_transport",
                "requested_at": "2026-11-10T08:00:00Z",
                "needed_from": "2026-11-12T00:00:00Z",
                "needed_until": "2026-12-05T00:00:00Z",
                "capability_unique": True,
                "no_civilian_alternative": True,
                "limited_in_time_and_space": True,
                "justification": "No civilian helicopter before the rains",
                "classification": "public",
                "requesting_actor_id": created["actors"]["id"],
            },
        }
        response = await http.post("/api/assistance_requests", json=request)
        assert response.status_code == 201, response.text
        created["assistance_requests"] = response.json()
        request["geometry"] = factories.square(25.2, 7.3, 25.25, 7.34)
        response = await http.post("/api/assistance_requests", json=request)
        assert response.status_code == 201, response.text
    return created


def _qgis_available() -> bool:
    found = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, check=False
    )
    return found.returncode == 0


async def test_qgis_adds_every_layer_and_the_tiles_with_basic_auth(
    live_server: LiveServer, some_of_each: dict[str, Any]
) -> None:
    """The README's QGIS steps, done by QGIS 3.22 itself: a Basic authentication configuration
    (username, API key as password), every collection as an OGC API - Features layer and as
    vector tiles; features counted, the map drawn."""
    assert _qgis_available(), "Debian's QGIS is missing: run scripts/system.sh (python3-qgis)"
    key = await live_server.api_key("analyst")
    png = ARTIFACTS / "qgis-layers.png"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))} | {
        "QT_QPA_PLATFORM": "offscreen",
        "QGIS_PREFIX_PATH": "/usr",
    }
    result = subprocess.run(
        [SYSTEM_PYTHON, str(CLIENTS / "qgis_client.py"), live_server.url, "analyst", key, str(png)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    (ARTIFACTS / "qgis-layers.json").write_text(json.dumps(report, indent=2))
    assert report["qgis"].startswith("3.")
    async with httpx.AsyncClient(base_url=live_server.url, auth=("analyst", key)) as http:
        listed = (await http.get("/collections")).json()["collections"]
        expected = {
            c["id"]: (await http.get(f"/collections/{c['id']}/items", params={"limit": 1000}))
            .json()
            .get("numberMatched")
            for c in listed
        }
    assert set(report["features"]) == set(expected)
    for collection, found in report["features"].items():
        assert found["valid"], (collection, found)
        assert found["count"] == expected[collection] and found["count"] > 0, (collection, found)
        assert found["fields"], collection
    for collection, found in report["tiles"].items():
        assert found["valid"] and found["pixels"] > 0, (collection, found)
    assert report["features_png_pixels"] > 0 and report["tiles_png_pixels"] > 0
    for path in report["pngs"]:
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # noqa: ASYNC240


async def test_qgis_without_the_key_gets_nothing(live_server: LiveServer) -> None:
    assert _qgis_available(), "Debian's QGIS is missing: run scripts/system.sh (python3-qgis)"
    result = subprocess.run(
        [
            SYSTEM_PYTHON,
            str(CLIENTS / "qgis_client.py"),
            live_server.url,
            "analyst",
            "civop_not-a-key",
            str(ARTIFACTS / "qgis-refused.png"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    # The collections cannot even be listed: the first request is refused.
    assert result.returncode != 0 and "401" in result.stderr


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL command-line tools missing")
async def test_gdal_reads_a_vector_tile_over_http(
    live_server: LiveServer, some_of_each: dict[str, Any]
) -> None:
    """GDAL's MVT driver reads a tile URL through /vsicurl/: HEAD for the size, then byte
    ranges; credentials by HTTP Basic, never in the URL."""
    key = await live_server.api_key("analyst")
    lon, lat = some_of_each["incidents"]["geometry"]["coordinates"]
    import morecantile

    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 8)
    url = f"{live_server.url}/collections/incidents/tiles/WebMercatorQuad/8/{tile.x}/{tile.y}.pbf"
    result = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-so", f"MVT:{url}"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GDAL_HTTP_AUTH": "BASIC", "GDAL_HTTP_USERPWD": f"analyst:{key}"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Layer name: incidents" in result.stdout
    count = int(result.stdout.split("Feature Count: ")[1].split()[0])
    assert count >= 1
    assert "severity: Integer" in result.stdout, result.stdout


async def test_ogctests_features_part1_core_pass(
    live_server: LiveServer, some_of_each: dict[str, Any]
) -> None:
    """The OGC API - Features Part 1 core test suite (PyPI ``ogctests``), every test passing,
    and the conformance document claiming what it checks."""
    assert OGCTESTS_PYTHON.exists(), "the ogctests environment is missing: run make ogctests"
    key = await live_server.api_key("analyst")
    report = ARTIFACTS / "ogctests.xml"
    result = subprocess.run(
        [
            str(OGCTESTS_PYTHON),
            str(CLIENTS / "run_ogctests.py"),
            live_server.url,
            "analyst",
            key,
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ARTIFACTS,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        check=False,
    )
    (ARTIFACTS / "ogctests.log").write_text(result.stdout + result.stderr)
    suite = ET.parse(report).getroot()  # noqa: S314 - the report the suite just wrote
    suite = suite if suite.tag == "testsuite" else suite[0]
    cases = suite.findall("testcase")
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    failed += [c.get("name") for c in cases if c.find("error") is not None]
    skipped = [c.get("name") for c in cases if c.find("skipped") is not None]
    print(f"ogctests: {len(cases) - len(failed) - len(skipped)} passed, {len(failed)} failed")
    assert len(cases) >= 29, result.stdout[-2000:]
    assert failed == [] and skipped == [], result.stdout[-4000:]
    assert result.returncode == 0
