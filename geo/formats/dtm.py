"""An IOM DTM (Displacement Tracking Matrix) site list (CSV or spreadsheet), into idp_sites.

DTM site lists differ by country and round; this plugin recognises their usual column names,
turns their site types and statuses into civop's, and takes the DTM site id (SSID) as the
external id (origin ``dtm``), so the next round updates the same sites.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from geo.formats.base import Format, Preset
from geo.formats.csv import CSV
from geo.formats.schema import TargetSchema
from geo.formats.spreadsheet import Spreadsheet

SITE_TYPES = {
    "camp": "planned_camp",
    "planned camp": "planned_camp",
    "formal camp": "planned_camp",
    "planned site": "planned_camp",
    "collective centre": "collective_centre",
    "collective center": "collective_centre",
    "collective site": "collective_centre",
    "spontaneous site": "spontaneous_settlement",
    "spontaneous settlement": "spontaneous_settlement",
    "informal site": "spontaneous_settlement",
    "informal settlement": "spontaneous_settlement",
    "self-settled camp": "spontaneous_settlement",
    "host community": "host_community",
    "host communities": "host_community",
    "host family": "host_community",
    "host families": "host_community",
}
STATUSES = {"open": "open", "active": "open", "functional": "open", "closed": "closed"}
ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("ssid", "site_id", "site_code", "dtm_site_id", "site_pcode"),
    "name": ("site_name", "site_name_en", "name_of_site"),
    "population_individuals": (
        "total_idp_individuals",
        "idp_individuals",
        "number_of_idp_individuals",
        "total_individuals",
        "idps_ind",
        "individuals",
    ),
    "population_households": (
        "total_idp_households",
        "idp_households",
        "number_of_idp_households",
        "total_households",
        "households",
    ),
    "population_date": ("assessment_date", "survey_date", "reporting_date", "round_date"),
    "description": ("site_management_agency", "management_agency", "camp_manager"),
    "latitude": ("gps_latitude", "site_latitude", "latitude", "lat"),
    "longitude": ("gps_longitude", "site_longitude", "longitude", "lon"),
}
_TYPE_COLUMNS = ("site_type", "type_of_site", "site_category", "type")
_STATUS_COLUMNS = ("site_status", "status")


def _column(batch: pa.RecordBatch, candidates: Sequence[str]) -> pa.Array | None:
    from geo.formats.mapping import normalise

    names = {normalise(n): n for n in batch.schema.names}
    for candidate in candidates:
        if candidate in names:
            return batch.column(names[candidate])
    return None


def _translate(values: pa.Array | None, table: Mapping[str, str], rows: int) -> pa.Array:
    if values is None:
        return pa.nulls(rows, pa.string())
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    out = [None if v is None or v == "" else table.get(v, v) for v in lowered.to_pylist()]
    return pa.array(out, pa.string())


class DTMSites(Format):
    """What DTM site lists share, whatever file they come in."""

    preset = Preset(
        collection="idp_sites",
        origin="dtm",
        mapping={"site_type": "__site_type", "status": "__status"},
    )
    derived = ("__site_type", "__status")

    @staticmethod
    def looks_like_dtm(names: set[str]) -> bool:
        has_id = bool(names & {"ssid", "site_id", "dtm_site_id", "site_code"})
        has_site = bool(names & {"site_name", "site_type", "type_of_site"})
        has_people = any("idp" in n or "individual" in n for n in names)
        return has_id and has_site and has_people

    def field_aliases(self, schema: TargetSchema) -> Mapping[str, Sequence[str]]:
        return ALIASES

    def derive(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        rows = batch.num_rows
        site_type = _translate(_column(batch, _TYPE_COLUMNS), SITE_TYPES, rows)
        status = _translate(_column(batch, _STATUS_COLUMNS), STATUSES, rows)
        arrays = [*batch.columns, site_type, status]
        return pa.RecordBatch.from_arrays(arrays, names=[*batch.schema.names, *self.derived])


class DTM(DTMSites, CSV):
    name = "dtm"
    title = "IOM DTM site list (CSV)"

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        if CSV.sniff(path, head) == 0:
            return 0
        return 85 if cls.looks_like_dtm(CSV.header_names(path)) else 0


class DTMSpreadsheet(DTMSites, Spreadsheet):
    name = "dtm_xlsx"
    title = "IOM DTM site list (Excel or OpenDocument spreadsheet)"

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        if Spreadsheet.sniff(path, head) == 0:
            return 0
        return 95 if cls.looks_like_dtm(Spreadsheet.header_names(path)) else 0
