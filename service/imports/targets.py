"""A collection seen as an import target: its fields, their kinds and rules, read from the
collection's own schema so an import accepts exactly what the API accepts."""

from __future__ import annotations

import datetime as dt
import types
import uuid
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, Union, get_args, get_origin

import annotated_types
from geojson_pydantic.geometries import Point
from pydantic.fields import FieldInfo

from geo.formats.schema import Kind, TargetField, TargetSchema
from service import labels
from service.collections.registry import COLLECTIONS, Collection

#: Stamped by the database or set by the import itself: never taken from a file.
NOT_IMPORTED = ("created_at", "created_by", "updated_at", "updated_by", "generalised")


def _vocabulary(annotation: Any) -> str | None:
    """The name of the enumeration a field takes its values from, if any."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    return (
        annotation.__name__
        if isinstance(annotation, type) and issubclass(annotation, Enum)
        else None
    )


def _kind(annotation: Any) -> tuple[Kind, tuple[str, ...]]:
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return "enum", tuple(str(m.value) for m in annotation)
        if issubclass(annotation, bool):
            return "boolean", ()
        if issubclass(annotation, int):
            return "integer", ()
        if issubclass(annotation, float | Decimal):
            return "number", ()
        if issubclass(annotation, dt.datetime) or annotation.__name__.endswith("Datetime"):
            return "datetime", ()
        if issubclass(annotation, dt.date):
            return "date", ()
        if issubclass(annotation, uuid.UUID):
            return "uuid", ()
        if issubclass(annotation, Point):
            return "geometry", ()
    return "text", ()


def _field(name: str, info: FieldInfo) -> TargetField:
    kind, choices = _kind(info.annotation)
    rules: dict[str, Any] = {}
    for rule in info.metadata:
        if isinstance(rule, annotated_types.Ge):
            rules["minimum"] = float(rule.ge)  # type: ignore[arg-type]
        elif isinstance(rule, annotated_types.Le):
            rules["maximum"] = float(rule.le)  # type: ignore[arg-type]
        elif isinstance(rule, annotated_types.MaxLen):
            rules["max_length"] = rule.max_length
        elif isinstance(rule, annotated_types.MinLen):
            rules["min_length"] = rule.min_length
        elif getattr(rule, "pattern", None):
            rules["pattern"] = rule.pattern
    default = None if info.is_required() else info.default
    if isinstance(default, Enum):
        default = default.value
    if name in ("origin", "classification"):
        default = None  # the import decides: its own origin, its default classification
    # An enumerated value may be written as its code or as its label in any language of the
    # catalogs ("Attaque contre des civils", "Camp planifié"): see docs/languages.md.
    vocabulary = _vocabulary(info.annotation)
    synonyms = labels.written_forms(vocabulary, choices) if vocabulary and choices else ()
    return TargetField(
        name=name,
        kind=kind,
        required=info.is_required(),
        default=default,
        choices=choices,
        synonyms=synonyms,
        **rules,
    )


@cache
def target_schema(name: str) -> TargetSchema:
    """The import target for the collection ``name``."""
    collection: Collection = COLLECTIONS[name]
    fields = tuple(_field(n, i) for n, i in collection.properties.model_fields.items())
    ordered: tuple[tuple[str, str], ...] = ()
    if collection.time and collection.time[1]:
        ordered = ((collection.time[0], collection.time[1]),)
    return TargetSchema(
        collection=name,
        fields=fields,
        geometry_types=collection.geometry_types,
        multi=collection.multi,
        ordered=ordered,
        ignored=NOT_IMPORTED,
    )
