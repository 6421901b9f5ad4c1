from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from service.bounds import bound_to_columns
from service.core.schemas import SectoredProperties
from service.enums import SiteStatus, SiteType
from service.sites.models import IdpSite, SitePopulation


class IdpSiteProperties(SectoredProperties):
    name: str = Field(min_length=1, max_length=300)
    site_type: SiteType
    status: SiteStatus = SiteStatus.open
    population_individuals: int | None = Field(None, ge=0)
    population_households: int | None = Field(None, ge=0)
    population_date: dt.date | None = None
    managing_actor_id: uuid.UUID | None = None
    description: str | None = Field(None, max_length=10_000)


class PopulationFigureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    observed_on: dt.date
    individuals: int = Field(ge=0)
    households: int | None = Field(None, ge=0)
    source: str | None = Field(None, max_length=300)


class PopulationFigurePatch(BaseModel):
    """A correction: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    observed_on: dt.date | None = None
    individuals: int | None = Field(None, ge=0)
    households: int | None = Field(None, ge=0)
    source: str | None = Field(None, max_length=300)


class PopulationFigure(PopulationFigureIn):
    id: uuid.UUID
    site_id: uuid.UUID
    created_by: str | None = None
    updated_at: dt.datetime | None = None
    updated_by: str | None = None
    #: A withdrawn figure no longer counts; who withdrew it, when and why.
    withdrawn_at: dt.datetime | None = None
    withdrawn_by: str | None = None
    withdrawn_reason: str | None = None


bound_to_columns(IdpSiteProperties, IdpSite.__table__)  # type: ignore[arg-type]
bound_to_columns(PopulationFigureIn, SitePopulation.__table__)  # type: ignore[arg-type]
bound_to_columns(PopulationFigurePatch, SitePopulation.__table__)  # type: ignore[arg-type]
