"""Request bodies of the alert API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.alerts.models import RuleKind
from service.enums import IncidentCategory

REQUIRED = {
    RuleKind.incident_near_site: ("radius_km", "min_severity"),
    RuleKind.incident_cluster: ("min_count", "window_hours", "cell_km"),
    RuleKind.armed_group_near_site: ("radius_km",),
}


class RuleFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    enabled: bool | None = None
    min_severity: int | None = Field(
        None, ge=1, le=5, description="Incidents of this severity or more."
    )
    categories: list[IncidentCategory] | None = Field(
        None, description="Only incidents of these categories (all when absent)."
    )
    radius_km: float | None = Field(None, gt=0, le=500)
    min_count: int | None = Field(None, ge=1, le=100_000)
    window_hours: float | None = Field(None, gt=0, le=8760)
    cell_km: float | None = Field(None, gt=0, le=500)
    alert_severity: int | None = Field(
        None, ge=1, le=5, description="Severity of the alerts raised."
    )


class RuleIn(RuleFields):
    name: str = Field(min_length=1, max_length=200)
    kind: RuleKind

    @model_validator(mode="after")
    def _parameters(self) -> RuleIn:
        missing = [f for f in REQUIRED[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind.value} rule needs {', '.join(missing)}")
        return self


class RulePatch(RuleFields):
    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)
