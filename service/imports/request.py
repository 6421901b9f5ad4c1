"""What an importer asks for, and whether they may."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.access.policy import Principal
from service.collections.registry import COLLECTIONS, Collection
from service.collections.service import _check_clearance
from service.enums import Classification
from service.errors import Forbidden, InvalidInput


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
            ["body", "collection"], f"unknown collection {name!r}; use one of: {known}"
        )
    return collection


def check_writer(principal: Principal) -> None:
    """Only roles that write records import."""
    _check_clearance(principal, None)


def check_importer(principal: Principal, request: ImportRequest) -> None:
    """Officers and admins import, into what they are cleared for and within their sectors."""
    _check_clearance(principal, request.classification or Classification.mission)
    if request.collection == "sectors" and principal.sector_scope is not None:
        raise Forbidden("users limited to sectors may not import areas of responsibility")
