"""The parts of a report that read as an estimate: what changed and whether it is more than
chance, whose exposure rose, what is overdue, and what to look at first.

Every input is the reader's (``service.access``); each finding carries its evidence (the
counts it rests on) so a reader can weigh it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, and_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import labels
from service.access.policy import Principal
from service.access.sql import view
from service.i18n import _, format_day, format_number
from service.incidents.models import Incident
from service.incidents.verification import counted
from service.sectors.models import Sector

#: Changes listed, and how significant a change must be to be called more than chance.
CHANGES = 5
CHANCE = 0.05
#: A request waiting for a decision longer than this is overdue.
REVIEW_DAYS = 30
WAITING = ("submitted", "under_review", "referred_to_srsg")


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


#: The emerging hot-spot patterns a report names as rising (ESRI's names).
RISING = ("new_hot_spot", "consecutive_hot_spot", "intensifying_hot_spot")


def rising_cells(hotspots: dict[str, Any]) -> list[dict[str, Any]]:
    """The hot-spot cells whose pattern is new, consecutive or intensifying, strongest first
    (as the analysis lists them)."""
    return [c for c in hotspots.get("cells", []) if c.get("pattern") in RISING]


@dataclass(frozen=True)
class Change:
    """Incidents of one category in one area of responsibility, now and the period before."""

    sector: str
    category: str
    now: int
    before: int
    #: Two-sided p of an exact test that both periods share one rate (binomial, given the
    #: total): small means the change is unlikely to be chance.
    p: float

    @property
    def real(self) -> bool:
        return self.p < CHANCE

    def as_dict(self) -> dict[str, Any]:
        return {
            "sector": self.sector,
            "category": self.category,
            "now": self.now,
            "before": self.before,
            "change": self.now - self.before,
            "p": round(self.p, 4),
            "real": self.real,
        }

    @property
    def text(self) -> str:
        values = {
            "category": labels.label(self.category),
            "sector": self.sector,
            "before": format_number(self.before),
            "now": format_number(self.now),
            "p": f"{self.p:.2g}",
        }
        if self.now > self.before:
            if self.real:
                return _(
                    "{category} in {sector} up from {before} to {now} (unlikely to be chance, p = {p})",
                    **values,
                )
            return _(
                "{category} in {sector} up from {before} to {now} (within what chance alone would give, p = {p})",
                **values,
            )
        if self.real:
            return _(
                "{category} in {sector} down from {before} to {now} (unlikely to be chance, p = {p})",
                **values,
            )
        return _(
            "{category} in {sector} down from {before} to {now} (within what chance alone would give, p = {p})",
            **values,
        )


async def changes(
    session: AsyncSession,
    principal: Principal,
    area: Any,
    start: datetime,
    end: datetime,
    *,
    verified_only: bool = True,
) -> list[Change]:
    """The largest changes of incident counts by area of responsibility and category against
    the period of the same length before, largest first, each tested against chance."""
    import shapely

    before_start = start - (end - start)
    incidents = view(_table(Incident), principal)
    sectors = view(_table(Sector), principal)
    occurred = incidents.column("occurred_at")
    area_literal = func.ST_GeomFromWKB(literal(shapely.to_wkb(area)), 4326)
    for level in ("battalion", "sector"):
        statement = (
            select(
                sectors.column("name"),
                incidents.column("category"),
                func.count().filter(occurred >= start),
                func.count().filter(occurred < start),
            )
            .select_from(
                incidents.table.join(
                    sectors.table,
                    func.ST_Intersects(sectors.column("geom"), incidents.column("geom")),
                )
            )
            .where(
                incidents.where,
                sectors.where,
                sectors.exact,
                sectors.column("level") == level,
                and_(occurred >= before_start, occurred < end),
                incidents.column("geom").op("&&")(func.ST_MakeEnvelope(*area.bounds, 4326)),
                func.ST_Intersects(incidents.column("geom"), area_literal),
                *counted(incidents, principal, verified_only=verified_only),
            )
            .group_by(sectors.column("name"), incidents.column("category"))
        )
        rows = (await session.execute(statement)).all()
        if rows:
            break
    found = []
    for name, category, now, before in rows:
        now, before = int(now), int(before)
        if now == before:
            continue
        # SciPy's statistics take half a second to import: only a report that has changes
        # to weigh pays it, not every process that serves or runs reports.
        from scipy.stats import binomtest

        p = float(binomtest(now, now + before, 0.5).pvalue)
        found.append(Change(str(name), str(category), now, before, p))
    found.sort(key=lambda c: (-abs(c.now - c.before), c.p))
    return found[:CHANGES]


def exposure_rises(
    now: dict[str, Any], before: dict[str, Any], top: int = 5
) -> list[dict[str, Any]]:
    """Sites whose exposure rose most from the period before (two exposure answers)."""
    earlier = {f["id"]: f["properties"] for f in before["features"]}
    rises = []
    for feature in now["features"]:
        props = feature["properties"]
        then = earlier.get(feature["id"])
        was = float(then["exposure"] or 0.0) if then else 0.0
        rise = float(props["exposure"] or 0.0) - was
        if rise <= 0:
            continue
        rises.append(
            {
                "name": props["name"],
                "generalised": props["generalised"],
                "population": props["population"],
                "exposure": props["exposure"],
                "before": round(was, 3),
                "rise": round(rise, 3),
                "incidents": props["incidents"],
                "why": props["why"][:1],
            }
        )
    rises.sort(key=lambda r: -r["rise"])
    return rises[:top]


def overdue_projects(projects: list[dict[str, Any]], end: datetime) -> list[dict[str, Any]]:
    """Projects still ongoing after their end date, longest overdue first."""
    today = end.date()
    late = [
        {**p, "days_late": (today - p["end_date"]).days}
        for p in projects
        if p["status"] == "ongoing"
        and isinstance(p.get("end_date"), date)
        and p["end_date"] < today
    ]
    late.sort(key=lambda p: -p["days_late"])
    return late


def overdue_requests(requests: list[dict[str, Any]], end: datetime) -> list[dict[str, Any]]:
    """Requests waiting for a decision for more than :data:`REVIEW_DAYS` days."""
    late = []
    for request in requests:
        asked = request.get("requested_at")
        if request["status"] not in WAITING or asked is None:
            continue
        waiting = (end - asked).days
        if waiting > REVIEW_DAYS:
            late.append({**request, "days_waiting": waiting})
    late.sort(key=lambda r: (not r.get("life_saving"), -r["days_waiting"]))
    return late


def look_first(report: Any) -> list[str]:
    """What a commander should look at first: at most five items, most pressing first."""
    items: list[str] = []
    for request in report.overdue_requests:
        if request.get("life_saving"):
            items.append(
                _(
                    "A life-saving request, \u201c{title}\u201d, has waited {days} days for a decision.",
                    title=request["title"],
                    days=request["days_waiting"],
                )
            )
    if report.exposure_rises:
        top = report.exposure_rises[0]
        name = top["name"] or _("a site shown generalised")
        items.append(
            _(
                "Exposure of {site} rose from {before} to {now} ({count} incidents within 20 km).",
                site=name,
                before=format_number(top["before"], digits=1),
                now=format_number(top["exposure"], digits=1),
                count=top["incidents"],
            )
        )
    rising = rising_cells(report.hotspots)
    if rising:
        items.append(
            _(
                "{pattern} {place}: {count} incidents in and around the cell.",
                pattern=labels.label(rising[0]["trend"]),
                place=rising[0]["place"],
                count=rising[0]["incidents"],
            )
        )
    real = [c for c in report.changes if c["real"] and c["change"] > 0]
    if real:
        c = real[0]
        items.append(
            _(
                "{category} in {sector} rose from {before} to {now}, more than chance would give.",
                category=labels.label(c["category"]),
                sector=c["sector"],
                before=c["before"],
                now=c["now"],
            )
        )
    gaps = report.coverage_gaps.get("sites", [])
    if gaps and report.patrols_visible:
        biggest = max(gaps, key=lambda s: s.get("population") or 0)
        if biggest.get("population"):
            items.append(
                _(
                    "{site} ({people} people) had no patrol within 5 km in 14 days.",
                    site=biggest["name"] or _("A site shown generalised"),
                    people=format_number(biggest["population"]),
                )
            )
    if report.overdue_projects:
        p = report.overdue_projects[0]
        items.append(
            _(
                "Project \u201c{title}\u201d is still ongoing {days} days after its end date.",
                title=p["title"] or _("shown generalised"),
                days=p["days_late"],
            )
        )
    return items[:5]


def follow_ups(report: Any) -> list[str]:
    """What the incoming commander must follow up (hand-over), one line each."""
    items = []
    for p in report.overdue_projects:
        items.append(
            _(
                "Project \u201c{title}\u201d: still ongoing {days} days after its end ({end}); confirm it or close it.",
                title=p["title"] or _("shown generalised"),
                days=p["days_late"],
                end=format_day(p["end_date"]),
            )
        )
    for q in report.open_requests:
        if q["status"] in WAITING:
            if q.get("requested_at"):
                text = _(
                    "Request \u201c{title}\u201d ({status}, waiting {days} days): obtain the decision.",
                    title=q["title"],
                    status=labels.label(q["status"]),
                    days=(report.end - q["requested_at"]).days,
                )
            else:
                text = _(
                    "Request \u201c{title}\u201d ({status}): obtain the decision.",
                    title=q["title"],
                    status=labels.label(q["status"]),
                )
            items.append(text)
        elif q["status"] == "approved":
            items.append(
                _(
                    "Request \u201c{title}\u201d approved: see it delivered and recorded.",
                    title=q["title"],
                )
            )
    open_alerts = [a for a in report.alerts if a["status"] != "closed"]
    if open_alerts:
        items.append(
            _(
                "{count} alert(s) still open: review and close or act on them.",
                count=len(open_alerts),
            )
        )
    if report.patrols_visible and report.coverage_gaps.get("summary", {}).get("gaps"):
        summary = report.coverage_gaps["summary"]
        items.append(
            _(
                "{count} open IDP site(s) without a patrol in 14 days ({people} people): plan patrols.",
                count=summary["gaps"],
                people=format_number(summary["people_in_gaps"]),
            )
        )
    for group in report.armed_groups_near_sites[:3]:
        if group["distance_km"] is not None:
            items.append(
                _(
                    "{group} {km} km from {site}: keep watching.",
                    group=group["group"] or _("An armed group"),
                    km=format_number(group["distance_km"], digits=1),
                    site=group["site"] or _("a site shown generalised"),
                )
            )
    return items
