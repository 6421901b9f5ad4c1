"""The leak suite for exports: every role, every collection, every export format. Each file is
read back with GDAL (or the csv module) into GeoJSON and checked like the API's answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from httpx import AsyncClient

from tests import factories, geofiles
from tests.test_access_leaks import USERS, Headers, check_outputs, plant
from tests.test_exports import FORMATS, export, export_columns


@pytest.mark.parametrize("user", USERS)
async def test_nothing_leaks_through_exports(
    client: AsyncClient, headers: Headers, tmp_path: Path, user: str
) -> None:
    planted = await plant(client, headers)
    texts: list[str] = []
    for collection in factories.DEFAULTS:
        for fmt in FORMATS:
            path = await export(client, headers, tmp_path, collection, fmt, user=user)
            features = geofiles.features_of(path, fmt, export_columns(collection))
            texts.append(json.dumps({"type": "FeatureCollection", "features": features}))
            # The file itself too (as text): no hidden id, marker or place in any form.
            texts.append(json.dumps({"raw": path.read_bytes().decode("utf-8", "replace")}))
    check_outputs(user, planted, texts)


async def test_a_partner_export_is_generalised_like_the_api(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    planted = await plant(client, headers)
    site = next(p for p in planted if p.collection == "idp_sites" and p.classification == "mission")
    path = await export(client, headers, tmp_path, "idp_sites", "gpkg", user="partner")
    (feature,) = [f for f in geofiles.features_of(path, "gpkg") if f["id"] == site.id]
    assert feature["properties"]["generalised"] is True
    assert feature["properties"]["name"] is None
    assert site.marker.encode() not in path.read_bytes()
    api = await client.get(f"/api/idp_sites/{site.id}", headers=headers("partner"))
    assert feature["geometry"] == api.json()["geometry"]
