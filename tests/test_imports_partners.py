"""Files as partners send them: an IOM DTM workbook, a Google Earth KMZ with folders, CSV in
UTF-16 or Windows-1252, files that lack a required field (constants and value maps), and the
preview of a file imported already."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
from httpx import AsyncClient

from tests import geofiles
from tests.test_imports import records, upload

Headers = Callable[[str], dict[str, str]]

#: An IOM DTM site list as published on HDX: a cover sheet, then the list with an HXL row.
DTM_HXL = [
    "#loc+id",
    "#loc+name",
    "#loc+type",
    "#status",
    "#geo+lat",
    "#geo+lon",
    "#affected+idps+ind",
    "#affected+idps+hh",
    "#date+reported",
]


def dtm_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    cover = book.active
    assert cover is not None
    cover.title = "Read me"
    cover.append(["Displacement Tracking Matrix - site assessment, round 12"])
    sites = book.create_sheet("Site list")
    header = [*geofiles.DTM_HEADER[:-1], "Last update"]
    sites.append(header)
    sites.append(DTM_HXL)
    for row in geofiles.DTM_ROWS:
        cells = list(row)
        cells[-1] = dt.datetime.fromisoformat(str(cells[-1]))  # a date cell, not text
        sites.append(cells)
    book.save(path)
    return path


async def test_an_xlsx_dtm_site_list_is_imported_from_the_sheet_that_holds_it(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = dtm_workbook(tmp_path / "DTM_R12_sites.xlsx")
    # The cover sheet holds no records: the site list is the sheet to read.
    chosen = await upload(client, headers, path, collection="idp_sites", dry_run="true")
    assert chosen.status_code == 200 and chosen.json()["layer"] == "Site list", chosen.text
    two = openpyxl.load_workbook(path)
    copy = two.copy_worksheet(two["Site list"])
    copy.title = "Round 11"
    two.save(tmp_path / "two-rounds.xlsx")
    refused = await upload(client, headers, tmp_path / "two-rounds.xlsx", collection="idp_sites")
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"][0]
    assert detail["loc"] == ["body", "layer"]
    assert "'Site list'" in detail["msg"] and "'Round 11'" in detail["msg"]
    assert "'Read me'" in detail["msg"]

    preview = await upload(
        client, headers, path, collection="idp_sites", layer="Site list", dry_run="true"
    )
    assert preview.status_code == 200, preview.text
    report = preview.json()
    assert report["ok"] and report["format"] == "dtm_xlsx" and report["layer"] == "Site list"
    assert [layer["name"] for layer in report["layers"]] == ["Read me", "Site list"]
    assert report["mapping"]["fields"]["population_date"] == "Last update"
    assert report["mapping"]["matched_by"]["population_date"] == "hxl"

    response = await upload(client, headers, path, collection="idp_sites", layer="Site list")
    assert response.status_code == 201, response.text
    assert response.json()["created"] == 3
    found = await records(client, headers, "idp_sites")
    kalembe = found["CF-0101"]
    props = kalembe["properties"]
    assert props["origin"] == "dtm" and props["name"] == "Kalembe"
    assert props["site_type"] == "planned_camp" and props["status"] == "open"
    assert props["population_individuals"] == 12000 and props["population_households"] == 2400
    assert props["population_date"] == "2026-07-30"
    assert kalembe["geometry"]["coordinates"] == [24.8, 7.4]
    assert found["CF-0103"]["properties"]["site_type"] == "spontaneous_settlement"


def ods_workbook(path: Path, rows: list[list[Any]], sheet: str = "Sites") -> Path:
    """A minimal OpenDocument spreadsheet, as LibreOffice writes its parts."""

    def cell(value: Any) -> str:
        if isinstance(value, (int, float)):
            return (
                f'<table:table-cell office:value-type="float" office:value="{value}">'
                f"<text:p>{value}</text:p></table:table-cell>"
            )
        return f'<table:table-cell office:value-type="string"><text:p>{value}</text:p></table:table-cell>'

    body = "".join(
        "<table:table-row>" + "".join(cell(v) for v in row) + "</table:table-row>" for row in rows
    )
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
        'office:version="1.2"><office:body><office:spreadsheet>'
        f'<table:table table:name="{sheet}">{body}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    media = "application/vnd.oasis.opendocument.spreadsheet"
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        f'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
        f'manifest:media-type="{media}"/><manifest:file-entry manifest:full-path="content.xml" '
        'manifest:media-type="text/xml"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr(zipfile.ZipInfo("mimetype"), media)
        bundle.writestr("META-INF/manifest.xml", manifest)
        bundle.writestr("content.xml", content)
    return path


async def test_an_ods_sheet_is_read_also_when_its_name_says_nothing(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    rows: list[list[Any]] = [
        ["Nom", "Lat", "Lon", "Personnes"],
        ["Kaga Bandoro", 7.0, 19.2, 5400],
        ["Ndélé", 8.41, 20.65, 1250],
    ]
    path = ods_workbook(tmp_path / "sites-from-partner", rows)
    mapping = {
        "name": "Nom",
        "population_individuals": "Personnes",
        "site_type": {"value": "host_community"},
    }
    response = await upload(client, headers, path, collection="idp_sites", mapping=mapping)
    assert response.status_code == 201, response.text
    assert response.json()["format"] == "xlsx" and response.json()["layer"] == "Sites"
    sites = {
        f["properties"]["name"]: f for f in (await records(client, headers, "idp_sites")).values()
    }
    assert sites["Ndélé"]["properties"]["population_individuals"] == 1250
    assert sites["Ndélé"]["geometry"]["coordinates"] == [20.65, 8.41]
    assert sites["Kaga Bandoro"]["properties"]["site_type"] == "host_community"


async def test_hxl_date_reported_dates_the_population_of_sites(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "sites-hxl.csv"
    path.write_text(
        geofiles.csv_text(
            [
                ["Nom", "Type", "Lat", "Lon", "Personnes", "Mise a jour"],
                [
                    "#loc+name",
                    "#loc+type",
                    "#geo+lat",
                    "#geo+lon",
                    "#affected+idps+ind",
                    "#date+reported",
                ],
                ["Kaga Bandoro", "planned_camp", 7.0, 19.2, 5400, "2026-06-30"],
            ]
        )
    )
    response = await upload(client, headers, path, collection="idp_sites")
    assert response.status_code == 201, response.text
    (site,) = (await records(client, headers, "idp_sites")).values()
    assert site["properties"]["population_date"] == "2026-06-30"
    assert site["properties"]["population_individuals"] == 5400


KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>Sites CCCM Ouaka</name>
<Folder><name>Camps planifiés</name>
<Placemark><name>Élevage</name><ExtendedData><Data name="individus"><value>1200</value></Data>
</ExtendedData><Point><coordinates>20.66,5.76</coordinates></Point></Placemark>
<Placemark><name>Bambari PK8</name><Point><coordinates>20.70,5.78</coordinates></Point></Placemark>
</Folder>
<Folder><name>Sites spontanés</name>
<Placemark><name>Bord de rivière</name><Point><coordinates>20.62,5.71</coordinates></Point>
</Placemark>
</Folder>
</Document></kml>
"""


def kmz(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("doc.kml", KML)
    return path


FOLDER_TYPES = {"Camps planifiés": "planned_camp", "Sites spontanés": "spontaneous_settlement"}


async def test_a_kmz_with_folders_is_imported_at_once_the_folder_mapped_to_the_site_type(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = kmz(tmp_path / "sites-ouaka.kmz")
    # Without a site type the file cannot go into idp_sites, and the refusal says how.
    refused = await upload(client, headers, path, collection="idp_sites")
    assert refused.status_code == 422
    assert "site_type" in refused.text and "mapping" in refused.text
    mapping = {
        "site_type": {"column": "folder", "values": FOLDER_TYPES},
        "population_individuals": "individus",
    }
    preview = await upload(
        client, headers, path, collection="idp_sites", mapping=mapping, dry_run="true"
    )
    assert preview.status_code == 200, preview.text
    report = preview.json()
    assert report["layer"] == "*" and report["count"] == 3
    assert {layer["name"] for layer in report["layers"]} == {"*", *FOLDER_TYPES}
    assert report["mapping"]["value_maps"]["site_type"]["column"] == "folder"
    assert report["would"]["create"] == 3

    response = await upload(client, headers, path, collection="idp_sites", mapping=mapping)
    assert response.status_code == 201, response.text
    sites = {
        f["properties"]["name"]: f["properties"]
        for f in (await records(client, headers, "idp_sites")).values()
    }
    assert sites["Élevage"]["site_type"] == "planned_camp"
    assert sites["Élevage"]["population_individuals"] == 1200
    assert sites["Bambari PK8"]["site_type"] == "planned_camp"
    assert sites["Bord de rivière"]["site_type"] == "spontaneous_settlement"


async def test_one_folder_of_a_kmz_with_a_constant_site_type(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = kmz(tmp_path / "sites.kmz")
    mapping = {"site_type": {"value": "spontaneous_settlement"}}
    response = await upload(
        client, headers, path, collection="idp_sites", layer="Sites spontanés", mapping=mapping
    )
    assert response.status_code == 201, response.text
    assert response.json()["layer"] == "Sites spontanés"
    (site,) = (await records(client, headers, "idp_sites")).values()
    assert site["properties"]["name"] == "Bord de rivière"
    assert site["properties"]["site_type"] == "spontaneous_settlement"


FRENCH_INCIDENTS = [
    ["Ref", "Type", "Date", "Lat", "Lon", "Gravite", "Resume"],
    ["ouaka-1", "Attaque", "2026-05-02", 5.76, 20.66, 4, "Attaque contre des civils à Élevage"],
    ["ouaka-2", "Affrontement", "2026-05-03", 5.70, 20.60, 3, "Affrontements près du pont"],
    ["ouaka-3", "armed_clash", "2026-05-04", 5.71, 20.62, 2, "Échanges de tirs"],
]


async def test_value_maps_translate_a_column_and_constants_fill_a_field(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "rapports.csv"
    path.write_text(geofiles.csv_text(FRENCH_INCIDENTS), encoding="utf-8")
    mapping: dict[str, Any] = {
        "external_id": "Ref",
        "category": {
            "column": "Type",
            "values": {"Attaque": "attack_on_civilians", "Affrontement": "armed_clash"},
        },
        "severity": "Gravite",
        "description": "Resume",
        "source": {"value": "Cluster Protection Ouaka"},
    }
    response = await upload(client, headers, path, collection="incidents", mapping=mapping)
    assert response.status_code == 201, response.text
    found = await records(client, headers, "incidents")
    assert found["ouaka-1"]["properties"]["category"] == "attack_on_civilians"
    assert found["ouaka-2"]["properties"]["category"] == "armed_clash"
    assert found["ouaka-3"]["properties"]["category"] == "armed_clash"  # not listed: kept
    assert {f["properties"]["source"] for f in found.values()} == {"Cluster Protection Ouaka"}
    assert found["ouaka-1"]["properties"]["description"].endswith("à Élevage")


async def test_a_value_the_map_does_not_translate_is_reported_on_its_row_and_column(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    rows = [*FRENCH_INCIDENTS, ["ouaka-4", "Razzia", "2026-05-05", 5.7, 20.6, 1, "Boutiques"]]
    path = tmp_path / "rapports.csv"
    path.write_text(geofiles.csv_text(rows))
    mapping = {
        "external_id": "Ref",
        "severity": "Gravite",
        "category": {"column": "Type", "values": {"Attaque": "attack_on_civilians"}},
    }
    report = (
        await upload(client, headers, path, collection="incidents", mapping=mapping, dry_run="true")
    ).json()
    assert report["ok"] is False
    problems = {(p["row"], p["field"]): p["message"] for p in report["problems"]}
    assert "unknown category 'Affrontement'" in problems[(2, "Type")]
    assert "unknown category 'Razzia'" in problems[(4, "Type")]


async def test_constants_and_value_maps_are_checked_before_any_row_is_read(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "rapports.csv"
    path.write_text(geofiles.csv_text(FRENCH_INCIDENTS))
    base = {"external_id": "Ref", "severity": "Gravite"}
    cases: list[tuple[dict[str, Any], list[str]]] = [
        (
            {"category": {"value": "atack_on_civilians"}},
            ["mapping for 'category'", "'atack_on_civilians'", "use one of"],
        ),
        (
            {"category": {"column": "Type", "values": {"Attaque": "attack"}}},
            ["'attack' (given for 'Attaque')", "unknown category 'attack'"],
        ),
        (
            {"category": {"column": "Genre", "values": {"Attaque": "attack_on_civilians"}}},
            ["'Genre', which is not a field of the file", "Ref, Type, Date"],
        ),
        ({"category": {"colonne": "Type"}}, ["unknown key(s) 'colonne'", '{"value"']),
        ({"category": {"column": "Type", "values": ["Attaque"]}}, ["values must map"]),
        ({"severity": {"value": "grave"}}, ["mapping for 'severity'", "not a number"]),
        ({"latitude": {"value": 5.7}}, ["latitude can only be read from a field"]),
    ]
    for extra, words in cases:
        mapping = {**base, **extra}
        response = await upload(client, headers, path, collection="incidents", mapping=mapping)
        assert response.status_code == 422, (extra, response.text)
        (detail,) = response.json()["detail"]
        assert detail["loc"] == ["body", "mapping"]
        assert all(word in detail["msg"] for word in words), (extra, detail["msg"])
    assert await records(client, headers, "incidents") == {}


async def test_a_utf16_csv_with_a_byte_order_mark_is_read_and_the_preview_says_so(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    rows = [
        dict(r, description=f"{r['description']} — déplacés à Ndélé") for r in geofiles.INCIDENTS
    ]
    path = tmp_path / "export-excel.csv"
    path.write_bytes(geofiles.incidents_csv(rows).encode("utf-16"))
    preview = await upload(client, headers, path, collection="incidents", dry_run="true")
    assert preview.status_code == 200, preview.text
    report = preview.json()
    assert (report["encoding"], report["encoding_from"]) == ("utf-16", "byte order mark")
    assert report["ok"] and report["would"]["create"] == 3
    response = await upload(client, headers, path, collection="incidents")
    assert response.status_code == 201, response.text
    found = await records(client, headers, "incidents")
    assert found["inc-1"]["properties"]["description"].endswith("— déplacés à Ndélé")


async def test_a_windows_1252_csv_is_guessed_and_the_preview_says_what_was_assumed(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    rows = [
        dict(r, description=f"Déplacés vers l'église de Ndélé, évacués {i}")
        for i, r in enumerate(geofiles.INCIDENTS)
    ]
    path = tmp_path / "rapport.csv"
    path.write_bytes(geofiles.incidents_csv(rows).encode("cp1252"))
    report = (await upload(client, headers, path, collection="incidents", dry_run="true")).json()
    assert report["encoding_from"] == "guessed", report
    assert report["encoding"] == "cp1252"
    assert report["sample"][0]["properties"]["description"].startswith("Déplacés vers l'église")
    utf8 = tmp_path / "rapport-utf8.csv"
    utf8.write_text(geofiles.incidents_csv(rows), encoding="utf-8")
    report = (await upload(client, headers, utf8, collection="incidents", dry_run="true")).json()
    assert (report["encoding"], report["encoding_from"]) == ("utf-8", "valid UTF-8")


async def test_the_preview_of_a_file_imported_already_counts_its_rows_unchanged(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "incidents.csv"
    path.write_text(geofiles.incidents_csv())
    first = await upload(client, headers, path, collection="incidents")
    assert first.status_code == 201 and first.json()["created"] == 3, first.text
    again = (await upload(client, headers, path, collection="incidents", dry_run="true")).json()
    assert again["would"] == {"create": 0, "update": 0, "unchanged": 3, "skip": 0}, again
    rows = [dict(r) for r in geofiles.INCIDENTS]
    rows[1]["severity"] = 5
    path.write_text(geofiles.incidents_csv(rows))
    changed = (await upload(client, headers, path, collection="incidents", dry_run="true")).json()
    assert changed["would"] == {"create": 0, "update": 1, "unchanged": 2, "skip": 0}, changed
    done = (await upload(client, headers, path, collection="incidents")).json()
    assert (done["created"], done["updated"], done["unchanged"]) == (0, 1, 2), done
