"""GeoJSON Feature schemas shared by every collection (RFC 7946)."""

from __future__ import annotations

import copy
import uuid
from typing import Any, Generic, Literal, Optional, TypeVar

from geojson_pydantic.geometries import Geometry
from pydantic import BaseModel, ConfigDict, Field, create_model

from service.enums import Classification


class RecordProperties(BaseModel):
    """Properties every record accepts."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    classification: Classification = Field(
        Classification.mission,
        description="Who may see the record: public (partners), mission, restricted (cleared staff).",
    )
    origin: str = Field("api", max_length=64, description="System the external id belongs to.")
    external_id: str | None = Field(
        None,
        max_length=256,
        description="Id in the originating system; unique per origin among the records you "
        "see in full (records hidden from you do not count).",
    )


class SectoredProperties(RecordProperties):
    """Properties of records that lie in an area of responsibility."""

    sector_id: uuid.UUID | None = Field(
        None, description="Area of responsibility; found from the geometry when left out."
    )


P = TypeVar("P", bound=BaseModel)


class FeatureIn(BaseModel, Generic[P]):
    model_config = ConfigDict(extra="forbid")

    type: Literal["Feature"]
    geometry: Geometry
    properties: P
    id: uuid.UUID | None = Field(None, description="Ignored on create; the server assigns ids.")


class FeaturePatch(BaseModel, Generic[P]):
    model_config = ConfigDict(extra="forbid")

    type: Literal["Feature"] = "Feature"
    geometry: Geometry | None = None
    properties: P | None = None


class FeatureOut(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: uuid.UUID
    geometry: dict[str, Any] | None
    properties: dict[str, Any]
    actions: list[str] = Field(
        default_factory=list,
        description="What the reader may do with this record: edit, delete, transition (a "
        "project's status) or a request's workflow steps (POST .../<step with dashes>).",
    )


class Link(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class FeatureCollectionOut(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[FeatureOut]
    links: list[Link] = []
    numberReturned: int
    numberMatched: int | None = None
    actions: list[str] = Field(
        default_factory=list,
        description="What the reader may do with the collection: create (submit, for "
        "requests for civil assistance) and import.",
    )


def partial(model: type[BaseModel]) -> type[BaseModel]:
    """The same properties, all optional: the body of a PATCH."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        optional = copy.copy(info)
        optional.default = None
        optional.default_factory = None
        fields[name] = (Optional[info.annotation], optional)  # noqa: UP045 - a runtime type
    return create_model(f"{model.__name__}Patch", __base__=model.__base__, **fields)
