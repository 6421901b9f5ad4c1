"""Bad input: every file below gets a 4xx whose message names the problem, nothing is written
(no record, no job), and the service keeps answering."""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import get_settings
from tests import geofiles
from tests.test_imports import upload

Headers = Callable[[str], dict[str, str]]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def _shapefile_parts(tmp_path: Path) -> dict[str, bytes]:
    path = geofiles.shapefile_zip(tmp_path / "parts", geofiles.table())
    with zipfile.ZipFile(path) as bundle:
        return {name: bundle.read(name) for name in bundle.namelist()}


def _bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        with bundle.open("incidents.csv", "w") as member:
            member.write(b"category,lat,lon\n")
            for _ in range(40):
                member.write(b"\n" * (1024 * 1024))  # 40 MiB of nothing, packed into ~40 KiB
    return buffer.getvalue()


CSV = geofiles.incidents_csv().encode()


def cases(tmp_path: Path) -> dict[str, tuple[str, bytes, dict[str, Any], int, str]]:
    """name -> (file name, content, form fields, status, words the message must hold)."""
    parts = _shapefile_parts(tmp_path)
    valid_zip = _zip(parts)
    gpkg = geofiles.write(tmp_path / "t.gpkg", geofiles.table(), "GPKG").read_bytes()
    return {
        "corrupt zip": ("incidents.zip", b"PK\x03\x04" + b"\x00garbage" * 100, {}, 422, "damaged"),
        "truncated zip": ("incidents.zip", valid_zip[: len(valid_zip) // 2], {}, 422, "damaged"),
        "zip bomb": ("incidents.zip", _bomb(), {}, 413, "zip bomb"),
        "member climbing out": ("x.zip", _zip({"../evil.csv": CSV}), {}, 422, "climbs out"),
        "absolute member": ("x.zip", _zip({"/tmp/evil.csv": CSV}), {}, 422, "absolute"),
        "missing .shx": (
            "i.zip",
            _zip({k: v for k, v in parts.items() if not k.endswith(".shx")}),
            {},
            422,
            "incidents.shx",
        ),
        "missing .dbf": (
            "i.zip",
            _zip({k: v for k, v in parts.items() if not k.endswith(".dbf")}),
            {},
            422,
            "incidents.dbf",
        ),
        "shapefile not zipped": ("incidents.shp", parts["incidents.shp"], {}, 422, "zip the .shp"),
        "wrong text encoding": (
            "wide.csv",
            geofiles.incidents_csv().encode("utf-16"),
            {"encoding": "latin-1"},
            422,
            "leave the encoding empty",
        ),
        "not text at all": ("noise.csv", b"\x00\x01\x02\xff" * 64, {}, 415, "not a text file"),
        "unsupported format": (
            "map.png",
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
            {},
            415,
            "not a format",
        ),
        "a zip of something else": (
            "report.docx",
            _zip({"word/document.xml": b"<w/>"}),
            {},
            415,
            "no file civop reads",
        ),
        "broken geopackage": ("t.gpkg", gpkg[:2048], {}, 422, "cannot be read"),
        "a geopackage that is not one": ("t.gpkg", b"SQLite format 2\x00" * 64, {}, 422, "t.gpkg"),
        "broken KML": (
            "sites.kml",
            b"<?xml version='1.0'?><kml><Document><Placemark>",
            {},
            422,
            "sites.kml",
        ),
        "broken GeoJSON": (
            "sites.geojson",
            b'{"type": "FeatureCollection", "features": [',
            {},
            422,
            "sites.geojson",
        ),
        "broken spreadsheet": (
            "dtm.xlsx",
            _zip({"xl/workbook.xml": b"<workbook"}),
            {},
            422,
            "dtm.xlsx",
        ),
        "a spreadsheet that is not one": (
            "dtm.xls",
            b"\xd0\xcf\x11\xe0" + b"\x00" * 600,
            {},
            422,
            "dtm.xls",
        ),
        "empty file": ("empty.csv", b"", {}, 422, "empty"),
        "mapping names an unknown field": (
            "i.csv",
            CSV,
            {"mapping": {"severity": "grade"}},
            422,
            "'grade'",
        ),
        "mapping that is not JSON": ("i.csv", CSV, {"mapping": "{severity"}, 422, "not JSON"),
        "unknown source CRS": ("i.csv", CSV, {"source_crs": "EPSG:999999"}, 422, "EPSG"),
        "unknown collection": ("i.csv", CSV, {"collection": "weather"}, 422, "unknown collection"),
        "numbers that are not numbers": (
            "i.csv",
            CSV.replace(b",3,2,Exchange", b",three,2,Exchange"),
            {},
            422,
            "not a number: 'three'",
        ),
    }


NAMES = [
    "corrupt zip",
    "truncated zip",
    "zip bomb",
    "member climbing out",
    "absolute member",
    "missing .shx",
    "missing .dbf",
    "shapefile not zipped",
    "wrong text encoding",
    "not text at all",
    "unsupported format",
    "a zip of something else",
    "broken geopackage",
    "a geopackage that is not one",
    "broken KML",
    "broken GeoJSON",
    "broken spreadsheet",
    "a spreadsheet that is not one",
    "empty file",
    "mapping names an unknown field",
    "mapping that is not JSON",
    "unknown source CRS",
    "unknown collection",
    "numbers that are not numbers",
]


async def _written(session: AsyncSession) -> tuple[int, int]:
    incidents = await session.scalar(text("SELECT count(*) FROM incidents"))
    jobs = await session.scalar(text("SELECT count(*) FROM import_jobs WHERE status = 'succeeded'"))
    return int(incidents or 0), int(jobs or 0)


@pytest.mark.parametrize("case", NAMES)
async def test_bad_input_is_refused_with_a_message_and_writes_nothing(
    client: AsyncClient, headers: Headers, session: AsyncSession, tmp_path: Path, case: str
) -> None:
    name, content, fields, status, words = cases(tmp_path)[case]
    form = {"collection": "incidents", **fields}
    response = await upload(client, headers, name=name, content=content, **form)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    message = detail if isinstance(detail, str) else " ".join(d["msg"] for d in detail)
    assert words in message, message
    # Said in the user's terms: no path on the server, no advice meant for GDAL's users.
    places = {tempfile.gettempdir(), str(tmp_path), "civop-import-", "/upload/"}
    if get_settings().import_dir:
        places.add(str(get_settings().import_dir))
    assert not [place for place in places if place in response.text], message
    assert "prefix" not in message.lower() and "driver" not in message.lower(), message
    assert await _written(session) == (0, 0)
    assert (await client.get("/health")).status_code == 200


async def test_a_file_over_the_size_limit_is_refused(
    client: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    settings = get_settings()
    before = settings.import_max_upload_mb
    settings.import_max_upload_mb = 1
    try:
        big = CSV + b"\n" * (2 * 1024 * 1024)
        response = await upload(
            client, headers, name="big.csv", content=big, collection="incidents"
        )
    finally:
        settings.import_max_upload_mb = before
    assert response.status_code == 413
    assert "larger than 1 MiB" in response.json()["detail"]
    assert await _written(session) == (0, 0)
