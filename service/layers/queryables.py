"""OGC API - Features Part 5 (schemas) and Part 3 (queryables): what each collection's features
carry, typed from the table's columns, so GIS clients need not guess field types from the
newest features; and the collections of one geometry type each (``idp_sites_points``,
``idp_sites_areas``) for clients whose layers hold one type (shapefiles, QGIS layers)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.sql.elements import ColumnElement

from service.access.sql import View
from service.collections.registry import COLLECTIONS, Collection

JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
#: Columns the service keeps for itself: never in a feature.
_INTERNAL = ("deleted_at", "deleted_by")
#: Properties that cannot be sorted on (free text and references sort meaninglessly).
_UNSORTABLE_TYPES = (UUID,)


@dataclass(frozen=True)
class GeometryVariant:
    """The features of one collection whose (shown) geometry is of these types."""

    name: str
    suffix: str
    types: tuple[str, ...]
    format: str
    title: str


VARIANTS = (
    GeometryVariant("points", "_points", ("ST_Point",), "geometry-point", "points"),
    GeometryVariant(
        "areas",
        "_areas",
        ("ST_Polygon", "ST_MultiPolygon"),
        "geometry-polygon-or-multipolygon",
        "areas",
    ),
)


@dataclass(frozen=True)
class Layer:
    """An OGC API collection: one of the registry's, or one geometry type of it."""

    id: str
    collection: Collection
    variant: GeometryVariant | None = None

    @property
    def title(self) -> str:
        if self.variant is None:
            return self.collection.title
        return f"{self.collection.title} ({self.variant.title})"

    def condition(self, v: View) -> ColumnElement[bool] | None:
        """The rows of the variant, on the geometry the principal is shown."""
        if self.variant is None:
            return None
        return func.ST_GeometryType(v.column("geom")).in_(self.variant.types)


def layers() -> dict[str, Layer]:
    """Every collection, and its single-type variants where it holds points and areas."""
    found: dict[str, Layer] = {}
    for collection in COLLECTIONS.values():
        found[collection.name] = Layer(collection.name, collection)
        kinds = set(collection.geometry_types)
        if "Point" in kinds and kinds & {"Polygon", "MultiPolygon"}:
            for variant in VARIANTS:
                name = collection.name + variant.suffix
                found[name] = Layer(name, collection, variant)
    return found


def _column_schema(column: Any, described: dict[str, Any]) -> dict[str, Any]:
    kind = column.type
    schema: dict[str, Any] = {}
    if isinstance(kind, Boolean):
        schema["type"] = "boolean"
    elif isinstance(kind, Integer):
        schema["type"] = "integer"
    elif isinstance(kind, Float | Numeric):
        schema["type"] = "number"
    elif isinstance(kind, DateTime):
        schema.update(type="string", format="date-time")
    elif isinstance(kind, Date):
        schema.update(type="string", format="date")
    elif isinstance(kind, UUID):
        schema.update(type="string", format="uuid")
    else:
        schema["type"] = "string"
    for key in ("title", "description", "minimum", "maximum", "maxLength", "enum"):
        if key in described:
            schema[key] = described[key]
    return schema


def _described(collection: Collection) -> dict[str, dict[str, Any]]:
    """The write schema's words for each property (titles, descriptions, bounds, enums)."""
    document = collection.properties.model_json_schema()
    definitions = document.get("$defs", {})
    found: dict[str, dict[str, Any]] = {}
    for name, field in document.get("properties", {}).items():
        merged = dict(field)
        options = field.get("anyOf", [field])
        for option in options:
            ref = option.get("$ref")
            target = definitions.get(ref.rsplit("/", 1)[1], {}) if ref else option
            if target.get("type") != "null":
                merged = {**target, **{k: v for k, v in field.items() if k != "anyOf"}}
                break
        found[name] = merged
    return found


@functools.cache
def property_schemas(collection_name: str) -> dict[str, dict[str, Any]]:
    """Each property of a collection's features, typed from its column."""
    collection = COLLECTIONS[collection_name]
    described = _described(collection)
    found: dict[str, dict[str, Any]] = {}
    for column in collection.table.c:
        if column.name in _INTERNAL or column.name in ("id", "geom"):
            continue
        if isinstance(column.type, Geometry):
            found[column.name] = {"format": "geometry-point", "title": column.name}
            continue
        found[column.name] = _column_schema(column, described.get(column.name, {}))
    found["generalised"] = {
        "type": "boolean",
        "title": "Generalised",
        "description": "True when the location is shown coarsened to a grid cell, not as recorded.",
    }
    return found


def _geometry_format(layer: Layer) -> str:
    if layer.variant is not None:
        return layer.variant.format
    kinds = set(layer.collection.geometry_types)
    single = {
        frozenset({"Point"}): "geometry-point",
        frozenset({"LineString"}): "geometry-linestring",
        frozenset({"Polygon", "MultiPolygon"}): "geometry-polygon-or-multipolygon",
    }
    return single.get(frozenset(kinds), "geometry-any")


def schema(layer: Layer, here: str) -> dict[str, Any]:
    """The schema of the layer's features (Part 5), with the id and geometry roles."""
    properties: dict[str, Any] = {
        "id": {"type": "string", "format": "uuid", "title": "Id", "x-ogc-role": "id"},
        "geom": {"format": _geometry_format(layer), "x-ogc-role": "primary-geometry"},
    }
    properties.update(
        {
            name: dict(value)
            for name, value in property_schemas(layer.collection.name).items()
            if not value.get("format", "").startswith("geometry")
        }
    )
    return {
        "$schema": JSON_SCHEMA,
        "$id": here,
        "type": "object",
        "title": layer.title,
        "properties": properties,
    }


def queryables(layer: Layer, here: str) -> dict[str, Any]:
    """What a CQL2 filter may name (Part 3): every property, and the geometry as ``geom``."""
    document = schema(layer, here)
    document["properties"].pop("id")
    document["additionalProperties"] = False
    return document


def sortable_names(collection: Collection) -> list[str]:
    return [
        name
        for name, value in property_schemas(collection.name).items()
        if "format" not in value or value["format"] in ("date-time", "date")
        if name in collection.table.c
        and not isinstance(collection.table.c[name].type, _UNSORTABLE_TYPES)
    ]


def sortables(layer: Layer, here: str) -> dict[str, Any]:
    """What ``sortby`` may name (Part 5 sortables)."""
    schemas = property_schemas(layer.collection.name)
    return {
        "$schema": JSON_SCHEMA,
        "$id": here,
        "type": "object",
        "title": layer.title,
        "properties": {name: schemas[name] for name in sortable_names(layer.collection)},
    }
