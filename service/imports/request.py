"""What an importer asks for, read and checked once for every door an import comes in by: the
upload form (``service.imports.views``) and the command line (``civop import``). A wrong value
gets the same answer on both: what was wrong, in which field, and what to give instead."""

from __future__ import annotations

import json
from typing import Any

from service.enums import Classification
from service.errors import InvalidInput
from service.imports.service import ImportRequest, collection_of


def parse_mapping(raw: str | None) -> dict[str, str | None] | None:
    """A mapping given as a JSON object: collection field -> file field (or null)."""
    if raw is None:
        return None
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            ["body", "mapping"],
            f'mapping is not JSON ({error.msg}); give an object like {{"occurred_at": "date"}}',
        ) from error
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()
    ):
        raise InvalidInput(
            ["body", "mapping"], "mapping must map collection fields to file field names (text)"
        )
    return value


def import_request(
    collection: str | None,
    *,
    format: str | None = None,
    layer: str | None = None,
    mapping: str | None = None,
    source_crs: str | None = None,
    encoding: str | None = None,
    classification: str | None = None,
    origin: str | None = None,
) -> ImportRequest:
    """The import asked for, every value checked (:class:`InvalidInput` names the field)."""
    if collection is None:
        raise InvalidInput(["body", "collection"], "collection is required, e.g. incidents")
    collection_of(collection)
    if classification is not None and classification not in Classification.__members__:
        allowed = ", ".join(c.value for c in Classification)
        raise InvalidInput(
            ["body", "classification"], f"unknown classification {classification!r}; use {allowed}"
        )
    return ImportRequest(
        collection=collection,
        format=format,
        layer=layer,
        mapping=parse_mapping(mapping),
        source_crs=source_crs,
        encoding=encoding,
        classification=Classification(classification) if classification else None,
        origin=origin,
    )
