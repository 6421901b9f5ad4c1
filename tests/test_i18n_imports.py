"""A French spreadsheet imported as people write it: semicolons, decimal commas, spaces between
thousands, enumerated values by their French (or Arabic) labels. See docs/languages.md."""

from __future__ import annotations

from pathlib import Path

from httpx import AsyncClient

from tests.test_imports import Headers, records, upload

FRENCH_INCIDENTS = (
    "external_id;category;occurred_at;severity;killed;description;latitude;longitude\n"
    "fr-1;Attaque contre des civils;2026-03-01T08:00:00Z;4;2;Village attaqué;7,21;24,11\n"
    "fr-2;Affrontement armé;2026-03-02T09:30:00Z;3;0;Échanges de tirs;7,305;24,2\n"
    "fr-3;pillage;2026-03-03T10:00:00Z;2;0;Marché pillé;7,4;24,305\n"
    "fr-4;هجوم على المدنيين;2026-03-04T11:00:00Z;5;1;Rapport en arabe;7,5;24,4\n"
    "fr-5;looting;2026-03-05T12:00:00Z;1;0;Le code anglais reste accepté;7,6;24,5\n"
)

FRENCH_SITES = (
    "external_id;name;site_type;status;population_individuals;latitude;longitude\n"
    "cf-1;Kalembe;Camp planifié;Ouvert;12 000;7,25;24,15\n"
    "cf-2;Bossolo;centre collectif;fermé;1 250;7,35;24,25\n"
    "cf-3;Ndoki;Installation spontanée;ouvert;800;7,45;24,35\n"
)


async def test_a_french_csv_of_incidents_is_read_as_written(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "incidents-fr.csv"
    path.write_text(FRENCH_INCIDENTS, encoding="utf-8")
    preview = await upload(client, headers, path, collection="incidents", dry_run="true")
    assert preview.status_code == 200, preview.text
    assert preview.json()["ok"] is True, preview.json()["problems"]
    response = await upload(client, headers, path, collection="incidents")
    assert response.status_code == 201, response.text
    found = await records(client, headers, "incidents")
    assert {k: f["properties"]["category"] for k, f in found.items()} == {
        "fr-1": "attack_on_civilians",
        "fr-2": "armed_clash",
        "fr-3": "looting",
        "fr-4": "attack_on_civilians",
        "fr-5": "looting",
    }
    assert found["fr-2"]["geometry"]["coordinates"] == [24.2, 7.305]
    assert found["fr-1"]["properties"]["description"] == "Village attaqué"


async def test_french_site_types_statuses_and_spaced_thousands(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "sites-fr.csv"
    path.write_text(FRENCH_SITES, encoding="utf-8")
    response = await upload(client, headers, path, collection="idp_sites")
    assert response.status_code == 201, response.text
    found = await records(client, headers, "idp_sites")
    kalembe = found["cf-1"]["properties"]
    assert kalembe["site_type"] == "planned_camp" and kalembe["status"] == "open"
    assert kalembe["population_individuals"] == 12000
    assert found["cf-2"]["properties"]["site_type"] == "collective_centre"
    assert found["cf-2"]["properties"]["status"] == "closed"
    assert found["cf-2"]["properties"]["population_individuals"] == 1250
    assert found["cf-3"]["properties"]["site_type"] == "spontaneous_settlement"


async def test_an_unknown_french_value_is_refused_with_the_codes(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "bad-fr.csv"
    path.write_text(
        FRENCH_INCIDENTS.replace("Affrontement armé", "Bagarre de rue"), encoding="utf-8"
    )
    preview = await upload(client, headers, path, collection="incidents", dry_run="true")
    problems = {(p["row"], p["field"]): p for p in preview.json()["problems"]}
    assert "unknown category 'Bagarre de rue'" in problems[(2, "category")]["message"]


async def test_english_thousands_beside_decimal_dots_are_not_read_as_commas(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    """A column with a dot somewhere is English: ``1,234`` there stays refused, never 1.234."""
    path = tmp_path / "mixed.csv"
    path.write_text(
        "external_id,name,site_type,status,population_individuals,latitude,longitude\n"
        'x-1,A,planned_camp,open,"1,234",7.25,24.15\n'
        "x-2,B,planned_camp,open,12.5,7.35,24.25\n",
        encoding="utf-8",
    )
    preview = await upload(client, headers, path, collection="idp_sites", dry_run="true")
    problems = {(p["row"], p["field"]): p for p in preview.json()["problems"]}
    assert "not a number: '1,234'" in problems[(1, "population_individuals")]["message"]


async def test_the_preview_says_its_problems_in_the_readers_language(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    path = tmp_path / "bad-fr.csv"
    path.write_text(
        FRENCH_INCIDENTS.replace("Affrontement armé", "Bagarre de rue").replace(";3;0;", ";x;0;"),
        encoding="utf-8",
    )
    french = {**headers("officer"), "Accept-Language": "fr"}
    preview = await client.post(
        "/api/imports",
        files={"file": (path.name, path.read_bytes())},
        data={"wait": "true", "collection": "incidents", "dry_run": "true"},
        headers=french,
    )
    problems = {(p["row"], p["field"]): p["message"] for p in preview.json()["problems"]}
    assert problems[(2, "category")].startswith("category inconnu : 'Bagarre de rue' ; utilisez")
    assert problems[(2, "severity")].startswith("pas un nombre : 'x' (un nombre entier attendu")
    # Imported for real, the refusal lists the same problems in French.
    refused = await client.post(
        "/api/imports",
        files={"file": (path.name, path.read_bytes())},
        data={"wait": "true", "collection": "incidents"},
        headers=french,
    )
    assert refused.status_code == 422
    assert any(d["msg"].startswith("category inconnu") for d in refused.json()["detail"]), (
        refused.json()
    )
