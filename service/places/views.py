"""The gazetteer's own route: how a point is named (the map's popups ask it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from geo.places import to_mgrs
from service.auth.deps import PrincipalDep
from service.db import SessionDep
from service.places import service

router = APIRouter(prefix="/api/places", tags=["Places"])


@router.get(
    "/near",
    summary="Name a point by the nearest place",
    description="The place that best names the point among those you may see in full, with "
    'distance, bearing and the phrase reports use ("3 km NE of Dorosa"), and the point\'s '
    "MGRS reference. `place` is null when no place is within reach.",
)
async def near(
    session: SessionDep,
    principal: PrincipalDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude (WGS 84)")],
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude (WGS 84)")],
) -> dict[str, Any]:
    found = await service.nearest_place(session, principal, lon, lat)
    if found is None:
        return {"phrase": None, "place": None, "mgrs": to_mgrs(lon, lat)}
    return found.as_dict()
