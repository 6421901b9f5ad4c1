from __future__ import annotations

import uuid

from geojson_pydantic.geometries import Point
from pydantic import Field

from service.bounds import bound_to_columns
from service.core.schemas import RecordProperties
from service.enums import SectorLevel
from service.sectors.models import Sector


class SectorProperties(RecordProperties):
    name: str = Field(min_length=1, max_length=200)
    level: SectorLevel
    parent_id: uuid.UUID | None = None
    hq: Point | None = Field(None, description="Headquarters location (GeoJSON Point).")


bound_to_columns(SectorProperties, Sector.__table__)  # type: ignore[arg-type]
