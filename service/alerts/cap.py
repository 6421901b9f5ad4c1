"""Alerts as CAP 1.2 (OASIS Common Alerting Protocol) documents, as aggregators read them:
each state of an alert is a message of its own (a new identifier), an update or a cancel
references the first message, every message says when it expires, and the area is named by
the places it is about (sites, bases, the sector) as well as drawn as the circle
(``lat,lon radius_km``) or polygon (closed ring of ``lat,lon`` pairs) warned about."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import shapely
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import labels
from service.access.policy import Principal
from service.access.sql import view
from service.alerts.access import ALERT_RECORDS
from service.alerts.texts import published
from service.collections.registry import COLLECTIONS
from service.i18n import N_, SOURCE_LANGUAGE, _, format_moment, in_language

NS = "urn:oasis:names:tc:emergency:cap:1.2"
SEVERITY = {5: "Extreme", 4: "Severe", 3: "Moderate", 2: "Minor", 1: "Minor"}
CATEGORY = {
    "incident_near_site": "Security",
    "incident_cluster": "Security",
    "armed_group_near_site": "Security",
    "risk_threshold": "Security",
    "hotspot": "Security",
}


#: How long an open alert's message stands unless a newer one replaces it: aggregators drop
#: a message after its ``expires``; the next evaluation or a change sends a fresh one.
EXPIRES_AFTER = timedelta(hours=24)
#: The records whose names say where an alert is, and the column holding the name.
PLACE_NAMES = {"idp_sites": "name", "bases": "name", "projects": "title", "actors": "name"}
#: At most this many places are named (an area description is a short text).
MAX_PLACES = 3
MISSION_AREA = N_("Mission area")


def cap_time(moment: datetime) -> str:
    """CAP's dateTime: seconds, and an explicit offset (never ``Z``)."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _ring(shape: Any) -> str:
    polygon = shape if shape.geom_type == "Polygon" else shape.convex_hull
    return " ".join(f"{y:.6f},{x:.6f}" for x, y in polygon.exterior.coords)


def message(alert: Any, sender: str) -> tuple[str, str, datetime, list[str]]:
    """The CAP message of the alert's present state: (identifier, msgType, sent, references).

    The first message is the alert as raised (``Alert``); any change after it (an
    acknowledgement, a new severity) is an ``Update`` with an identifier of its own, and
    closing it a ``Cancel``; both reference the first message (``sender,identifier,sent``)."""
    first = f"civop-alert-{alert.id}"
    raised = alert.triggered_at
    original = f"{sender},{first},{cap_time(raised)}"
    if alert.status == "closed":
        closed = alert.closed_at or alert.updated_at
        return f"{first}-cancel", "Cancel", closed, [original]
    if alert.status == "new" and alert.updated_at <= raised + timedelta(seconds=1):
        return first, "Alert", raised, []
    changed = alert.updated_at
    return f"{first}-update-{int(changed.timestamp())}", "Update", changed, [original]


async def area_description(session: AsyncSession, principal: Principal, alert: Any) -> str:
    """The places the alert is about, as the principal may see them: the names of its sites
    (and bases, projects, actors) and its sector, read through the access views; a name the
    principal may not see is not given."""
    names: list[str] = []
    for collection, column in PLACE_NAMES.items():
        table: Table = COLLECTIONS[collection].table
        v = view(table, principal)
        linked = select(ALERT_RECORDS.c.record_id).where(
            ALERT_RECORDS.c.alert_id == alert.id, ALERT_RECORDS.c.collection == collection
        )
        found = await session.scalars(
            select(v.column(column))
            .where(v.where, table.c.id.in_(linked), v.column(column).is_not(None))
            .order_by(v.column(column))
            .limit(MAX_PLACES)
        )
        names += [str(name) for name in found if name]
    names = names[:MAX_PLACES]
    if alert.sector_id is not None:
        sectors = COLLECTIONS["sectors"].table
        v = view(sectors, principal)
        sector = await session.scalar(
            select(v.column("name")).where(v.where, sectors.c.id == alert.sector_id)
        )
        if sector:
            names.append(str(sector))
    return ", ".join(names)


def cap_document(
    alert: Any,
    sender: str,
    url: str | None = None,
    area_desc: str | None = None,
    languages: Sequence[str] = ("en",),
) -> bytes:
    """One alert (a row from ``get_alert_row``) as a CAP 1.2 message of its present state,
    with one ``<info>`` block per language the mission publishes in (``alert_languages``):
    headline, description, event and area named in that language, the rest the same."""
    ET.register_namespace("", NS)

    def sub(parent: ET.Element, name: str, value: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{NS}}}{name}")
        if value is not None:
            element.text = value
        return element

    identifier, kind, sent, references = message(alert, sender)
    root = ET.Element(f"{{{NS}}}alert")
    sub(root, "identifier", identifier)
    sub(root, "sender", sender)
    sub(root, "sent", cap_time(sent))
    sub(root, "status", "Actual")
    sub(root, "msgType", kind)
    if alert.classification == "public":
        sub(root, "scope", "Public")
    else:
        sub(root, "scope", "Restricted")
        sub(root, "restriction", f"{alert.classification} (civop access rules)")
    if references:
        sub(root, "references", " ".join(references))
    # Languages civop has no catalog for are left out rather than published in English.
    for language in published(languages):
        with in_language(language):
            _info(root, sub, alert, kind, sent, url, area_desc, language)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _info(
    root: ET.Element,
    sub: Any,
    alert: Any,
    kind: str,
    sent: datetime,
    url: str | None,
    area_desc: str | None,
    language: str,
) -> None:
    """One ``<info>`` block, in ``language`` (the current one)."""
    texts = (alert.texts or {}).get(language, {}) if language != SOURCE_LANGUAGE else {}
    info = sub(root, "info")
    sub(info, "language", language)
    sub(info, "category", CATEGORY.get(alert.kind, "Other"))
    sub(info, "event", labels.label(alert.kind, "RuleKind"))
    sub(info, "urgency", "Immediate" if alert.status == "new" else "Expected")
    sub(info, "severity", SEVERITY.get(alert.severity, "Unknown"))
    sub(info, "certainty", "Likely")
    code = sub(info, "eventCode")
    sub(code, "valueName", "civop:kind")
    sub(code, "value", alert.kind)
    sub(info, "effective", cap_time(alert.triggered_at))
    sub(info, "expires", cap_time(sent if kind == "Cancel" else sent + EXPIRES_AFTER))
    sub(info, "senderName", "civop")
    sub(info, "headline", (texts.get("title") or alert.title)[:160])
    description = texts.get("description") or alert.description
    if description:
        # When it was raised, in the mission's local time: CAP's own times stay in UTC.
        raised = _("Raised {moment}.", moment=format_moment(alert.triggered_at))
        sub(info, "description", f"{description} {raised}")
    if url:
        sub(info, "web", url)
    parameter = sub(info, "parameter")
    sub(parameter, "valueName", "civop:status")
    sub(parameter, "value", alert.status)
    area = sub(info, "area")
    sub(area, "areaDesc", area_desc or _(MISSION_AREA))
    if alert.radius_km is not None:
        center = shapely.from_wkb(bytes(alert.center_wkb))
        sub(area, "circle", f"{center.y:.6f},{center.x:.6f} {alert.radius_km:g}")
    else:
        sub(area, "polygon", _ring(shapely.from_wkb(bytes(alert.geom_wkb))))


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
