"""How each layer is drawn: one table read by the legend (rendered by the server) and by the
page's script (which styles the features), so the two cannot disagree."""

from __future__ import annotations

from typing import Any

from service import labels
from service.enums import (
    ActorCategory,
    BaseKind,
    IncidentCategory,
    PatrolState,
    PlaceClass,
    ProjectStatus,
    SectorLevel,
    SiteStatus,
)
from service.i18n import _, format_number

#: Incident categories, told apart by people with colour-vision deficiency: the eight colours of
#: Okabe and Ito ("Color Universal Design", 2008) with two of Paul Tol's muted scheme and a
#: neutral grey. Under simulated protanopia, deuteranopia and tritanopia every pair stays apart
#: (tests/test_viewer_palette.py); armed clash and attack on civilians, abduction and attack on
#: humanitarians, once hard to tell apart, now differ in hue and lightness.
INCIDENT_COLOURS: dict[str, str] = {
    IncidentCategory.armed_clash: "#d55e00",
    IncidentCategory.attack_on_civilians: "#0072b2",
    IncidentCategory.sexual_violence: "#cc79a7",
    IncidentCategory.abduction: "#e69f00",
    IncidentCategory.looting: "#f0e442",
    IncidentCategory.explosive_hazard: "#000000",
    IncidentCategory.displacement: "#009e73",
    IncidentCategory.protest_or_riot: "#882255",
    IncidentCategory.threat_or_intimidation: "#999933",
    IncidentCategory.attack_on_humanitarians: "#56b4e9",
    IncidentCategory.other: "#bbbbbb",
}

ACTOR_COLOURS: dict[str, str] = {
    ActorCategory.un_agency: "#1f77b4",
    ActorCategory.mission_component: "#17becf",
    ActorCategory.international_organisation: "#9467bd",
    ActorCategory.ingo: "#2ca02c",
    ActorCategory.ngo: "#98df8a",
    ActorCategory.host_government: "#8c564b",
    ActorCategory.host_security_forces: "#c49c94",
    ActorCategory.local_authority: "#bcbd22",
    ActorCategory.armed_group: "#d62728",
    ActorCategory.other: "#7f7f7f",
}

SECTOR_STYLES: dict[str, dict[str, Any]] = {
    SectorLevel.force: {"color": "#203040", "weight": 3, "dashArray": None},
    SectorLevel.sector: {"color": "#203040", "weight": 2, "dashArray": None},
    SectorLevel.battalion: {"color": "#506070", "weight": 1, "dashArray": "4 4"},
}

SITE_COLOURS: dict[str, str] = {SiteStatus.open: "#0b6e4f", SiteStatus.closed: "#9aa5a0"}

PATROL_STYLES: dict[str, dict[str, Any]] = {
    PatrolState.conducted: {"color": "#3366cc", "weight": 2, "dashArray": None},
    PatrolState.planned: {"color": "#3366cc", "weight": 2, "dashArray": "6 4"},
}

BASE_COLOURS: dict[str, str] = {
    BaseKind.headquarters: "#0a2463",
    BaseKind.company_base: "#1e5aa8",
    BaseKind.team_site: "#3e92cc",
    BaseKind.temporary_operating_base: "#7fb7e0",
}

PROJECT_COLOURS: dict[str, str] = {
    ProjectStatus.proposed: "#c7a4e0",
    ProjectStatus.approved: "#a25fd0",
    ProjectStatus.ongoing: "#6a1b9a",
    ProjectStatus.completed: "#9e9e9e",
    ProjectStatus.cancelled: "#d0d0d0",
}

#: Risk overlay classes: lower bound and colour. Risk sums over a cell and grows with the
#: incidents reported, so the classes are orders of magnitude, per cell of the reference H3
#: resolution (the map draws coarser cells when zoomed out and scales their risk to it).
RISK_CLASSES: list[tuple[float, str]] = [
    (0.1, "#ffffb2"),
    (1.0, "#fecc5c"),
    (10.0, "#fd8d3c"),
    (100.0, "#f03b20"),
    (1000.0, "#bd0026"),
]
RISK_REFERENCE_RESOLUTION = 6
RISK_REFERENCE_KM2 = 36

#: Hot-spot cells: colour of hot and cold spots; opacity grows with the confidence (90/95/99 %).
HOTSPOT_COLOURS: dict[str, str] = {"hot": "#d7301f", "cold": "#2b8cbe"}
HOTSPOT_OPACITY: dict[int, float] = {90: 0.25, 95: 0.4, 99: 0.55}

#: Gazetteer labels: from which zoom each class of place is labelled, and its font size (px).
PLACE_LABELS: dict[str, dict[str, int]] = {
    PlaceClass.city: {"from_zoom": 5, "size": 15},
    PlaceClass.town: {"from_zoom": 7, "size": 13},
    PlaceClass.village: {"from_zoom": 10, "size": 11},
    PlaceClass.hamlet: {"from_zoom": 12, "size": 10},
}
#: Labels of areas of responsibility: from which zoom each level is named.
SECTOR_LABEL_ZOOM: dict[str, int] = {
    SectorLevel.force: 99,
    SectorLevel.sector: 7,
    SectorLevel.battalion: 9,
}
#: IDP sites and bases are named from this zoom.
SITE_LABEL_ZOOM = 11

#: IDP site circles: radius in pixels grows with the square root of the population.
SITE_RADIUS = {"min": 4, "max": 22, "per_sqrt_person": 0.09}


def label(value: str) -> str:
    """``attack_on_civilians`` -> ``Attack on civilians``, in the current language."""
    return labels.label(value)


def styles() -> dict[str, Any]:
    """The drawing rules as the page's script reads them."""
    return {
        "incidents": {str(k): v for k, v in INCIDENT_COLOURS.items()},
        "actors": {str(k): v for k, v in ACTOR_COLOURS.items()},
        "sectors": {str(k): v for k, v in SECTOR_STYLES.items()},
        "idp_sites": {str(k): v for k, v in SITE_COLOURS.items()},
        "site_radius": SITE_RADIUS,
        "patrols": {str(k): v for k, v in PATROL_STYLES.items()},
        "bases": {str(k): v for k, v in BASE_COLOURS.items()},
        "projects": {str(k): v for k, v in PROJECT_COLOURS.items()},
        "risk": {
            "classes": [[lower, colour] for lower, colour in RISK_CLASSES],
            "reference_resolution": RISK_REFERENCE_RESOLUTION,
            "reference_km2": RISK_REFERENCE_KM2,
        },
        "hotspots": {"colours": HOTSPOT_COLOURS, "opacity": HOTSPOT_OPACITY},
        "places": {str(k): v for k, v in PLACE_LABELS.items()},
        "sector_labels": {str(k): v for k, v in SECTOR_LABEL_ZOOM.items()},
        "site_label_zoom": SITE_LABEL_ZOOM,
    }


def legend(*, alerts: bool = False) -> list[dict[str, Any]]:
    """Legend sections: a title and (swatch kind, colour, label) rows."""

    def rows(colours: dict[str, str], kind: str) -> list[dict[str, str]]:
        return [{"kind": kind, "colour": c, "label": label(str(k))} for k, c in colours.items()]

    risk = [
        {
            "kind": "area",
            "colour": colour,
            "label": _(
                "{lower} to {upper}",
                lower=format_number(lower),
                upper=format_number(RISK_CLASSES[i + 1][0]),
            )
            if i + 1 < len(RISK_CLASSES)
            else _("{lower} and more", lower=format_number(lower)),
        }
        for i, (lower, colour) in enumerate(RISK_CLASSES)
    ]
    open_alerts = [
        {
            "title": _("Open alerts"),
            "rows": [{"kind": "dashed", "colour": "#e00000", "label": _("Area")}],
        }
    ]
    return (open_alerts if alerts else []) + [
        {"title": _("Incidents"), "rows": rows(INCIDENT_COLOURS, "dot")},
        {
            "title": _("Incidents, zoomed out or crowded"),
            "rows": [{"kind": "heat", "colour": "", "label": _("Few to many incidents")}],
        },
        {
            "title": _("IDP sites (size: population)"),
            "rows": rows(SITE_COLOURS, "circle"),
        },
        {"title": _("Actors"), "rows": rows(ACTOR_COLOURS, "dot")},
        {"title": _("Projects"), "rows": rows(PROJECT_COLOURS, "dot")},
        {"title": _("Bases (black outline)"), "rows": rows(BASE_COLOURS, "base")},
        {
            "title": _("Patrol routes"),
            "rows": [
                {"kind": "line", "colour": s["color"], "label": label(str(k))}
                if not s["dashArray"]
                else {"kind": "dashed", "colour": s["color"], "label": label(str(k))}
                for k, s in PATROL_STYLES.items()
            ],
        },
        {
            "title": _("Sectors"),
            "rows": [
                {
                    "kind": "dashed" if s["dashArray"] else "line",
                    "colour": s["color"],
                    "label": label(str(k)),
                }
                for k, s in SECTOR_STYLES.items()
            ],
        },
        {
            "title": _(
                "Risk overlay (per {area} km² cell)", area=format_number(RISK_REFERENCE_KM2)
            ),
            "rows": risk,
        },
        {
            "title": _("Hot spots (Gi*, FDR-controlled)"),
            "rows": [
                {"kind": "area", "colour": HOTSPOT_COLOURS["hot"], "label": _("Hot spot")},
                {"kind": "area", "colour": HOTSPOT_COLOURS["cold"], "label": _("Cold spot")},
            ],
        },
    ]
