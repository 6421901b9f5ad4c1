"""Every text the map page shows, by key: the panels' template and the page's script read them
from here (the script through its config), so a translation is one table of these keys.

``{name}`` in a message is filled in by the script (``t(key, {name: ...})``).
"""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # Page and sign-in
    "page.title": "civop · analysts' map",
    "login.heading": "civop · the analysts' map",
    "login.hint": "Sign in with your civop account: the map shows what your account may see.",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.refused": "sign-in refused",
    "login.ended": "Your session has ended: sign in again.",
    "user.sign_out": "Sign out",
    "user.cleared": "cleared",
    "user.scope": "limited to {count} area(s)",
    # Toolbar: search, period, filters
    "search.label": "Search places, sites, actors, bases, areas; lat, lon; or an MGRS reference",
    "search.placeholder": "Search a town, site, actor, MGRS or lat, lon",
    "search.results": "Search results",
    "search.nothing": "Nothing found",
    "search.coordinates": "Coordinates",
    "search.mgrs": "MGRS",
    "search.place": "Place",
    "search.site": "IDP site",
    "search.actor": "Actor",
    "search.area": "Area",
    "search.base": "Base",
    "search.withheld": "{kind} (name withheld)",
    "period.legend": "Incidents, patrols and analysis",
    "period.from": "From",
    "period.from_short": "from",
    "period.to_short": "to",
    "period.to": "To (empty: up to now)",
    "period.to_hint": "Empty: up to now, new reports included",
    "period.choose": "period…",
    "period.7": "last 7 days",
    "period.30": "last 30 days",
    "period.90": "last 90 days",
    "period.365": "last year",
    "period.all": "all time",
    "period.status": "Period: {from} to {to}",
    "period.beginning": "the beginning",
    "period.now": "now",
    "period.backwards": 'The period ends before it starts: change "from" or "to".',
    "filters.summary": "Filter incidents",
    "filters.categories": "Categories",
    "filters.severity": "Severity at least",
    "filters.all": "All",
    "filters.none": "None",
    "filters.active": "{count} of {total} categories, severity {severity} and more",
    # Time chart
    "time.summary": "Incidents over time",
    "time.by_day": "per day",
    "time.by_week": "per week",
    "time.play": "Play",
    "time.pause": "Pause",
    "time.hint": "Drag across the chart to set the period.",
    "time.total": "{count} incidents in view",
    "time.chart": "Incidents in view per {interval}, by category",
    # Coordinates
    "coords.label": "Cursor",
    "coords.point": "Point",
    "coords.latlon": "Lat, lon",
    "coords.mgrs": "MGRS",
    "coords.near": "Near",
    "coords.no_place": "no place within reach",
    # Layers, basemap, clusters
    "layer.basemap": "Basemap",
    "layer.plain": "Plain background",
    "cluster.title": "{count} incidents: zoom in to see them",
    # Print
    "print.button": "Print the view",
    "print.title": "Title",
    "print.default_title": "Situation map",
    "print.format": "Format",
    "print.start": "Make the PDF",
    "print.working": "The print is being made…",
    "print.ready": "The print is ready: ",
    "print.download": "download it",
    "print.failed": "The print failed: {reason}",
    # Popups and details
    "popup.loading": "Loading…",
    "popup.unavailable": "This record is not available.",
    "popup.where": "Where",
    "popup.generalised": "Location generalised to a {km} km cell; sensitive fields withheld.",
    "details.show": "Show all details",
    "details.close": "Close",
    "details.download": "Download the record as GeoJSON",
    "details.region": "Record details",
    "details.location": "Location",
    "details.id": "Id",
    # Status
    "status.failed": "Something went wrong: {reason}",
    "status.updated": "Updated {time}: {layers}",
    "legend.summary": "Legend",
}


def message(key: str, **values: object) -> str:
    """The message ``key`` with its ``{name}`` parts filled in."""
    text = MESSAGES[key]
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text
