"""What an import writes into: the fields of a collection, their kinds and rules.

The service builds a ``TargetSchema`` from its own models; ``geo.formats`` only reads it, so the
format code does not depend on the web service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal[
    "text", "integer", "number", "boolean", "date", "datetime", "enum", "uuid", "geometry"
]

#: Fields that are not properties but steer the import: the record's own id (matches records
#: exported from civop) and the location given as columns.
IDENTITY = "id"
LONGITUDE = "longitude"
LATITUDE = "latitude"
WKT = "wkt"
LOCATION_FIELDS = (LONGITUDE, LATITUDE, WKT)


@dataclass(frozen=True)
class TargetField:
    name: str
    kind: Kind
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    #: Other ways a file may write an enumerated value, as (folded form, code) pairs: the
    #: labels in every language (folded: lower case, no accents, ``_`` for blanks).
    synonyms: tuple[tuple[str, str], ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class TargetSchema:
    """A collection as an import target."""

    collection: str
    fields: tuple[TargetField, ...]
    #: GeoJSON geometry types the collection stores.
    geometry_types: tuple[str, ...]
    #: Single parts are promoted to multi-part (sectors).
    multi: bool = False
    #: (start, end) pairs where end must not be before start.
    ordered: tuple[tuple[str, str], ...] = ()
    #: Fields a file may carry that are never imported (stamped by the database).
    ignored: tuple[str, ...] = field(default=())

    def field(self, name: str) -> TargetField:
        for target in self.fields:
            if target.name == name:
                return target
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)
