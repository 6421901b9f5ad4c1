"""The ACLED event export (CSV), into incidents.

ACLED's event types become civop categories, fatalities give the number killed and a severity,
``geo_precision`` the location precision, and ``event_id_cnty`` the external id (origin
``acled``), so a newer export of the same period updates the incidents it already brought.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from geo.formats.base import Preset
from geo.formats.csv import CSV
from geo.formats.values import NUMBER

#: (event_type, sub_event_type) -> category; a sub-event type of "" covers the whole type.
CATEGORIES: dict[tuple[str, str], str] = {
    ("battles", ""): "armed_clash",
    ("violence against civilians", ""): "attack_on_civilians",
    ("violence against civilians", "sexual violence"): "sexual_violence",
    ("violence against civilians", "abduction/forced disappearance"): "abduction",
    ("explosions/remote violence", ""): "explosive_hazard",
    ("riots", ""): "protest_or_riot",
    ("protests", ""): "protest_or_riot",
    ("strategic developments", ""): "other",
    ("strategic developments", "looting/property destruction"): "looting",
    ("strategic developments", "displacement"): "displacement",
}
PRECISION = {"1": "exact", "2": "approximate", "3": "area"}
COLUMNS = {"event_id_cnty", "event_date", "event_type", "latitude", "longitude"}


def _lower(batch: pa.RecordBatch, name: str) -> pa.Array:
    if name not in batch.schema.names:
        return pa.array([""] * batch.num_rows)
    return pc.fill_null(pc.utf8_lower(pc.utf8_trim_whitespace(batch.column(name))), "")


class ACLED(CSV):
    name = "acled"
    title = "ACLED event export (CSV)"
    preset = Preset(
        collection="incidents",
        origin="acled",
        mapping={
            "external_id": "event_id_cnty",
            "occurred_at": "event_date",
            "category": "__category",
            "severity": "__severity",
            "killed": "fatalities",
            "description": "__description",
            "source": "source",
            "location_precision": "__precision",
            "longitude": "longitude",
            "latitude": "latitude",
        },
    )
    derived = ("__category", "__severity", "__description", "__precision")

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> int:
        if CSV.sniff(path, head) == 0:
            return 0
        return 90 if COLUMNS <= CSV.header_names(path) else 0

    def derive(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        kind = _lower(batch, "event_type")
        sub = _lower(batch, "sub_event_type")
        category = pa.array(["other"] * batch.num_rows)
        # Whole-type rules first; sub-type rules then refine them.
        rules = sorted(CATEGORIES.items(), key=lambda rule: rule[0][1] != "")
        for (event, sub_event), value in rules:
            hit = pc.equal(kind, event)
            if sub_event:
                hit = pc.and_(hit, pc.equal(sub, sub_event))
            category = pc.if_else(hit, value, category)
        known = pc.is_in(kind, pa.array(sorted({e for e, _ in CATEGORIES})))
        category = pc.if_else(known, category, kind)
        fatalities = self._fatalities(batch)
        calm = pc.is_in(kind, pa.array(["protests", "strategic developments"]))
        severity = pc.if_else(
            pc.greater_equal(fatalities, 25),
            5,
            pc.if_else(
                pc.greater_equal(fatalities, 5),
                4,
                pc.if_else(pc.greater_equal(fatalities, 1), 3, pc.if_else(calm, 1, 2)),
            ),
        )
        precision = pc.utf8_trim_whitespace(
            pc.fill_null(batch.column("geo_precision"), "")
            if "geo_precision" in batch.schema.names
            else pa.array([""] * batch.num_rows)
        )
        precision_value = pa.array(
            [PRECISION.get(p, "approximate") for p in precision.to_pylist()], pa.string()
        )
        columns = {
            "__category": category,
            "__severity": pc.cast(severity, pa.string()),
            "__description": self._description(batch),
            "__precision": precision_value,
        }
        arrays = [*batch.columns, *columns.values()]
        return pa.RecordBatch.from_arrays(arrays, names=[*batch.schema.names, *columns])

    @staticmethod
    def _fatalities(batch: pa.RecordBatch) -> pa.Array:
        if "fatalities" not in batch.schema.names:
            return pa.array([0] * batch.num_rows, pa.int64())
        text = pc.utf8_trim_whitespace(pc.fill_null(batch.column("fatalities"), ""))
        numeric = pc.fill_null(pc.match_substring_regex(text, NUMBER), False)
        # Non-numbers are reported by the "killed" field; here they count as none.
        clean = pc.if_else(numeric, text, "0")
        return pc.cast(pc.cast(clean, pa.float64()), pa.int64(), safe=False)

    @staticmethod
    def _description(batch: pa.RecordBatch) -> pa.Array:
        def text(name: str) -> pa.Array:
            if name not in batch.schema.names:
                return pa.array([""] * batch.num_rows)
            return pc.fill_null(pc.utf8_trim_whitespace(batch.column(name)), "")

        actors = pc.binary_join_element_wise(text("actor1"), text("actor2"), " vs ")
        actors = pc.replace_substring_regex(actors, r"^ vs |^ vs$| vs $", "")
        place = pc.binary_join_element_wise(text("location"), text("admin2"), text("admin1"), ", ")
        place = pc.replace_substring_regex(place, r"(, )+$|^(, )+", "")
        place = pc.replace_substring_regex(place, r"(, ){2,}", ", ")
        header = pc.binary_join_element_wise(text("event_type"), text("sub_event_type"), " / ")
        parts = pc.binary_join_element_wise(header, actors, place, text("notes"), " | ")
        parts = pc.replace_substring_regex(parts, r"( \| )+$", "")
        parts = pc.replace_substring_regex(parts, r"( \| ){2,}", " | ")
        return pc.utf8_slice_codeunits(parts, 0, 10_000)
