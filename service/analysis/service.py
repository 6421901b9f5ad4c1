"""Protection-of-civilians analysis over what a principal may see: the domain's public API.

Every input of every analysis is selected from the principal's view of a table
(:func:`service.access.sql.view`): hidden records never enter a computation, generalised ones
enter only with their generalised location, and every location used or returned is the one
the principal sees (``v.column("geom")``). PostgreSQL filters by window and area on its
indexes, finds nearest neighbours (KNN ``<->`` in LATERAL joins) and measures on the
spheroid (geography); the maths (radius joins on a million incidents, decay, grids, Gi*,
false-discovery control) is :mod:`geo.analysis`.

The work is split by responsibility:

- :mod:`service.analysis.scope`: the area, the window and the SQL conditions on them;
- :mod:`service.analysis.inputs`: incidents, sites, actors and patrols read as arrays;
- :mod:`service.analysis.geojson`: the answers' FeatureCollections;
- :mod:`service.analysis.sites`: proximity, exposure and coverage gaps of IDP sites;
- :mod:`service.analysis.risk`: the risk overlay, risks and opportunities;
- :mod:`service.analysis.hotspots`: Gi* hot spots and emerging hot spots;
- :mod:`service.analysis.nearby`: de-confliction of routes and what is near a place;
- :mod:`service.analysis.tiles`: the risk overlay as vector tiles.
"""

from service.analysis.geojson import feature, feature_collection
from service.analysis.hotspots import (
    EmergingOptions,
    HotspotOptions,
    emerging_layer,
    hotspot_layer,
    window_counts,
)
from service.analysis.inputs import (
    ACTOR_FIELDS,
    PROJECT_FIELDS,
    SITE_FIELDS,
    IncidentArrays,
    PatrolRoutes,
    Places,
    fetch_incidents,
    fetch_patrols,
    fetch_places,
    fetch_sites,
    nearest_to,
    site_population,
)
from service.analysis.nearby import NEAR_FIELDS, deconfliction_layer, near_layer, stored_route
from service.analysis.risk import (
    RISK_COMPONENTS,
    OpportunityOptions,
    compute_risk,
    opportunities_layer,
    risk_layer,
)
from service.analysis.scope import (
    CATEGORIES,
    MAX_CELLS,
    SECONDS_PER_DAY,
    Scope,
    area_cells,
    resolve_scope,
)
from service.analysis.sites import (
    CoverageOptions,
    ProximityOptions,
    coverage_gap_layer,
    exposure_layer,
    proximity_layer,
)
from service.analysis.tiles import risk_tile, tile_bounds

__all__ = [
    "ACTOR_FIELDS",
    "CATEGORIES",
    "MAX_CELLS",
    "NEAR_FIELDS",
    "PROJECT_FIELDS",
    "RISK_COMPONENTS",
    "SECONDS_PER_DAY",
    "SITE_FIELDS",
    "CoverageOptions",
    "EmergingOptions",
    "HotspotOptions",
    "IncidentArrays",
    "OpportunityOptions",
    "PatrolRoutes",
    "Places",
    "ProximityOptions",
    "Scope",
    "area_cells",
    "compute_risk",
    "coverage_gap_layer",
    "deconfliction_layer",
    "emerging_layer",
    "exposure_layer",
    "feature",
    "feature_collection",
    "fetch_incidents",
    "fetch_patrols",
    "fetch_places",
    "fetch_sites",
    "hotspot_layer",
    "near_layer",
    "nearest_to",
    "opportunities_layer",
    "proximity_layer",
    "resolve_scope",
    "risk_layer",
    "risk_tile",
    "site_population",
    "stored_route",
    "tile_bounds",
    "window_counts",
]
