"""Which field of the file fills which field of the collection.

Automatic by name (and common synonyms), by HXL hashtag and by what a format knows (ACLED's
columns, a shapefile's 10-character names); an explicit mapping from the caller wins over all
of that. The location comes from the layer's geometry, or from longitude/latitude columns, or
from a WKT column.

An explicit mapping may also give a field one value for every record (a constant,
``{"site_type": {"value": "planned_camp"}}``) or translate a column's values (a value map,
``{"category": {"column": "Type", "values": {"Attaque": "attack_on_civilians"}}}``): both are
checked against the field's type and choices before any record is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from geo.formats import tags
from geo.formats.base import FileRefused, SourceField
from geo.formats.problems import ProblemLog
from geo.formats.schema import (
    IDENTITY,
    LATITUDE,
    LOCATION_FIELDS,
    LONGITUDE,
    WKT,
    TargetField,
    TargetSchema,
)

#: Names files commonly use for civop's fields (compared after normalisation).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "external_id": ("ext_id", "event_id_cnty", "ssid", "site_id", "uid", "guid", "pcode"),
    "name": ("site_name", "label", "nom"),
    "title": ("name", "project", "project_name"),
    "description": ("notes", "note", "comments", "comment", "remarks", "desc"),
    "occurred_at": ("occurred", "event_date", "date", "datetime", "date_time", "when", "time"),
    "reported_at": ("reported", "report_date"),
    "category": ("event_type", "type"),
    "site_type": ("type", "sitetype"),
    "population_individuals": ("individuals", "idp_individuals", "idps", "population", "ind"),
    "population_households": ("households", "idp_households", "hh"),
    "population_date": ("assessment_date", "survey_date", "reporting_date", "date"),
    "killed": ("fatalities", "deaths", "dead"),
    "severity": ("sev", "level"),
    "unit": ("unit_name",),
}
LOCATION_SYNONYMS: dict[str, tuple[str, ...]] = {
    LONGITUDE: ("longitude", "lon", "long", "lng", "x", "gps_longitude", "geo_lon"),
    LATITUDE: ("latitude", "lat", "y", "gps_latitude", "geo_lat"),
    WKT: ("wkt", "geometry", "geom", "the_geom", "wkt_geom", "shape"),
}
#: Fields that mark a file as exported from civop: its ``id`` then names civop records.
EXPORT_MARKERS = ("generalised", "created_by", "updated_at")


def normalise(name: str) -> str:
    """``"Event Date"`` -> ``"event_date"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


#: Prefixes of the columns a constant or a value map adds to each batch (never a file's own).
CONSTANT = "__constant__"
MAPPED = "__mapped__"


@dataclass(frozen=True)
class ValueMap:
    """A column whose values are translated (values not listed are kept as they are)."""

    column: str
    values: dict[str, str]


@dataclass(frozen=True)
class FieldMapping:
    """The outcome: target field -> file field, and where the location comes from.

    A target filled by a constant or a value map reads a column ``apply`` adds to each batch
    (``CONSTANT``/``MAPPED`` + the target's name); ``label`` names it for problems."""

    fields: dict[str, str]
    #: ``"layer"`` (the file's geometry), ``"lonlat"`` or ``"wkt"``.
    location: str
    #: How each target was matched: ``mapping``, ``format``, ``name``, ``hxl`` ...
    how: dict[str, str] = field(default_factory=dict)
    #: File fields that are not imported.
    unused: tuple[str, ...] = ()
    #: Targets given one value for every record (as text).
    constants: dict[str, str] = field(default_factory=dict)
    #: Targets filled from a column through a table of values.
    value_maps: dict[str, ValueMap] = field(default_factory=dict)

    def source(self, target: str) -> str | None:
        return self.fields.get(target)

    def label(self, column: str | None) -> str | None:
        """How problems name the field a batch column comes from."""
        if column is None:
            return None
        if column.startswith(CONSTANT):
            return f"mapping {column.removeprefix(CONSTANT)}"
        if column.startswith(MAPPED):
            return self.value_maps[column.removeprefix(MAPPED)].column
        return column

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch with the columns of the constants and value maps added."""
        if not self.constants and not self.value_maps:
            return batch
        arrays, names = list(batch.columns), list(batch.schema.names)
        for target, value in self.constants.items():
            arrays.append(pa.array([value] * batch.num_rows, pa.string()))
            names.append(CONSTANT + target)
        for target, value_map in self.value_maps.items():
            arrays.append(translated(batch.column(names.index(value_map.column)), value_map))
            names.append(MAPPED + target)
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fields": {target: self.label(source) for target, source in self.fields.items()},
            "location": self.location,
            "matched_by": dict(self.how),
            "not_imported": list(self.unused),
            "constants": dict(self.constants),
            "value_maps": {
                target: {"column": m.column, "values": dict(m.values)}
                for target, m in self.value_maps.items()
            },
        }


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def translated(values: pa.Array, value_map: ValueMap) -> pa.Array:
    """The column's values through the map, compared without case and extra blanks.

    Examples
    --------
    >>> m = ValueMap("Type", {"Attaque": "attack_on_civilians"})
    >>> translated(pa.array(["attaque ", "armed_clash", None]), m).to_pylist()
    ['attack_on_civilians', 'armed_clash', None]
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    keys = pa.array([_key(k) for k in value_map.values], pa.string())
    replacements = pa.array(list(value_map.values.values()), pa.string())
    normalised = pc.utf8_lower(
        pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))
    )
    found = pc.index_in(normalised, value_set=keys)
    return pc.if_else(pc.is_valid(found), pc.take(replacements, found), text)


def _refuse_spec(target: str, detail: str) -> FileRefused:
    return FileRefused(
        f'mapping for {target!r}: {detail}; give a field of the file ("Type"), one value for '
        'every record ({"value": "planned_camp"}) or a column with a table of values '
        '({"column": "Type", "values": {"Attaque": "attack_on_civilians"}})',
        field="mapping",
    )


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_value(target: TargetField, value: str, what: str, schema: TargetSchema) -> None:
    """Refuse a value of the mapping that the field cannot take, saying why."""
    from geo.formats.values import convert

    log = ProblemLog()
    convert(pa.array([value], pa.string()), target, target.name, 1, log)
    if log.items:
        raise FileRefused(
            f"mapping for {target.name!r}: {what} cannot be used for {target.name} of "
            f"{schema.collection}: {log.items[0].message}",
            field="mapping",
        )


def _parse_specs(
    schema: TargetSchema, explicit: Mapping[str, Any], fields: Sequence[SourceField]
) -> tuple[dict[str, str | None], dict[str, str], dict[str, ValueMap]]:
    """The explicit mapping split into field names, constants and value maps, each checked."""
    plain: dict[str, str | None] = {}
    constants: dict[str, str] = {}
    value_maps: dict[str, ValueMap] = {}
    names = ", ".join(f.name for f in fields)
    for target, spec in explicit.items():
        if spec is None or isinstance(spec, str):
            plain[target] = spec
            continue
        if not isinstance(spec, Mapping):
            raise _refuse_spec(target, f"{spec!r} is neither a field name nor an object")
        if (target == IDENTITY or target in LOCATION_FIELDS) and set(spec) != {"column"}:
            raise _refuse_spec(target, f"{target} can only be read from a field of the file")
        keys = set(spec)
        if keys == {"value"}:
            value = spec["value"]
            if value is None or isinstance(value, (dict, list)):
                raise _refuse_spec(target, "a value must be text, a number or true/false")
            constants[target] = _text_of(value)
            _check_value(
                schema.field(target), constants[target], f"the value {constants[target]!r}", schema
            )
            continue
        if "column" in keys and keys <= {"column", "values"}:
            column = spec["column"]
            if not isinstance(column, str) or not column:
                raise _refuse_spec(target, "column must name a field of the file")
            source = _resolve_source(column, fields)
            if source is None:
                raise FileRefused(
                    f"mapping for {target!r} names {column!r}, which is not a field of the file; "
                    f"its fields are: {names}",
                    field="mapping",
                )
            table = spec.get("values")
            if table is None:
                plain[target] = column
                continue
            if not isinstance(table, Mapping) or not all(
                isinstance(k, str) and isinstance(v, (str, int, float, bool)) and v is not None
                for k, v in table.items()
            ):
                raise _refuse_spec(
                    target,
                    "values must map the file's values to civop's, e.g. {\"Attaque\": "
                    '"attack_on_civilians"}',
                )
            translated_values = {str(k): _text_of(v) for k, v in table.items()}
            for original, value in translated_values.items():
                _check_value(
                    schema.field(target), value, f"{value!r} (given for {original!r})", schema
                )
            value_maps[target] = ValueMap(source, translated_values)
            continue
        unknown = ", ".join(sorted(repr(k) for k in keys - {"value", "column", "values"}))
        detail = f"unknown key(s) {unknown}" if unknown else "give either value or column"
        raise _refuse_spec(target, detail)
    return plain, constants, value_maps


def _resolve_source(value: str, fields: Sequence[SourceField]) -> str | None:
    by_name = {f.name: f.name for f in fields}
    if value in by_name:
        return value
    lowered = {f.name.lower(): f.name for f in fields}
    if value.lower() in lowered:
        return lowered[value.lower()]
    if tags.parse(value) is not None:
        scored = [(tags.matches(f.hxl or "", value), f.name) for f in fields if f.hxl]
        scored = [s for s in scored if s[0] > 0]
        if scored:
            return max(scored)[1]
    return None


def build(
    schema: TargetSchema,
    fields: Sequence[SourceField],
    *,
    layer_geometry: bool,
    explicit: Mapping[str, Any] | None = None,
    preset: Mapping[str, str] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> FieldMapping:
    """Map the file's fields onto the collection's.

    Parameters
    ----------
    schema : TargetSchema
        The collection.
    fields : sequence of SourceField
        The layer's fields (names, and HXL tags when the file has a hashtag row).
    layer_geometry : bool
        True when the layer has its own geometry.
    explicit : mapping, optional
        ``{target: file field or HXL tag}`` from the caller; ``None`` (or ``""``) leaves a
        target unfilled. Also ``longitude``, ``latitude`` or ``wkt`` for the location, and
        ``id`` for the civop record id. A target may instead be given ``{"value": v}`` (one
        value for every record) or ``{"column": c, "values": {...}}`` (a value map).
    preset : mapping, optional
        The format's own mapping (ACLED, DTM).
    aliases : mapping, optional
        More names per target from the format (a shapefile's truncated names).

    Returns
    -------
    FieldMapping

    Raises
    ------
    FileRefused
        An explicit mapping names a target the collection lacks or a field the file lacks; a
        required field or the location cannot be found.

    Examples
    --------
    >>> from geo.formats.schema import TargetField, TargetSchema
    >>> schema = TargetSchema("idp_sites", (TargetField("name", "text", required=True),), ("Point",))
    >>> m = build(schema, [SourceField("Site Name"), SourceField("lat"), SourceField("lon")],
    ...           layer_geometry=False)
    >>> m.fields == {'name': 'Site Name', 'latitude': 'lat', 'longitude': 'lon'}, m.location
    (True, 'lonlat')
    """
    given = dict(explicit or {})
    targets = (*schema.names, IDENTITY, *LOCATION_FIELDS)
    for target in given:
        if target not in targets:
            known = ", ".join(targets)
            raise FileRefused(
                f"mapping names {target!r}, which {schema.collection} do not have; "
                f"map to one of: {known}",
                field="mapping",
            )
    explicit, constants, value_maps = _parse_specs(schema, given, fields)
    for target, value in explicit.items():
        if value and _resolve_source(value, fields) is None:
            names = ", ".join(f.name for f in fields)
            raise FileRefused(
                f"mapping for {target!r} names {value!r}, which is not a field of the file; "
                f"its fields are: {names}",
                field="mapping",
            )
    chosen: dict[str, str] = {}
    how: dict[str, str] = {}
    used: set[str] = set()

    def take(target: str, source: str | None, reason: str) -> None:
        if source is not None and source not in used and target not in chosen:
            chosen[target] = source
            how[target] = reason
            used.add(source)

    for target in constants:
        chosen[target] = CONSTANT + target
        how[target] = "constant"
    for target, value_map in value_maps.items():
        chosen[target] = MAPPED + target
        how[target] = "value map"
        used.add(value_map.column)
    skipped = {t for t, v in explicit.items() if not v}
    for target, value in explicit.items():
        if value:
            take(target, _resolve_source(value, fields), "mapping")
    for target, value in (preset or {}).items():
        if target not in skipped:
            take(target, _resolve_source(value, fields), "format")

    by_norm: dict[str, str] = {}
    for f in fields:
        by_norm.setdefault(normalise(f.name), f.name)
    exported = any(marker in by_norm for marker in EXPORT_MARKERS)

    wanted = [t for t in (*schema.names, *LOCATION_FIELDS) if t not in skipped]
    if IDENTITY not in skipped and (exported or IDENTITY in explicit):
        take(IDENTITY, by_norm.get("id"), "name")
    for target in wanted:
        take(target, by_norm.get(target), "name")
    for target in wanted:
        for tag in tags.tags_for(schema.collection, target):
            scored = [(tags.matches(f.hxl or "", tag), f.name) for f in fields if f.hxl]
            scored = [s for s in scored if s[0] > 0 and s[1] not in used]
            if scored:
                take(target, max(scored)[1], "hxl")
                break
    for target in wanted:
        for alias in (aliases or {}).get(target, ()):
            take(target, by_norm.get(normalise(alias)), "format")
    for target in wanted:
        synonyms = LOCATION_SYNONYMS.get(target, ()) + SYNONYMS.get(target, ())
        for synonym in synonyms:
            take(target, by_norm.get(synonym), "synonym")
    if "external_id" not in chosen and "external_id" not in skipped and not exported:
        take("external_id", by_norm.get("id"), "synonym")

    location = _location(chosen, layer_geometry, explicit)
    if location == "layer":
        for name in LOCATION_FIELDS:
            if name not in explicit:
                used.discard(chosen.pop(name, ""))
                how.pop(name, None)
    elif location == "lonlat":
        used.discard(chosen.pop(WKT, ""))
        how.pop(WKT, None)
    else:
        for name in (LONGITUDE, LATITUDE):
            used.discard(chosen.pop(name, ""))
            how.pop(name, None)

    missing = [
        f.name for f in schema.fields if f.required and f.default is None and f.name not in chosen
    ]
    if missing:
        names = ", ".join(missing)
        raise FileRefused(
            f"{schema.collection} need {names}, and no field of the file was recognised for "
            f"{'it' if len(missing) == 1 else 'them'}; map it, e.g. "
            f'mapping={{"{missing[0]}": "<field in the file>"}}',
            field="mapping",
        )
    unused = tuple(
        f.name for f in fields if f.name not in used and normalise(f.name) not in schema.ignored
    )
    return FieldMapping(chosen, location, how, unused, constants, value_maps)


def _location(chosen: dict[str, str], layer_geometry: bool, explicit: Mapping[str, Any]) -> str:
    wants_columns = any(explicit.get(name) for name in LOCATION_FIELDS)
    if layer_geometry and not wants_columns:
        return "layer"
    # WKT holds any shape (civop's CSV exports carry both): it wins unless lon/lat are asked for.
    if WKT in chosen and not (explicit.get(LONGITUDE) or explicit.get(LATITUDE)):
        return "wkt"
    if LONGITUDE in chosen and LATITUDE in chosen:
        return "lonlat"
    if LONGITUDE in chosen or LATITUDE in chosen:
        half = "longitude" if LATITUDE in chosen else "latitude"
        raise FileRefused(
            f"the file has a {'latitude' if half == 'longitude' else 'longitude'} column but "
            f"no {half} column was recognised; map it, e.g. "
            f'mapping={{"{half}": "<field in the file>"}}',
            field="mapping",
        )
    raise FileRefused(
        "the file has no geometry and no longitude/latitude or WKT column was recognised; "
        'map them, e.g. mapping={"longitude": "x", "latitude": "y"} or {"wkt": "shape"}',
        field="mapping",
    )
