"""Which field of the file fills which field of the collection.

Automatic by name (and common synonyms), by HXL hashtag and by what a format knows (ACLED's
columns, a shapefile's 10-character names); an explicit mapping from the caller wins over all
of that. The location comes from the layer's geometry, or from longitude/latitude columns, or
from a WKT column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from geo.formats import tags
from geo.formats.base import FileRefused, SourceField
from geo.formats.schema import IDENTITY, LATITUDE, LOCATION_FIELDS, LONGITUDE, WKT, TargetSchema

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
    "population_date": ("assessment_date", "survey_date", "date"),
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


@dataclass(frozen=True)
class FieldMapping:
    """The outcome: target field -> file field, and where the location comes from."""

    fields: dict[str, str]
    #: ``"layer"`` (the file's geometry), ``"lonlat"`` or ``"wkt"``.
    location: str
    #: How each target was matched: ``mapping``, ``format``, ``name``, ``hxl`` ...
    how: dict[str, str] = field(default_factory=dict)
    #: File fields that are not imported.
    unused: tuple[str, ...] = ()

    def source(self, target: str) -> str | None:
        return self.fields.get(target)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fields": dict(self.fields),
            "location": self.location,
            "matched_by": dict(self.how),
            "not_imported": list(self.unused),
        }


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
    explicit: Mapping[str, str | None] | None = None,
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
        ``id`` for the civop record id.
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
    explicit = dict(explicit or {})
    targets = (*schema.names, IDENTITY, *LOCATION_FIELDS)
    for target, value in explicit.items():
        if target not in targets:
            known = ", ".join(targets)
            raise FileRefused(
                f"mapping names {target!r}, which {schema.collection} do not have; "
                f"map to one of: {known}",
                field="mapping",
            )
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
        tag = tags.tag_for(schema.collection, target)
        scored = [(tags.matches(f.hxl or "", tag), f.name) for f in fields if f.hxl]
        scored = [s for s in scored if s[0] > 0 and s[1] not in used]
        if scored:
            take(target, max(scored)[1], "hxl")
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
    return FieldMapping(chosen, location, how, unused)


def _location(
    chosen: dict[str, str], layer_geometry: bool, explicit: Mapping[str, str | None]
) -> str:
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
