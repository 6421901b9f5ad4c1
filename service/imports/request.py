"""What an importer asks for, and whether they may: read and checked once for every door an
import comes in by, the upload form (``service.imports.views``) and the command line
(``civop import``). A wrong value gets the same answer on both: what was wrong, in which
field, and what to give instead."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.access.actions import authorize
from service.access.policy import Principal
from service.collections.registry import COLLECTIONS, Collection
from service.enums import Classification
from service.errors import InvalidInput
from service.i18n import _


@dataclass(frozen=True)
class ImportRequest:
    """What the importer asks for; everything but the collection is optional."""

    collection: str
    format: str | None = None
    layer: str | None = None
    #: Field -> file field, constant (``{"value": ...}``) or value map (``{"column", "values"}``).
    mapping: dict[str, Any] | None = None
    source_crs: str | None = None
    encoding: str | None = None
    classification: Classification | None = None
    origin: str | None = None

    def as_options(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "layer": self.layer,
            "mapping": self.mapping,
            "source_crs": self.source_crs,
            "encoding": self.encoding,
            "classification_given": self.classification is not None,
        }


def collection_of(name: str) -> Collection:
    collection = COLLECTIONS.get(name)
    if collection is None:
        known = ", ".join(COLLECTIONS)
        raise InvalidInput(
            ["body", "collection"],
            _("unknown collection {name!r}; use one of: {known}", name=name, known=known),
        )
    return collection


def check_writer(principal: Principal) -> None:
    """Only roles that write records import."""
    authorize(principal, "import")


def default_classification(request: ImportRequest) -> Classification:
    """The classification of imported records when neither the request nor the file gives
    one: the collection's own default (mission; public for the gazetteer)."""
    field = collection_of(request.collection).properties.model_fields["classification"]
    return Classification(field.default)


def check_importer(principal: Principal, request: ImportRequest) -> None:
    """Officers and admins import, into what they are cleared for and within their sectors."""
    authorize(
        principal,
        "import",
        classification=request.classification or default_classification(request),
        collection=request.collection,
    )


def parse_mapping(raw: str | None) -> dict[str, Any] | None:
    """A mapping given as a JSON object: collection field -> file field (or null), a constant
    ``{"value": ...}`` or a value map ``{"column": ..., "values": {...}}``."""
    if raw is None:
        return None
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            ["body", "mapping"],
            _(
                'mapping is not JSON ({msg}); give an object like {{"occurred_at": "date"}}',
                msg=error.msg,
            ),
        ) from error
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, (str, dict))) for k, v in value.items()
    ):
        raise InvalidInput(
            ["body", "mapping"],
            _(
                "mapping must map collection fields to file field names (text), to "
                '{"value": ...} (one value for every record) or to {"column": ..., "values": {...}} '
                "(a column's values translated)"
            ),
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
        raise InvalidInput(["body", "collection"], _("collection is required, e.g. incidents"))
    collection_of(collection)
    if classification is not None and classification not in Classification.__members__:
        allowed = ", ".join(c.value for c in Classification)
        raise InvalidInput(
            ["body", "classification"],
            _(
                "unknown classification {classification!r}; use {allowed}",
                classification=classification,
                allowed=allowed,
            ),
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
