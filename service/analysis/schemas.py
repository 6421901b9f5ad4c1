"""Request bodies and the documented shape of analysis answers.

Every analysis answers with a GeoJSON FeatureCollection (RFC 7946) that carries two foreign
members: ``summary`` (figures for the whole answer) and ``parameters`` (every parameter used,
defaults included, so a result can be reproduced).
"""

from __future__ import annotations

from typing import Any, Literal

from geojson_pydantic.geometries import Geometry
from pydantic import BaseModel, ConfigDict, Field


class AnalysisFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str | None = None
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class AnalysisResult(BaseModel):
    """A GeoJSON layer with a JSON summary."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AnalysisFeature]
    summary: dict[str, Any] = Field(description="Figures for the whole answer.")
    parameters: dict[str, Any] = Field(description="Every parameter used, defaults included.")


class RouteIn(BaseModel):
    """A planned patrol route to check: a GeoJSON LineString, or a Feature holding one."""

    model_config = ConfigDict(extra="allow")

    type: str
    geometry: Geometry | None = None
    coordinates: list[Any] | None = None


class PlaceIn(BaseModel):
    """A point or polygon to look around: a GeoJSON geometry, or a Feature holding one."""

    model_config = ConfigDict(extra="allow")

    type: str
    geometry: Geometry | None = None
    coordinates: list[Any] | None = None
