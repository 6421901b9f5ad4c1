"""The analyst notebooks run from top to bottom, so they cannot rot.

They run in a Jupyter kernel (nbclient) against a throwaway database of their own in the test
cluster (they load a small demo mission into it, which the other tests must not see), named
to them by ``CIVOP_NOTEBOOK_DATABASE_URL``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import create_database, drop_database

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
async def notebook_database() -> AsyncIterator[str]:
    name = f"civop_test_nb_{secrets.token_hex(4)}"
    url = await create_database(name)
    yield url.replace("postgresql+asyncpg://", "postgresql://", 1)
    await drop_database(name)


@pytest.mark.parametrize("name", ["jmac_hotspots.ipynb", "site_exposure_coverage.ipynb"])
async def test_notebook_runs(
    name: str, notebook_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIVOP_NOTEBOOK_DATABASE_URL", notebook_database)
    monkeypatch.setenv("CIVOP_NOTEBOOK_DEMO_INCIDENTS", "3000")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS.parent)}},
    )
    await client.async_execute()  # raises CellExecutionError, with the cell, if one fails
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    maps = [
        o
        for o in outputs
        if "text/html" in o.get("data", {}) and "leaflet" in o.data["text/html"].lower()
    ]
    assert maps, "the walkthrough shows its results on a map"
