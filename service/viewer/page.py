"""The map page, built with Folium (``service.viewer.folium_page``): a Leaflet map with one
feature group per layer, the layer control, the legend and the panels. The page holds no data:
``civop-map.js`` fills the groups from the API with the user's token once they have signed in."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from service import labels
from service.basemap.service import basemap_info
from service.config import Settings
from service.i18n import direction, in_language, zone, zone_label
from service.layers.heat import HEAT_MAX_ZOOM
from service.viewer import styles
from service.viewer.messages import MESSAGES, messages

#: Map panes, bottom to top. Leaflet's overlay pane, where the heat view draws, is at 400:
#: the analysis overlays and the sector outlines stay readable above it.
PANES = {
    "civop-analysis": 405,
    "civop-areas": 408,
    "civop-lines": 412,
    "civop-incidents": 420,
    "civop-points": 450,
    "civop-alerts": 460,
    "civop-labels": 470,
}

#: The layers in the layer control: key used by the script, name shown (translated when the
#: page is built), shown on opening.
LAYERS: list[tuple[str, str, bool]] = [
    ("places", MESSAGES["layer.places"], True),
    ("sectors", MESSAGES["layer.sectors"], True),
    ("idp_sites", MESSAGES["layer.idp_sites"], True),
    ("incidents", MESSAGES["layer.incidents"], True),
    ("patrols", MESSAGES["layer.patrols"], True),
    ("bases", MESSAGES["layer.bases"], True),
    ("projects", MESSAGES["layer.projects"], False),
    ("actors", MESSAGES["layer.actors"], False),
    ("risk", MESSAGES["layer.risk"], False),
    ("hotspots", MESSAGES["layer.hotspots"], False),
]
#: Listed only when the service has an alerts API (see ``alerts_available``).
ALERTS_LAYER = ("alerts", MESSAGES["layer.alerts"], True)

#: Incidents are drawn one by one from this zoom on, when the view holds at most
#: ``POINTS_MAX`` of them; otherwise (and always when zoomed out) as a heat view.
POINTS_FROM_ZOOM = 9
POINTS_MAX = 6000
#: Between this zoom and the points, crowded incidents are drawn as clusters with their count
#: (from the heat tiles' counts); below it, as a heat view.
CLUSTERS_FROM_ZOOM = 7
#: Pixels a cluster gathers (a square of this side).
CLUSTER_PX = 64
POLL_SECONDS = 3


@dataclass(frozen=True)
class PageOptions:
    """What the page depends on: settings, not data (so one page serves every user)."""

    mission_bbox: tuple[float, float, float, float]
    basemap_url: str = ""
    generalise_cell_km: float = 10.0
    alerts_available: bool = False
    #: The basemap civop serves from its file: (format, min zoom, max zoom, attribution).
    basemap_file: tuple[str, int, int, str] | None = None
    #: The page's language (its texts, its direction) and the mission's time zone.
    language: str = "en"
    time_zone: str = "UTC"

    @classmethod
    def of(cls, settings: Settings, *, alerts_available: bool, language: str = "en") -> PageOptions:
        info = basemap_info(settings)
        return cls(
            mission_bbox=settings.mission_bbox,
            basemap_url=settings.basemap_url if info is None else "",
            generalise_cell_km=settings.generalise_cell_km,
            alerts_available=alerts_available,
            basemap_file=None
            if info is None
            else (info.format, info.minzoom, info.maxzoom, info.attribution),
            language=language,
            time_zone=settings.time_zone,
        )


@lru_cache(maxsize=8)
def build_page(options: PageOptions) -> str:
    """The HTML of ``/map`` in the options' language (``lang`` and ``dir`` on the page, its
    layout mirrored right to left); every script and stylesheet it loads is served under
    ``/static``."""
    # Folium (and the pandas it imports) is loaded with the first page a process builds, not
    # when the service starts: most of the API's processes never build one.
    from service.viewer.folium_page import draw

    with in_language(options.language):
        html = draw(
            mission_bbox=options.mission_bbox,
            basemap_url=options.basemap_url,
            panes=PANES,
            layers=LAYERS + ([ALERTS_LAYER] if options.alerts_available else []),
            config=page_config(options),
        )
    # Folium writes a bare <html>: the page says its language and direction.
    return html.replace(
        "<html>",
        f'<html lang="{options.language}" dir="{direction(options.language)}">',
        1,
    )


def page_config(options: PageOptions) -> dict[str, Any]:
    """What the script needs besides the data: drawing rules and timings (no records)."""
    return {
        "pointsFromZoom": POINTS_FROM_ZOOM,
        "pointsMax": POINTS_MAX,
        "heatMaxZoom": HEAT_MAX_ZOOM,
        "pollSeconds": POLL_SECONDS,
        "missionBbox": list(options.mission_bbox),
        "generaliseCellKm": options.generalise_cell_km,
        "clustersFromZoom": CLUSTERS_FROM_ZOOM,
        "clusterPx": CLUSTER_PX,
        "styles": styles.styles(),
        "messages": messages(),
        "labels": labels.all_labels(),
        "language": options.language,
        "direction": direction(options.language),
        "timeZone": options.time_zone,
        "timeZoneLabel": zone_label(tz=zone(options.time_zone)),
        "categories": [str(k) for k in styles.INCIDENT_COLOURS],
        "basemap": None
        if options.basemap_file is None
        else {
            "url": "/basemap/tiles/{z}/{x}/{y}",
            "format": options.basemap_file[0],
            "minZoom": options.basemap_file[1],
            "maxZoom": options.basemap_file[2],
            "attribution": options.basemap_file[3],
        },
    }
