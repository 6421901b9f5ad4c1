"""Alerts as CAP 1.2 (OASIS Common Alerting Protocol) documents: the area is the circle
(``lat,lon radius_km``) or the polygon (closed ring of ``lat,lon`` pairs) warned about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

import shapely

NS = "urn:oasis:names:tc:emergency:cap:1.2"
SEVERITY = {5: "Extreme", 4: "Severe", 3: "Moderate", 2: "Minor", 1: "Minor"}
CATEGORY = {
    "incident_near_site": "Security",
    "incident_cluster": "Security",
    "armed_group_near_site": "Security",
    "risk_threshold": "Security",
    "hotspot": "Security",
}


def cap_time(moment: datetime) -> str:
    """CAP's dateTime: seconds, and an explicit offset (never ``Z``)."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _ring(shape: Any) -> str:
    polygon = shape if shape.geom_type == "Polygon" else shape.convex_hull
    return " ".join(f"{y:.6f},{x:.6f}" for x, y in polygon.exterior.coords)


def cap_document(alert: Any, sender: str, url: str | None = None) -> bytes:
    """One alert (a row from ``get_alert_row``) as a CAP 1.2 document."""
    ET.register_namespace("", NS)

    def sub(parent: ET.Element, name: str, value: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{NS}}}{name}")
        if value is not None:
            element.text = value
        return element

    root = ET.Element(f"{{{NS}}}alert")
    sub(root, "identifier", f"civop-alert-{alert.id}")
    sub(root, "sender", sender)
    sub(root, "sent", cap_time(alert.updated_at))
    sub(root, "status", "Actual")
    sub(root, "msgType", "Cancel" if alert.status == "closed" else "Alert")
    if alert.classification == "public":
        sub(root, "scope", "Public")
    else:
        sub(root, "scope", "Restricted")
        sub(root, "restriction", f"{alert.classification} (civop access rules)")
    info = sub(root, "info")
    sub(info, "language", "en")
    sub(info, "category", CATEGORY.get(alert.kind, "Other"))
    sub(info, "event", alert.kind.replace("_", " "))
    sub(info, "urgency", "Immediate" if alert.status == "new" else "Expected")
    sub(info, "severity", SEVERITY.get(alert.severity, "Unknown"))
    sub(info, "certainty", "Likely")
    code = sub(info, "eventCode")
    sub(code, "valueName", "civop:kind")
    sub(code, "value", alert.kind)
    sub(info, "effective", cap_time(alert.triggered_at))
    sub(info, "senderName", "civop")
    sub(info, "headline", alert.title[:160])
    if alert.description:
        sub(info, "description", alert.description)
    if url:
        sub(info, "web", url)
    parameter = sub(info, "parameter")
    sub(parameter, "valueName", "civop:status")
    sub(parameter, "value", alert.status)
    area = sub(info, "area")
    sub(area, "areaDesc", alert.title)
    if alert.radius_km is not None:
        center = shapely.from_wkb(bytes(alert.center_wkb))
        sub(area, "circle", f"{center.y:.6f},{center.x:.6f} {alert.radius_km:g}")
    else:
        sub(area, "polygon", _ring(shapely.from_wkb(bytes(alert.geom_wkb))))
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


ATOM = "http://www.w3.org/2005/Atom"


def atom_feed(features: list[dict[str, Any]], self_url: str, alert_url: str) -> bytes:
    """Alerts (GeoJSON features as the reader sees them) as an Atom feed (RFC 4287); each
    entry links to the alert's GeoJSON and CAP documents. ``alert_url`` holds ``{id}``."""
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, name: str, value: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{name}", attrs)
        if value is not None:
            element.text = value
        return element

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", self_url)
    sub(feed, "title", "civop alerts")
    updated = max((f["properties"]["updated_at"] for f in features), default=None)
    sub(feed, "updated", updated or datetime.now(UTC).isoformat())
    sub(feed, "link", href=self_url, rel="self", type="application/atom+xml")
    author = sub(feed, "author")
    sub(author, "name", "civop")
    for feature in features:
        properties = feature["properties"]
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:uuid:{feature['id']}")
        sub(entry, "title", properties["title"])
        sub(entry, "updated", properties["updated_at"])
        sub(entry, "published", properties["triggered_at"])
        summary = f"{properties['status']}, severity {properties['severity']}"
        if properties.get("description"):
            summary += f": {properties['description']}"
        sub(entry, "summary", summary)
        url = alert_url.format(id=feature["id"])
        sub(entry, "link", href=url, rel="alternate", type="application/geo+json")
        sub(entry, "link", href=f"{url}/cap", rel="related", type="application/cap+xml")
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document
