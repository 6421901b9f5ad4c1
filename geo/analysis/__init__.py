"""Protection-of-civilians analysis: the maths, importable without FastAPI or SQLAlchemy.

Every function here works on plain numpy arrays, shapely geometries and small dataclasses, so
an analyst can call it from a notebook on any data and the service can call it on what a
principal may see. Longitudes and latitudes are WGS 84 degrees; distances are kilometres;
times are seconds since the epoch (or numpy ``datetime64``) and ages are days.

Modules
-------
geodesy
    Distances on the WGS 84 ellipsoid (a fast local formula and the pyproj reference).
proximity
    Pairs within a radius, nearest neighbours, counts by category and severity.
exposure
    Severity-weighted, distance- and time-decayed exposure of IDP sites, and why.
grid
    The H3 hexagonal grid: cells of points and lines, neighbours, smoothing, polygons.
risk
    The risk overlay: hazard, vulnerability and coverage per cell.
hotspots
    Getis-Ord Gi* with permutation inference and false-discovery control; ESRI emerging
    hot-spot patterns with the Mann-Kendall trend.
coverage
    IDP sites without a recent patrol nearby.
deconfliction
    A planned route against humanitarian sites and actors.
"""

from geo.analysis.coverage import CoverageGap, coverage_gaps
from geo.analysis.deconfliction import RouteConflict, route_conflicts
from geo.analysis.exposure import ExposureParameters, SiteExposure, site_exposure
from geo.analysis.geodesy import geodesic_km, local_distance_km
from geo.analysis.grid import HexGrid
from geo.analysis.hotspots import (
    EmergingHotspots,
    Hotspots,
    classify_esri,
    compare_windows,
    emerging_hotspots,
    getis_ord_gi_star,
)
from geo.analysis.proximity import Pairs, count_by, nearest, pairs_within
from geo.analysis.risk import RiskOverlay, RiskParameters, risk_overlay

__all__ = [
    "CoverageGap",
    "EmergingHotspots",
    "ExposureParameters",
    "HexGrid",
    "Hotspots",
    "Pairs",
    "RiskOverlay",
    "RiskParameters",
    "RouteConflict",
    "SiteExposure",
    "classify_esri",
    "compare_windows",
    "count_by",
    "coverage_gaps",
    "emerging_hotspots",
    "geodesic_km",
    "getis_ord_gi_star",
    "local_distance_km",
    "nearest",
    "pairs_within",
    "risk_overlay",
    "route_conflicts",
    "site_exposure",
]
