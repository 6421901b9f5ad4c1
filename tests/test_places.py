"""The gazetteer: imported from GeoNames and OpenStreetMap, read through the access rules, and
used to name a point ("3 km NE of Dorosa") for whoever asks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from httpx import AsyncClient
from shapely.geometry import Point
from sqlalchemy.ext.asyncio import AsyncSession

from geo.places import from_mgrs, phrase, relation, to_mgrs
from service.access.policy import Principal
from service.enums import Role
from service.places.service import describe_point, nearest_place
from tests import factories
from tests.test_imports import records, upload

Headers = Callable[[str], dict[str, str]]

#: GeoNames rows: 19 tab-separated columns; the mountain is not a populated place.
GEONAMES = [
    ["9100001", "Dorosa", "Dorosa", "Dorossa,Dorrosa", "6.0", "26.0", "P", "PPLA", "CF", "",
     "07", "0701", "", "", "148000", "", "520", "Africa/Bangui", "2026-01-01"],
    ["9100002", "Kembali", "Kembali", "", "6.05", "26.04", "P", "PPL", "CF", "",
     "07", "0701", "", "", "0", "", "510", "Africa/Bangui", "2026-01-01"],
    ["9100003", "Mont Kelo", "Mont Kelo", "", "6.2", "26.2", "T", "MT", "CF", "",
     "07", "", "", "", "0", "900", "900", "Africa/Bangui", "2026-01-01"],
    ["9100004", "Tanzo \"Old\"", "Tanzo Old", "", "6.5", "25.5", "P", "PPL", "CF", "",
     "07", "", "", "", "4200", "", "480", "Africa/Bangui", "2026-01-01"],
]  # fmt: skip


def geonames_dump() -> str:
    return "".join("\t".join(row) + "\n" for row in GEONAMES)


def test_a_point_is_named_by_distance_and_compass_point() -> None:
    north_east = relation("Dorosa", 26.0, 6.0, 26.02, 6.02)
    assert north_east.phrase == "3 km NE of Dorosa"
    assert north_east.distance_km == pytest.approx(3.13, abs=0.02)
    assert relation("Dorosa", 26.0, 6.0, 26.0, 5.9).phrase == "11 km S of Dorosa"
    assert phrase("Dorosa", 0.3, 90.0) == "in Dorosa"
    assert phrase("Dorosa", 1.46, 270.0) == "1.5 km W of Dorosa"


def test_mgrs_references_go_both_ways() -> None:
    reference = to_mgrs(26.0, 6.0)
    assert reference == "35N LG 89325 63305"
    lon, lat = from_mgrs(reference.replace(" ", ""))
    assert (lon, lat) == pytest.approx((26.0, 6.0), abs=1e-5)
    with pytest.raises(ValueError, match="not an MGRS reference"):
        from_mgrs("Dorosa")


async def test_a_geonames_dump_becomes_places(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "CF.txt"
    path.write_text(geonames_dump())
    response = await upload(client, headers, path, collection="places")
    assert response.status_code == 201, response.text
    assert response.json()["format"] == "geonames"
    found = await records(client, headers, "places")
    assert set(found) == {"9100001", "9100002", "9100004"}  # the mountain is no place
    dorosa = found["9100001"]["properties"]
    assert dorosa["name"] == "Dorosa" and dorosa["origin"] == "geonames"
    assert dorosa["place_class"] == "city" and dorosa["population"] == 148000
    assert dorosa["alternate_names"] == "Dorossa,Dorrosa"
    assert dorosa["admin1"] == "07" and dorosa["admin2"] == "0701"
    assert dorosa["classification"] == "public"
    assert found["9100001"]["geometry"]["coordinates"] == [26.0, 6.0]
    # No population: the feature code decides; a population decides over the code.
    assert found["9100002"]["properties"]["place_class"] == "village"
    assert found["9100002"]["properties"]["population"] is None
    assert found["9100004"]["properties"]["name"] == 'Tanzo "Old"'
    assert found["9100004"]["properties"]["place_class"] == "village"
    # Any of a place's names finds it.
    searched = await client.get("/api/places", params={"q": "dorrosa"}, headers=headers("partner"))
    assert [f["properties"]["name"] for f in searched.json()["features"]] == ["Dorosa"]
    # The same dump again updates the places it brought.
    again = await upload(client, headers, path, collection="places")
    assert again.status_code == 201, again.text
    assert len(await records(client, headers, "places")) == 3


async def test_an_osm_geopackage_and_csv_become_places(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    frame = gpd.GeoDataFrame(
        {
            "osm_id": ["1001", "1002", "1003"],
            "name": ["Lobanda", "Kifu", "Zemandi region"],
            "place": ["town", "isolated_dwelling", "state"],
            "other_tags": ['"population"=>"23000","alt_name"=>"Lobandu"', "", ""],
        },
        geometry=[Point(25.2, 5.2), Point(25.21, 5.22), Point(25.0, 5.0)],
        crs="EPSG:4326",
    )
    gpkg = tmp_path / "places.gpkg"
    frame.to_file(gpkg, layer="points", driver="GPKG")
    response = await upload(client, headers, gpkg, collection="places")
    assert response.status_code == 201, response.text
    assert response.json()["format"] == "osm_places"
    found = await records(client, headers, "places")
    assert set(found) == {"1001", "1002"}  # a state is no settlement
    assert found["1001"]["properties"]["place_class"] == "town"
    assert found["1001"]["properties"]["population"] == 23000
    assert found["1001"]["properties"]["origin"] == "osm"
    assert found["1002"]["properties"]["place_class"] == "hamlet"

    csv = tmp_path / "overpass.csv"
    csv.write_text("@id,name,place,population,@lat,@lon\n2001,Fulobe,city,120000,5.6,25.6\n")
    response = await upload(client, headers, csv, collection="places")
    assert response.status_code == 201, response.text
    assert response.json()["format"] == "osm_places_csv"
    fulobe = (await records(client, headers, "places"))["2001"]
    assert fulobe["properties"]["place_class"] == "city"
    assert fulobe["geometry"]["coordinates"] == [25.6, 5.6]


async def test_a_point_is_named_by_a_place_its_reader_may_see(
    client: AsyncClient,
    headers: Headers,
    session: AsyncSession,
    make: Callable[..., Any],
) -> None:
    await make("places", geometry=factories.point(26.0, 6.0), name="Dorosa", place_class="town")
    # A settlement named only in mission reporting, nearer the point.
    await make(
        "places",
        geometry=factories.point(26.035, 6.03),
        name="Camp Zulu",
        place_class="village",
        classification="mission",
    )
    partner = Principal(username="partner", role=Role.partner)
    analyst = Principal(username="analyst", role=Role.analyst)
    assert await describe_point(session, partner, 26.04, 6.03) == "6 km NE of Dorosa"
    assert await describe_point(session, analyst, 26.04, 6.03) == "in Camp Zulu"
    found = await nearest_place(session, partner, 26.04, 6.03)
    assert found is not None and found.relation.compass == "NE"
    # Far from every place: the MGRS reference.
    assert await describe_point(session, partner, 28.9, 9.5) == to_mgrs(28.9, 9.5)

    answer = await client.get(
        "/api/places/near", params={"lon": 26.04, "lat": 6.03}, headers=headers("partner")
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["phrase"] == "6 km NE of Dorosa" and body["place"]["name"] == "Dorosa"
    assert body["mgrs"] == to_mgrs(26.04, 6.03)
    # The partner learns nothing of the hidden place, not even that one is nearer.
    assert "Zulu" not in answer.text
