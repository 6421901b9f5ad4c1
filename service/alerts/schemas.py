"""Request bodies of the alert API."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.alerts.models import AlertRule, HotspotTrend, RuleKind
from service.bounds import bound_to_columns
from service.enums import IncidentCategory

#: Parameters a rule of each kind must be given.
REQUIRED: dict[RuleKind, tuple[str, ...]] = {
    RuleKind.incident_near_site: ("radius_km", "min_severity"),
    RuleKind.incident_cluster: ("min_count", "window_hours", "cell_km"),
    RuleKind.armed_group_near_site: ("radius_km",),
    RuleKind.risk_threshold: ("threshold",),
    RuleKind.hotspot: (),
}

#: H3 resolutions each kind accepts (those of the matching ``/api/analysis`` endpoint).
RESOLUTIONS: dict[RuleKind, tuple[int, int]] = {
    RuleKind.risk_threshold: (4, 10),
    RuleKind.hotspot: (3, 9),
}

#: Parameters a rule of each kind takes from here when not given: the defaults of the risk
#: overlay and of emerging hot spots in ``/api/analysis``.
DEFAULTS: dict[RuleKind, dict[str, Any]] = {
    RuleKind.risk_threshold: {"resolution": 7, "window_days": 90.0},
    RuleKind.hotspot: {
        "resolution": 6,
        "window_days": 7.0,
        "windows": 4,
        "alpha": 0.05,
        "z_change": 1.0,
        "trends": [HotspotTrend.new, HotspotTrend.intensifying],
    },
}


def needed(kind: RuleKind) -> tuple[str, ...]:
    """Every parameter a rule of this kind cannot be without."""
    return REQUIRED[kind] + tuple(DEFAULTS.get(kind, {}))


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
    threshold: float | None = Field(
        None, gt=0, description="risk_threshold: risk at or above which a site's cell raises."
    )
    resolution: int | None = Field(
        None,
        ge=3,
        le=10,
        description="H3 resolution of the cells: risk_threshold 4 to 10, hotspot 3 to 9.",
    )
    window_days: float | None = Field(
        None,
        gt=0,
        le=3650,
        description="risk_threshold: incidents of the last N days count; "
        "hotspot: length of each window.",
    )
    windows: int | None = Field(
        None, ge=2, le=12, description="hotspot: windows compared, the current one included."
    )
    alpha: float | None = Field(
        None, gt=0, lt=1, description="hotspot: false-discovery rate of the Gi* test."
    )
    z_change: float | None = Field(
        None, gt=0, le=10, description="hotspot: rise of z that counts as intensifying."
    )
    trends: list[HotspotTrend] | None = Field(
        None, min_length=1, description="hotspot: trends that raise an alert."
    )
    sector_id: uuid.UUID | None = Field(
        None,
        description="risk_threshold, hotspot: watch this area and its sub-areas only "
        "(every top-level area when absent).",
    )
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
        for name, value in DEFAULTS.get(self.kind, {}).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        return self


class RulePatch(RuleFields):
    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


for _rule in (RuleIn, RulePatch):
    bound_to_columns(_rule, AlertRule.__table__)  # type: ignore[arg-type]
