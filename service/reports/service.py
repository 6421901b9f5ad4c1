"""The CIV-OES brief and the hand-over report: every figure gathered for one principal.

Every input is read through the principal's views (``service.access``), mostly by the
protection-of-civilians analyses of :mod:`service.analysis.service` run with the principal:
a record hidden from the reader never enters a count, a chart, a table or the map, and a
generalised record enters only at its generalised place, without its sensitive fields.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import orjson
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Table, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from geo.analysis.exposure import ExposureParameters
from geo.analysis.geodesy import geodesic_km
from geo.analysis.risk import RiskParameters
from geo.places import relation
from service.access.policy import Principal, policy_for
from service.access.sql import view
from service.actors.models import Actor
from service.alerts.service import AlertQuery, list_alerts
from service.analysis import service as analysis
from service.analysis.naming import where_is
from service.config import get_settings
from service.enums import Classification
from service.errors import InvalidInput
from service.i18n import N_, _, format_number, format_percent
from service.incidents.models import Incident
from service.incidents.verification import counted
from service.patrols.models import OperatingBase
from service.projects.models import Project
from service.reports import estimate
from service.requests.models import AssistanceRequest
from service.requests.workflow import OPEN
from service.sectors.models import Sector
from service.sites.models import IdpSite

Kind = Literal["civ-oes", "handover"]
TITLES: dict[str, str] = {
    "civ-oes": N_("Civil Operational Estimate (CIV-OES) brief"),
    "handover": N_("Hand-over report: the protection of civilians in the area"),
}
#: The period a report covers when none is given: a brief looks at the last month, a
#: hand-over at the last quarter.
DEFAULT_DAYS: dict[str, int] = {"civ-oes": 30, "handover": 90}
#: Rows in the report's tables.
TOP = 10


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _area_literal(area: BaseGeometry) -> Any:
    return func.ST_GeomFromWKB(literal(shapely.to_wkb(area)), 4326)


def _json(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(text)
    return loaded


@dataclass(frozen=True)
class ReportQuery:
    """What a report covers: its kind, the area (a sector and/or a bbox) and the period."""

    kind: Kind
    sector: uuid.UUID | None = None
    bbox: tuple[float, float, float, float] | None = None
    start: datetime | None = None
    end: datetime | None = None
    #: Count verified incidents only (the default): a brief rests on established facts.
    verified_only: bool = True


@dataclass
class MapLayers:
    """What the map draws, all as the reader sees it."""

    area: BaseGeometry
    sectors: list[dict[str, Any]] = field(default_factory=list)
    incidents: dict[str, Any] = field(default_factory=dict)
    sites: list[dict[str, Any]] = field(default_factory=list)
    patrols: list[BaseGeometry] = field(default_factory=list)
    bases: list[BaseGeometry] = field(default_factory=list)
    hot_cells: list[dict[str, Any]] = field(default_factory=list)
    projects_at_risk: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: The most exposed IDP sites, numbered on the map.
    exposed: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Report:
    """Everything a report shows; rendered by :mod:`service.reports.render`."""

    kind: Kind
    title: str
    area_name: str
    area_bounds: tuple[float, float, float, float]
    start: datetime
    end: datetime
    generated_at: datetime
    reader: str
    reader_role: str
    cleared_for: list[str]
    figures: dict[str, Any]
    categories: list[dict[str, Any]]
    trend: dict[str, Any]
    exposed_sites: list[dict[str, Any]]
    hotspots: dict[str, Any]
    coverage_gaps: dict[str, Any]
    projects_at_risk: list[dict[str, Any]]
    sites_without_partner: list[dict[str, Any]]
    open_requests: list[dict[str, Any]]
    requests_by_status: dict[str, int]
    alerts: list[dict[str, Any]]
    profile: dict[str, Any]
    armed_groups_near_sites: list[dict[str, Any]]
    ongoing_projects: list[dict[str, Any]]
    key_points: list[str]
    notes: list[str]
    layers: MapLayers
    images: dict[str, bytes] = field(default_factory=dict)
    #: The largest changes by area of responsibility and category, each tested against chance.
    changes: list[dict[str, Any]] = field(default_factory=list)
    #: The sites whose exposure rose most from the period before.
    exposure_rises: list[dict[str, Any]] = field(default_factory=list)
    overdue_projects: list[dict[str, Any]] = field(default_factory=list)
    overdue_requests: list[dict[str, Any]] = field(default_factory=list)
    #: What a commander should look at first.
    look_first: list[str] = field(default_factory=list)
    #: What the incoming commander must follow up (hand-over report).
    follow_ups: list[str] = field(default_factory=list)
    #: Whether the reader sees every patrol: if not, "no patrol" is not known, only unseen.
    patrols_visible: bool = True

    @property
    def period_days(self) -> int:
        return max(1, round((self.end - self.start).total_seconds() / 86_400))


async def _area_name(
    session: AsyncSession, principal: Principal, query: ReportQuery, area: BaseGeometry
) -> str:
    parts = []
    if query.sector is not None:
        v = view(_table(Sector), principal)
        name = await session.scalar(
            select(v.column("name")).where(v.where, v.table.c.id == query.sector)
        )
        parts.append(str(name) if name else _("the sector"))
    if query.bbox is not None:
        x0, y0, x1, y1 = query.bbox
        # The corners as the bbox parameter writes them (dots, a comma between).
        south_west, north_east = f"{x0:g},{y0:g}", f"{x1:g},{y1:g}"
        parts.append(
            _("box {south_west} to {north_east}", south_west=south_west, north_east=north_east)
        )
    if len(parts) == 2:
        return _("{sector} within {box}", sector=parts[0], box=parts[1])
    return parts[0] if parts else _("the area")


async def _incident_figures(
    session: AsyncSession,
    principal: Principal,
    area: BaseGeometry,
    start: datetime,
    end: datetime,
    verified_only: bool = True,
) -> dict[str, dict[str, int]]:
    """Incidents in the area and window by category: count and casualties."""
    v = view(_table(Incident), principal)
    occurred = v.column("occurred_at")
    statement = (
        select(
            v.column("category"),
            func.count(),
            func.coalesce(func.sum(v.column("killed")), 0),
            func.coalesce(func.sum(v.column("injured")), 0),
            func.coalesce(func.sum(v.column("displaced")), 0),
        )
        .where(
            v.where,
            occurred >= start,
            occurred < end,
            v.column("geom").op("&&")(func.ST_MakeEnvelope(*area.bounds, 4326)),
            func.ST_Intersects(v.column("geom"), _area_literal(area)),
            *counted(v, principal, verified_only=verified_only),
        )
        .group_by(v.column("category"))
    )
    rows: list[Any] = list((await session.execute(statement)).all())
    return {
        str(row[0]): {
            "incidents": int(row[1]),
            "killed": int(row[2]),
            "injured": int(row[3]),
            "displaced": int(row[4]),
        }
        for row in rows
    }


def _bucket(days: float) -> tuple[str, int]:
    """Bars of a day, a week or a month, so a chart has a readable number of them."""
    if days <= 21:
        return "day", 1
    if days <= 200:
        return "week", 7
    return "month", 30


def _trend(
    incidents: analysis.IncidentArrays, area: BaseGeometry, scope: analysis.Scope
) -> dict[str, Any]:
    """Incident counts per category and time bucket, inside the area."""
    inside = shapely.contains_xy(area, incidents.lon, incidents.lat) if len(incidents) else []
    at = incidents.at[inside] if len(incidents) else np.empty(0)
    category = incidents.category[inside] if len(incidents) else np.empty(0, dtype=np.int64)
    unit, days = _bucket(scope.days)
    width = days * 86_400.0
    edges = np.arange(scope.start.timestamp(), scope.end.timestamp() + width, width)
    counts: dict[str, list[int]] = {}
    for code, name in enumerate(analysis.CATEGORIES):
        chosen = at[category == code]
        if chosen.size:
            counts[name] = np.histogram(chosen, bins=edges)[0].astype(int).tolist()
    return {
        "unit": unit,
        "starts": [datetime.fromtimestamp(float(e), UTC) for e in edges[:-1]],
        "counts": counts,
    }


async def _map_layers(
    session: AsyncSession, principal: Principal, scope: analysis.Scope
) -> MapLayers:
    area = scope.area
    assert area is not None
    layers = MapLayers(area=area)
    v = view(_table(Sector), principal)
    envelope = func.ST_MakeEnvelope(*area.bounds, 4326)
    rows = (
        await session.execute(
            select(
                func.ST_AsBinary(v.column("geom")),
                v.column("name"),
                v.column("level"),
            ).where(v.where, func.ST_Intersects(v.column("geom"), envelope))
        )
    ).all()
    for wkb, name, level in rows:
        shape = shapely.from_wkb(bytes(wkb))
        if shape.geom_type in ("Polygon", "MultiPolygon"):  # a generalised area is only a point
            layers.sectors.append({"shape": shape, "name": name, "level": level})
    incidents = await analysis.fetch_incidents(session, principal, scope, margin_km=0.0)
    inside = shapely.contains_xy(area, incidents.lon, incidents.lat) if len(incidents) else []
    layers.incidents = {
        "lon": incidents.lon[inside] if len(incidents) else np.empty(0),
        "lat": incidents.lat[inside] if len(incidents) else np.empty(0),
        "category": [analysis.CATEGORIES[c] for c in incidents.category[inside].tolist()]
        if len(incidents)
        else [],
    }
    sites = await analysis.fetch_places(
        session, principal, IdpSite, analysis.SITE_FIELDS, area=area
    )
    layers.sites = [
        {"shape": shape, **props}
        for shape, props in zip(sites.shapes, sites.properties, strict=True)
    ]
    patrols = await analysis.fetch_patrols(
        session, principal, scope, since=scope.start, margin_km=0.0
    )
    layers.patrols = [route for route in patrols.routes.tolist() if route.intersects(area)]
    bases = await analysis.fetch_places(session, principal, OperatingBase, ("name",), area=area)
    layers.bases = list(bases.shapes)
    return layers


async def _open_requests(
    session: AsyncSession, principal: Principal, area: BaseGeometry
) -> tuple[list[dict[str, Any]], dict[str, int], list[dict[str, Any]]]:
    """Open requests in the area (with the requester's name as seen), every request's
    state, and the places of the open ones for the map."""
    v = view(_table(AssistanceRequest), principal)
    requester = view(_table(Actor), principal).select().subquery("requester")
    in_area = [
        v.where,
        v.column("geom").op("&&")(func.ST_MakeEnvelope(*area.bounds, 4326)),
        func.ST_Intersects(v.column("geom"), _area_literal(area)),
    ]
    by_status = {
        str(status): int(count)
        for status, count in (
            await session.execute(
                select(v.column("status"), func.count())
                .where(*in_area)
                .group_by(v.column("status"))
            )
        ).all()
    }
    statement = (
        select(
            v.column("title"),
            v.column("capability"),
            v.column("status"),
            v.column("life_saving"),
            v.column("needed_from"),
            v.column("needed_until"),
            v.column("requested_at"),
            v.column("humanitarian_decision"),
            v.column("military_decision"),
            requester.c.name.label("requester"),
            func.ST_AsBinary(v.column("geom")).label("wkb"),
        )
        .select_from(v.table)
        .outerjoin(requester, requester.c.id == v.column("requesting_actor_id"))
        .where(*in_area, v.column("status").in_([s.value for s in OPEN]))
        .order_by(v.column("needed_from"), v.table.c.id)
    )
    rows = [dict(row._mapping) for row in (await session.execute(statement)).all()]
    places = [
        {"shape": shapely.from_wkb(bytes(row.pop("wkb"))), "status": row["status"]} for row in rows
    ]
    return rows, by_status, places


async def _alerts(
    session: AsyncSession, principal: Principal, area: BaseGeometry, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Alerts raised in the period over the area, and alerts still open, as the reader sees them."""
    features, _total = await list_alerts(
        session, principal, AlertQuery(bbox=area.bounds, limit=200)
    )
    found = []
    for text in features:
        alert = _json(text)["properties"]
        triggered = datetime.fromisoformat(str(alert["triggered_at"]).replace("Z", "+00:00"))
        recent = start <= triggered < end
        if recent or (alert["status"] != "closed" and triggered < end):
            found.append({**alert, "triggered": triggered, "recent": recent})
    found.sort(key=lambda a: a["triggered"], reverse=True)
    return found


async def _profile(
    session: AsyncSession, principal: Principal, area: BaseGeometry, end: datetime
) -> dict[str, Any]:
    """Who and what is in the area, as the reader sees it."""
    sites = await analysis.fetch_places(
        session, principal, IdpSite, analysis.SITE_FIELDS, area=area
    )
    open_sites = [p for p in sites.properties if p["status"] == "open"]
    actors = await analysis.fetch_places(
        session, principal, Actor, analysis.ACTOR_FIELDS, area=area
    )
    bases = await analysis.fetch_places(session, principal, OperatingBase, ("name",), area=area)
    return {
        "open_sites": len(open_sites),
        "idp_population": sum(int(p["population_individuals"] or 0) for p in open_sites),
        "sites_without_figure": sum(p["population_individuals"] is None for p in open_sites),
        "humanitarian_actors": sum(bool(p["humanitarian"]) for p in actors.properties),
        "armed_groups": sum(p["category"] == "armed_group" for p in actors.properties),
        "bases": len(bases),
    }


async def _ongoing_projects(
    session: AsyncSession, principal: Principal, area: BaseGeometry
) -> list[dict[str, Any]]:
    v = view(_table(Project), principal)
    projects = await analysis.fetch_places(
        session,
        principal,
        Project,
        (*analysis.PROJECT_FIELDS, "end_date"),
        [v.column("status").in_(["approved", "ongoing"])],
        area=area,
    )
    listed = sorted(projects.properties, key=lambda p: (p["end_date"] is None, p["end_date"]))
    return listed


def _exposed(layer: dict[str, Any]) -> list[dict[str, Any]]:
    sites = []
    for feature in layer["features"]:
        props = feature["properties"]
        if not props["hazard"]:
            continue
        sites.append(
            {
                "rank": props["rank"],
                "name": props["name"],
                "generalised": props["generalised"],
                "population": props["population"],
                "exposure": props["exposure"],
                "incidents": props["incidents"],
                "why": props["why"],
                "point": feature["geometry"],
            }
        )
    return sites


def _hot_cells(layer: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "cell": f["properties"]["cell"],
            "ring": f["geometry"]["coordinates"][0],
            "incidents": f["properties"]["incidents"],
            "z": f["properties"]["z"],
            "confidence": f["properties"]["confidence"],
        }
        for f in layer["features"]
        if f["properties"]["hotspot"] == "hot"
    ]


def _pattern_words(pattern: str | None) -> str | None:
    """``"new_hot_spot"`` as "new hot spot"."""
    return pattern.replace("_", " ") if pattern else None


async def _cell_place(
    session: AsyncSession,
    principal: Principal,
    ring: list[list[float]],
    sites: analysis.Places,
) -> str:
    """Where a hot-spot cell is, in words: from the nearest IDP site the reader sees exactly
    (within 15 km), else from the gazetteer's nearest place, and the sector."""
    centre = shapely.Polygon(ring).centroid
    where = await where_is(session, principal, centre.x, centre.y)
    near = None
    if len(sites):
        exact = [k for k, p in enumerate(sites.properties) if not p["generalised"] and p["name"]]
        if exact:
            km = geodesic_km(centre.x, centre.y, sites.lon[exact], sites.lat[exact])
            best = int(np.argmin(km))
            if float(km[best]) <= 15.0:
                k = exact[best]
                near = relation(
                    sites.properties[k]["name"], float(sites.lon[k]), float(sites.lat[k]),
                    centre.x, centre.y,
                ).phrase  # fmt: skip
    parts = [p for p in (near or where.place,) if p]
    head = parts[0] if parts else f"near {centre.y:.3f}, {centre.x:.3f}"
    return f"{head} ({where.sector})" if where.sector else head


async def _hotspots(
    session: AsyncSession, principal: Principal, scope: analysis.Scope, notes: list[str]
) -> dict[str, Any]:
    """Gi* hot spots now, and each hot cell's trend over the windows before."""
    try:
        current = _json(
            await analysis.hotspot_layer(session, principal, scope, analysis.HotspotOptions())
        )
        emerging = _json(
            await analysis.emerging_layer(session, principal, scope, analysis.EmergingOptions())
        )
    except InvalidInput as error:
        notes.append(_("Hot spots: not computed ({reason}).", reason=error.message))
        return {"cells": [], "trend": {}, "windows": [], "summary": {}, "tested": False}
    if not current["summary"].get("tested", True):
        notes.append(_("Hot spots: not tested ({reason}).", reason=current["summary"]["reason"]))
    cells = _hot_cells(current)
    sites = await analysis.fetch_sites(session, principal, scope)
    trend_of = {f["properties"]["cell"]: f["properties"] for f in emerging["features"]}
    for cell in cells:
        known = trend_of.get(cell["cell"])
        cell["trend"] = _pattern_words(known["pattern"]) if known else None
        cell["pattern"] = known["pattern"] if known else None
        cell["counts"] = known["incidents"] if known else None
        cell["place"] = await _cell_place(session, principal, cell["ring"], sites)
    cells.sort(key=lambda c: -(c["z"] or 0.0))
    diminishing = [
        {
            "cell": p["cell"],
            "place": await _cell_place(session, principal, f["geometry"]["coordinates"][0], sites),
            "counts": p["incidents"],
        }
        for f in emerging["features"]
        if (p := f["properties"])["pattern"] in ("diminishing_hot_spot", "historical_hot_spot")
    ][:8]
    windows = emerging["summary"]["windows"]
    return {
        "cells": cells,
        "diminishing": diminishing,
        "trend": {
            _pattern_words(name): count
            for name, count in emerging["summary"]["patterns"].items()
            if count
        },
        "tested": current["summary"].get("tested", True),
        "reason": current["summary"].get("reason"),
        "windows": [
            {
                "start": datetime.fromisoformat(str(w["start"]).replace("Z", "+00:00")),
                "incidents": n,
                "hot_spots": h,
            }
            for w, n, h in zip(
                windows,
                emerging["summary"]["incidents"],
                emerging["summary"]["hot_spots"],
                strict=True,
            )
        ],
        "summary": current["summary"],
    }


def _key_points(report: Report) -> list[str]:
    """What the reader should take away, from the figures above (never from anything else)."""
    points = []
    now = report.figures["incidents"]
    before = report.figures["incidents_before"]
    if before:
        points.append(
            _(
                "{count} incidents in the area over {days} days ({change} on the period before).",
                count=format_number(now),
                days=report.period_days,
                change=format_percent((now - before) / before, signed=True),
            )
        )
    else:
        points.append(
            _(
                "{count} incidents in the area over {days} days.",
                count=format_number(now),
                days=report.period_days,
            )
        )
    if report.exposed_sites:
        top = report.exposed_sites[0]
        name = top["name"] or _("a site shown generalised")
        points.append(
            _(
                "Most exposed IDP site: {site} ({count} incidents within 20 km, population {population}).",
                site=name,
                count=top["incidents"],
                population=format_number(top["population"]) if top["population"] else _("unknown"),
            )
        )
    rising = estimate.rising_cells(report.hotspots)
    if rising:
        points.append(
            _(
                "{count} hot-spot cell(s) new, consecutive or intensifying, the strongest {place}.",
                count=len(rising),
                place=rising[0]["place"],
            )
        )
    gaps = report.coverage_gaps.get("summary", {})
    if gaps.get("gaps") and report.patrols_visible:
        points.append(
            _(
                "{count} open IDP site(s) with no patrol within 5 km in the last 14 days ({people} people).",
                count=gaps["gaps"],
                people=format_number(gaps["people_in_gaps"]),
            )
        )
    if report.projects_at_risk:
        points.append(
            _(
                "{count} active project(s) in high-risk cells.",
                count=len(report.projects_at_risk),
            )
        )
    waiting = sum(
        1
        for r in report.open_requests
        if r["status"] in ("submitted", "under_review", "referred_to_srsg")
    )
    if report.open_requests:
        points.append(
            _(
                "{count} open request(s) for civil assistance, {waiting} waiting for a decision.",
                count=len(report.open_requests),
                waiting=waiting,
            )
        )
    recent = [a for a in report.alerts if a["recent"]]
    if recent:
        points.append(_("{count} alert(s) raised in the period.", count=len(recent)))
    for shift in report.changes[:3]:
        points.append(shift["text"] + ".")
    if report.overdue_requests:
        points.append(
            _(
                "{count} request(s) waiting more than {days} days for a decision.",
                count=len(report.overdue_requests),
                days=estimate.REVIEW_DAYS,
            )
        )
    if report.overdue_projects:
        points.append(
            _(
                "{count} project(s) still ongoing past their end date.",
                count=len(report.overdue_projects),
            )
        )
    return points


async def _period_and_scope(
    session: AsyncSession, principal: Principal, query: ReportQuery
) -> tuple[datetime, datetime, analysis.Scope]:
    """The report's period and the area it covers, as ``principal`` may see it."""
    end = query.end or datetime.now(UTC)
    start = query.start or end - timedelta(days=DEFAULT_DAYS[query.kind])
    if end <= start:
        raise InvalidInput(["query", "end"], _("the period ends before it starts"))
    scope = await analysis.resolve_scope(
        session,
        principal,
        sector=query.sector,
        bbox=query.bbox,
        interval=(start, end),
        categories=None,
        require_area=True,
        verified_only=query.verified_only,
    )
    return start, end, scope


async def check_report(session: AsyncSession, principal: Principal, query: ReportQuery) -> None:
    """The checks of ``build_report`` that are cheap: a refused area or period is answered at
    once (4xx), before the report is queued for a worker."""
    await _period_and_scope(session, principal, query)


async def build_report(session: AsyncSession, principal: Principal, query: ReportQuery) -> Report:
    """Gather a report for ``principal``: every figure from what the principal may see."""
    start, end, scope = await _period_and_scope(session, principal, query)
    area = scope.area
    assert area is not None
    notes: list[str] = []
    only = query.verified_only
    categories_now = await _incident_figures(session, principal, area, start, end, only)
    length = end - start
    categories_before = await _incident_figures(
        session, principal, area, start - length, start, only
    )
    names = sorted(
        set(categories_now) | set(categories_before),
        key=lambda n: -categories_now.get(n, {}).get("incidents", 0),
    )
    empty = {"incidents": 0, "killed": 0, "injured": 0, "displaced": 0}
    categories: list[dict[str, Any]] = [
        {
            "category": name,
            **categories_now.get(name, empty),
            "before": categories_before.get(name, empty)["incidents"],
        }
        for name in names
    ]
    incidents = await analysis.fetch_incidents(session, principal, scope, margin_km=0.0)
    trend = await asyncio.to_thread(_trend, incidents, area, scope)
    exposure_all = _json(
        await analysis.exposure_layer(session, principal, scope, ExposureParameters())
    )
    exposure = {**exposure_all, "features": exposure_all["features"][:TOP]}
    before = analysis.Scope(area, start - length, start, verified_only=only)
    exposure_before = _json(
        await analysis.exposure_layer(session, principal, before, ExposureParameters())
    )
    found_changes = await estimate.changes(session, principal, area, start, end, verified_only=only)
    coverage = _json(
        await analysis.coverage_gap_layer(session, principal, scope, analysis.CoverageOptions())
    )
    opportunities = _json(
        await analysis.opportunities_layer(
            session, principal, scope, RiskParameters(), analysis.OpportunityOptions()
        )
    )
    hotspots = await _hotspots(session, principal, scope, notes)
    open_requests, by_status, request_places = await _open_requests(session, principal, area)
    alerts = await _alerts(session, principal, area, start, end)
    layers = await _map_layers(session, principal, scope)
    layers.hot_cells = hotspots["cells"]
    layers.requests = request_places
    at_risk = [
        f["properties"] | {"point": f["geometry"]}
        for f in opportunities["features"]
        if f["properties"]["finding"] == "project_in_high_risk_cell"
    ]
    at_risk.sort(key=lambda p: -(p["risk"] or 0.0))
    layers.projects_at_risk = at_risk
    without_partner = [
        f["properties"]
        for f in opportunities["features"]
        if f["properties"]["finding"] == "site_without_humanitarian_partner"
    ]
    profile: dict[str, Any] = {}
    armed: list[dict[str, Any]] = []
    if query.kind == "handover":
        profile = await _profile(session, principal, area, end)
        proximity = _json(
            await analysis.proximity_layer(
                session, principal, scope, analysis.ProximityOptions(radius_km=15.0)
            )
        )
        for feature in proximity["features"]:
            props = feature["properties"]
            group = props["nearest_armed_group"]
            if (
                group is not None
                and group["distance_km"] is not None
                and group["distance_km"] <= 15
            ):
                # A distance to or from a generalised location is not the distance between
                # the records: it is not stated.
                exact = not group["generalised"] and not props["generalised"]
                armed.append(
                    {
                        "site": props["name"],
                        "population": props["population"],
                        "group": group["name"],
                        "distance_km": group["distance_km"] if exact else None,
                        "incidents": props["incidents"],
                        "last_patrol": props["last_patrol"],
                    }
                )
        armed.sort(key=lambda a: (a["distance_km"] is None, a["distance_km"] or 0.0))
    ongoing = await _ongoing_projects(session, principal, area)
    cleared = sorted(principal.cleared_for, key=list(Classification).index)
    if Classification.restricted not in principal.cleared_for:
        notes.append(
            _(
                "Restricted records (among them every report of sexual violence) are not in this "
                "report: the account it was made for is not cleared for them."
            )
        )
    figures = {
        "incidents": sum(c["incidents"] for c in categories),
        "incidents_before": sum(c["before"] for c in categories),
        "killed": sum(c["killed"] for c in categories),
        "injured": sum(c["injured"] for c in categories),
        "displaced": sum(c["displaced"] for c in categories),
        "sites_exposed": exposure["summary"]["sites_exposed"],
        "sites": exposure["summary"]["sites"],
        "hot_spots": hotspots.get("summary", {}).get("hot_spots", 0),
        "coverage_gaps": coverage["summary"]["gaps"],
        "people_in_gaps": coverage["summary"]["people_in_gaps"],
        "projects_at_risk": len(at_risk),
        "open_requests": len(open_requests),
        "alerts": sum(1 for a in alerts if a["recent"]),
    }
    report = Report(
        kind=query.kind,
        title=_(TITLES[query.kind]),
        area_name=await _area_name(session, principal, query, area),
        area_bounds=area.bounds,
        start=start,
        end=end,
        generated_at=datetime.now(UTC),
        reader=principal.username,
        reader_role=principal.role.value,
        cleared_for=[c.value for c in cleared],
        figures=figures,
        categories=categories,
        trend=trend,
        exposed_sites=_exposed(exposure),
        hotspots=hotspots,
        coverage_gaps={
            "summary": coverage["summary"],
            "sites": [f["properties"] for f in coverage["features"]][: TOP * 2],
        },
        projects_at_risk=at_risk,
        sites_without_partner=without_partner,
        open_requests=open_requests,
        requests_by_status=by_status,
        alerts=alerts,
        profile=profile,
        armed_groups_near_sites=armed,
        ongoing_projects=ongoing,
        key_points=[],
        notes=notes,
        layers=layers,
    )
    report.changes = [c.as_dict() | {"text": c.text} for c in found_changes]
    report.exposure_rises = estimate.exposure_rises(exposure_all, exposure_before)
    report.overdue_projects = estimate.overdue_projects(ongoing, end)
    report.overdue_requests = estimate.overdue_requests(open_requests, end)
    report.patrols_visible = _sees_every("patrols", principal)
    if not report.patrols_visible:
        notes.append(
            _(
                "Patrols are not all visible to this account: where no patrol is shown, none "
                "may have been seen rather than none conducted, so coverage gaps are not stated."
            )
        )
    report.key_points = _key_points(report)
    report.look_first = estimate.look_first(report)
    if query.kind == "handover":
        report.follow_ups = estimate.follow_ups(report)
        report.ongoing_projects = ongoing
    else:
        report.ongoing_projects = []
    layers.exposed = report.exposed_sites
    return report


def _sees_every(collection: str, principal: Principal) -> bool:
    """Whether no record of the collection is hidden from the principal."""
    policy = policy_for(collection, get_settings().policies)
    return all(c in principal.cleared_for or policy.action(c) != "hide" for c in Classification)
