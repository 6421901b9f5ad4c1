"""The rule engine: which records raise which alerts. The spatial and temporal work is done in
SQL (``ST_DWithin`` on geography, with a bounding-box test first so the GiST indexes are
used); Python only writes the alerts found, de-duplicated by ``(rule, dedup_key)``.

Alerts are raised for the records that changed since the engine last looked: the engine reads
the ``events`` log (written by triggers in the same transaction as each change), so API writes,
imports and other processes' writes are all covered. The time-based rules (risk threshold,
hot spots) are in :mod:`service.alerts.scheduled`.

Which incidents the rules read (docs/analysts.md, *Early warning*): field reports not yet judged (``reported``)
raise alerts at once, saying the report is unverified (early warning does not wait for a
judgement); discredited reports and reports merged into another incident (``duplicate_of_id``
set, the incident kept stands for both) raise none and count in no cluster.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import CLASSIFICATION_RANK_SQL
from service.alerts.texts import Label, Moment, Number, Say, rendered
from service.i18n import N_

log = logging.getLogger("civop.alerts")
KM_PER_DEGREE = 111.32

#: The classifications from the least to the most restrictive, as an SQL array (the enum's order).
RANK = CLASSIFICATION_RANK_SQL


def _most_restrictive(*columns: str) -> str:
    positions = ", ".join(f"array_position({RANK}, {c})" for c in columns)
    return f"({RANK})[greatest({positions})]"


@dataclass
class Changed:
    """Records changed since the engine last looked."""

    incidents: set[uuid.UUID] = field(default_factory=set)
    actors: set[uuid.UUID] = field(default_factory=set)
    idp_sites: set[uuid.UUID] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.incidents or self.actors or self.idp_sites)


@dataclass(frozen=True)
class Raised:
    alert_id: uuid.UUID
    created: bool


# A box around g that holds everything within radius_km of it (cos of latitude clamped).
_EXPAND = (
    "ST_Expand({g}, r.radius_km / ({k} * greatest(cos(radians(least(abs(ST_Y(ST_PointOnSurface({g}))), 89))), 0.01)),"
    " r.radius_km / {k})"
)

#: A site's area as the spatial tests read it: its bounded outline where it has one (see the
#: ``geometry_outlines`` migration), so that no site holds the engine past its time limit.
_SITE = (
    "coalesce((SELECT o.geom FROM geometry_outlines o "
    "WHERE o.collection = 'idp_sites' AND o.record_id = s.id), s.geom)"
)


#: The incidents the rules read, on the table aliased ``{a}``: not deleted, not discredited, not
#: merged into another incident.
_LIVE = (
    "{a}.deleted_at IS NULL AND {a}.verification_state <> 'discredited' "
    "AND {a}.duplicate_of_id IS NULL"
)


def _near_site(incidents: str, sites: str) -> str:
    """Incidents near open IDP sites: ``incidents`` and ``sites`` say which of each are
    compared (the changed incidents with every site, or the changed sites with recent
    incidents)."""
    return f"""
SELECT r.id AS rule_id, r.alert_severity, r.radius_km, i.id AS incident_id, s.id AS site_id,
       {_most_restrictive("i.classification", "s.classification")} AS classification,
       s.sector_id, i.category, i.severity, i.occurred_at, i.verification_state,
       s.name AS site_name,
       ST_X(ST_PointOnSurface({_SITE})) AS lon, ST_Y(ST_PointOnSurface({_SITE})) AS lat,
       ST_AsEWKB(ST_PointOnSurface({_SITE})) AS center,
       round((ST_Distance(({_SITE})::geography, i.geom::geography) / 1000)::numeric, 2) AS km
FROM alert_rules r
JOIN incidents i ON {incidents} AND {_LIVE.format(a="i")}
  AND i.severity >= r.min_severity
  AND (r.categories IS NULL OR i.category = ANY(r.categories))
JOIN idp_sites s ON {sites} AND s.deleted_at IS NULL AND s.status <> 'closed'
  AND s.geom && {_EXPAND.format(g="i.geom", k=KM_PER_DEGREE)}
  AND ST_DWithin(({_SITE})::geography, i.geom::geography, r.radius_km * 1000)
WHERE r.kind = 'incident_near_site' AND r.enabled AND r.deleted_at IS NULL
ORDER BY i.id, s.id
"""  # noqa: S608 - fixed SQL, values are bound


NEAR_SITE = _near_site("i.id = ANY(:ids)", "true")
# The same, for sites that changed: incidents already near them (in the last 7 days).
NEAR_CHANGED_SITE = _near_site("i.occurred_at > now() - interval '7 days'", "s.id = ANY(:site_ids)")

ARMED_GROUP = f"""
SELECT r.id AS rule_id, r.alert_severity, r.radius_km, a.id AS actor_id, s.id AS site_id,
       {_most_restrictive("a.classification", "s.classification")} AS classification,
       s.sector_id, s.name AS site_name, a.name AS actor_name,
       ST_X(ST_PointOnSurface({_SITE})) AS lon, ST_Y(ST_PointOnSurface({_SITE})) AS lat,
       ST_AsEWKB(ST_PointOnSurface({_SITE})) AS center,
       round((ST_Distance(({_SITE})::geography, a.geom::geography) / 1000)::numeric, 2) AS km
FROM alert_rules r
JOIN actors a ON a.deleted_at IS NULL AND a.category = 'armed_group'
JOIN idp_sites s ON s.deleted_at IS NULL AND s.status <> 'closed'
  AND s.geom && {_EXPAND.format(g="a.geom", k=KM_PER_DEGREE)}
  AND ST_DWithin(({_SITE})::geography, a.geom::geography, r.radius_km * 1000)
WHERE r.kind = 'armed_group_near_site' AND r.enabled AND r.deleted_at IS NULL
  AND (a.id = ANY(:actor_ids) OR s.id = ANY(:site_ids))
ORDER BY a.id, s.id
"""  # noqa: S608 - fixed SQL, values are bound

# N or more incidents in one square cell (cell_km) within T hours: the windows that end and
# that start at each changed incident.
CLUSTER = f"""
WITH rules AS (
  SELECT r.*, r.cell_km / {KM_PER_DEGREE} AS cell_deg FROM alert_rules r
  WHERE r.kind = 'incident_cluster' AND r.enabled AND r.deleted_at IS NULL
), changed AS (
  SELECT r.id AS rule_id, i.occurred_at,
         floor(ST_X(i.geom) / r.cell_deg)::bigint AS cx, floor(ST_Y(i.geom) / r.cell_deg)::bigint AS cy
  FROM rules r JOIN incidents i ON i.id = ANY(:ids) AND {_LIVE.format(a="i")}
    AND (r.min_severity IS NULL OR i.severity >= r.min_severity)
    AND (r.categories IS NULL OR i.category = ANY(r.categories))
), windows AS (
  SELECT c.rule_id, c.cx, c.cy, w.start_at, w.end_at FROM changed c
  JOIN rules r ON r.id = c.rule_id
  CROSS JOIN LATERAL (VALUES
    (c.occurred_at - make_interval(secs => r.window_hours * 3600), c.occurred_at),
    (c.occurred_at, c.occurred_at + make_interval(secs => r.window_hours * 3600))
  ) AS w (start_at, end_at)
), hits AS (
  SELECT w.rule_id, w.cx, w.cy, array_agg(DISTINCT j.id) AS incident_ids,
         max(array_position({RANK}, j.classification)) AS rank
  FROM windows w JOIN rules r ON r.id = w.rule_id
  JOIN incidents j ON {_LIVE.format(a="j")}
    AND j.geom && ST_MakeEnvelope(w.cx * r.cell_deg, w.cy * r.cell_deg,
                                  (w.cx + 1) * r.cell_deg, (w.cy + 1) * r.cell_deg, 4326)
    AND floor(ST_X(j.geom) / r.cell_deg) = w.cx AND floor(ST_Y(j.geom) / r.cell_deg) = w.cy
    AND j.occurred_at >= w.start_at AND j.occurred_at <= w.end_at
    AND (r.min_severity IS NULL OR j.severity >= r.min_severity)
    AND (r.categories IS NULL OR j.category = ANY(r.categories))
  GROUP BY w.rule_id, w.cx, w.cy, w.start_at, w.end_at, r.min_count
  HAVING count(DISTINCT j.id) >= r.min_count
)
SELECT h.rule_id, r.alert_severity, r.window_hours, r.cell_km, h.cx, h.cy,
       array_agg(DISTINCT x.id) AS incident_ids,
       count(DISTINCT x.id) FILTER (WHERE u.verification_state = 'reported') AS reported,
       {RANK}[max(h.rank)] AS classification,
       ST_AsEWKB(ST_MakeEnvelope(h.cx * r.cell_deg, h.cy * r.cell_deg,
                                 (h.cx + 1) * r.cell_deg, (h.cy + 1) * r.cell_deg, 4326)) AS cell
FROM hits h JOIN rules r ON r.id = h.rule_id
CROSS JOIN LATERAL unnest(h.incident_ids) AS x (id)
JOIN incidents u ON u.id = x.id
GROUP BY h.rule_id, r.alert_severity, r.window_hours, r.cell_km, h.cx, h.cy, r.cell_deg
"""  # noqa: S608 - fixed SQL, values are bound

INSERT_ALERT = """
INSERT INTO alerts (rule_id, kind, dedup_key, severity, title, description, texts, classification,
                    sector_id, geom, radius_km)
SELECT :rule_id, :kind, :key, :severity, :title, :description, CAST(:texts AS jsonb), :classification,
       coalesce(:sector_id, civop_sector_at(ST_GeomFromEWKB(:geom))),
       ST_GeomFromEWKB(:geom), :radius_km
WHERE NOT (:once AND EXISTS (SELECT 1 FROM alerts a WHERE a.rule_id = :rule_id AND a.dedup_key = :key))
ON CONFLICT (rule_id, dedup_key) WHERE status <> 'closed' DO NOTHING
RETURNING id
"""


async def raise_alert(
    session: AsyncSession,
    *,
    rule_id: uuid.UUID,
    kind: str,
    key: str,
    severity: int,
    title: str | Say,
    description: str | Say,
    classification: str,
    sector_id: uuid.UUID | None,
    geom: bytes,
    radius_km: float | None,
    records: Sequence[tuple[str, uuid.UUID]],
    once: bool,
) -> Raised | None:
    """Raise one alert unless the same condition already has one. ``once``: never again for
    this key (a pair of records); otherwise again after the open alert is closed. An open
    alert whose condition gains records (a growing cluster) gets them added."""
    # Said once, kept in English and in every other language (service/alerts/texts.py).
    title, description, texts = rendered(title, description)
    params: dict[str, Any] = {
        "texts": json.dumps(texts, ensure_ascii=False),
        "rule_id": rule_id,
        "kind": kind,
        "key": key,
        "severity": severity,
        "title": title,
        "description": description,
        "classification": classification,
        "sector_id": sector_id,
        "geom": geom,
        "radius_km": radius_km,
        "once": once,
    }
    alert_id = (await session.execute(text(INSERT_ALERT), params)).scalar_one_or_none()
    created = alert_id is not None
    if alert_id is None:
        if once:
            return None
        alert_id = await session.scalar(
            text(
                "SELECT id FROM alerts WHERE rule_id = :rule_id AND dedup_key = :key "
                "AND status <> 'closed'"
            ),
            {"rule_id": rule_id, "key": key},
        )
        if alert_id is None:
            return None
    result = await session.execute(
        text(
            "INSERT INTO alert_records (alert_id, collection, record_id) "
            "SELECT :a, c, r FROM unnest(CAST(:collections AS text[]), CAST(:ids AS uuid[])) "
            "AS u (c, r) ON CONFLICT DO NOTHING"
        ),
        {"a": alert_id, "collections": [c for c, _ in records], "ids": [r for _, r in records]},
    )
    added = int(getattr(result, "rowcount", 0) or 0)
    if not created and added:
        # The condition intensified: the alert takes the new records, their classification
        # and description, and subscribers are told it changed.
        await session.execute(
            text(
                "UPDATE alerts SET description = :description, "  # noqa: S608 - fixed SQL
                "texts = CAST(:texts AS jsonb), "
                f"classification = {RANK}[greatest(array_position({RANK}, classification), "
                f"array_position({RANK}, CAST(:classification AS text)))] WHERE id = :id"
            ),
            {
                "description": description,
                "texts": params["texts"],
                "classification": classification,
                "id": alert_id,
            },
        )
    if not created and not added:
        return None
    return Raised(alert_id, created)


async def _where(session: AsyncSession, row: Any) -> Any:
    """The site of an alert in words (its name, the nearest place, the sector). The alert is
    seen only by those who see its site in full (:mod:`service.alerts.access`), so naming
    it tells them nothing they could not read."""
    from service.access.policy import SYSTEM
    from service.analysis.naming import where_is

    # Only sectors (and places) every reader of the alert is cleared for are named.
    levels = ("public", "mission", "restricted")
    allowed = levels[: levels.index(row.classification) + 1]
    return await where_is(
        session,
        SYSTEM,
        float(row.lon),
        float(row.lat),
        site=row.site_name,
        classifications=allowed,
    )


async def evaluate(session: AsyncSession, changed: Changed) -> list[Raised]:
    """Evaluate the event-driven rules on the changed records; returns what was raised."""
    raised: list[Raised] = []
    incident_ids = sorted(changed.incidents)
    site_ids = sorted(changed.idp_sites)
    actor_ids = sorted(changed.actors)
    near_rows: list[Any] = []
    if incident_ids:
        near_rows += (await session.execute(text(NEAR_SITE), {"ids": incident_ids})).all()
    if site_ids:
        near_rows += (await session.execute(text(NEAR_CHANGED_SITE), {"site_ids": site_ids})).all()
    for row in near_rows:
        where = await _where(session, row)
        unverified = row.verification_state == "reported"
        hit = await raise_alert(
            session,
            rule_id=row.rule_id,
            kind="incident_near_site",
            key=f"incident:{row.incident_id}:site:{row.site_id}",
            severity=max(row.alert_severity, row.severity),
            title=Say(
                (
                    N_(
                        "Unverified report: Severity {severity} {category} {km} km from {site} ({sector})"
                    )
                    if where.sector
                    else N_("Unverified report: Severity {severity} {category} {km} km from {site}")
                )
                if unverified
                else (
                    N_("Severity {severity} {category} {km} km from {site} ({sector})")
                    if where.sector
                    else N_("Severity {severity} {category} {km} km from {site}")
                ),
                severity=row.severity,
                category=Label(row.category, inside=True),
                km=Number(row.km),
                site=row.site_name or Say(N_("an IDP site")),
                sector=where.sector,
            ),
            description=Say(
                N_(
                    "A field report not yet verified tells of an incident ({category}, "
                    "severity {severity}, {occurred}) {km} km from the IDP site {site}, within "
                    "the rule's {radius} km."
                )
                if unverified
                else N_(
                    "An incident ({category}, severity {severity}, {occurred}) {km} km from "
                    "the IDP site {site}, within the rule's {radius} km."
                ),
                category=Label(row.category, inside=True),
                severity=row.severity,
                occurred=Moment(row.occurred_at),
                km=Number(row.km),
                site=where.text or Say(N_("concerned")),
                radius=Number(row.radius_km),
            ),
            classification=row.classification,
            sector_id=row.sector_id,
            geom=bytes(row.center),
            radius_km=row.radius_km,
            records=[("incidents", row.incident_id), ("idp_sites", row.site_id)],
            once=True,
        )
        if hit:
            raised.append(hit)
    if actor_ids or site_ids:
        rows = (
            await session.execute(text(ARMED_GROUP), {"actor_ids": actor_ids, "site_ids": site_ids})
        ).all()
        for row in rows:
            where = await _where(session, row)
            group = row.actor_name or Say(N_("An armed group"))
            hit = await raise_alert(
                session,
                rule_id=row.rule_id,
                kind="armed_group_near_site",
                key=f"actor:{row.actor_id}:site:{row.site_id}",
                severity=row.alert_severity,
                title=Say(
                    N_("{group} {km} km from {site} ({sector})")
                    if where.sector
                    else N_("{group} {km} km from {site}"),
                    group=group,
                    km=Number(row.km),
                    site=row.site_name or Say(N_("an IDP site")),
                    sector=where.sector,
                ),
                description=Say(
                    N_(
                        "{group} (armed group) is reported {km} km from the IDP site {site}, "
                        "within the rule's {radius} km."
                    ),
                    group=group,
                    km=Number(row.km),
                    site=where.text or Say(N_("concerned")),
                    radius=Number(row.radius_km),
                ),
                classification=row.classification,
                sector_id=row.sector_id,
                geom=bytes(row.center),
                radius_km=row.radius_km,
                records=[("actors", row.actor_id), ("idp_sites", row.site_id)],
                once=True,
            )
            if hit:
                raised.append(hit)
    if incident_ids:
        rows = (await session.execute(text(CLUSTER), {"ids": incident_ids})).all()
        for row in rows:
            count = len(row.incident_ids)
            hit = await raise_alert(
                session,
                rule_id=row.rule_id,
                kind="incident_cluster",
                key=f"cell:{row.cell_km:g}:{row.cx}:{row.cy}",
                severity=row.alert_severity,
                title=Say(
                    N_("{count} incidents in one {cell} km cell within {hours} hours"),
                    count=count,
                    cell=Number(row.cell_km),
                    hours=Number(row.window_hours),
                ),
                description=Say(
                    N_(
                        "{count} incidents in a {cell} km grid cell within {hours} hours; "
                        "{reported} of them from field reports not yet verified."
                    )
                    if row.reported
                    else N_("{count} incidents in a {cell} km grid cell within {hours} hours."),
                    reported=row.reported,
                    count=count,
                    cell=Number(row.cell_km),
                    hours=Number(row.window_hours),
                ),
                classification=row.classification,
                sector_id=None,
                geom=bytes(row.cell),
                radius_km=None,
                records=[("incidents", i) for i in row.incident_ids],
                once=False,
            )
            if hit:
                raised.append(hit)
    return raised


async def changes_since(session: AsyncSession) -> tuple[Changed, int]:
    """Records changed since the engine last looked (and, again, those of the last minute:
    a transaction that committed after a later one is not missed; evaluation is idempotent)."""
    last = int(
        await session.scalar(
            text("SELECT last_event_id FROM alert_engine_state WHERE id = 1 FOR UPDATE")
        )
        or 0
    )
    rows = (
        await session.execute(
            text(
                "SELECT id, collection, record_id, created_at FROM events "
                "WHERE collection IN ('incidents', 'actors', 'idp_sites') "
                "AND (id > :last OR (id > :last - 10000 AND created_at > now() - interval '60 seconds')) "
                "ORDER BY id"
            ),
            {"last": last},
        )
    ).all()
    changed = Changed()
    top = last
    for row in rows:
        top = max(top, int(row.id))
        target: set[uuid.UUID] = getattr(changed, row.collection)
        if row.record_id is not None:
            target.add(row.record_id)
            continue
        # A bulk change (an import): everything of that collection changed since it began.
        bulk = await session.execute(
            text(
                f"SELECT id FROM {row.collection} WHERE updated_at >= :since "  # noqa: S608 - fixed names
                "AND deleted_at IS NULL"
            ),
            {"since": row.created_at},
        )
        target.update(bulk.scalars().all())
    return changed, top


async def run_once(session: AsyncSession) -> list[Raised]:
    """One pass of the engine over the event log, in one transaction (serialised across
    processes by the lock on ``alert_engine_state``)."""
    from service.alerts import webhooks
    from service.alerts.outbox import enqueue

    await session.execute(text("SELECT set_config('civop.actor', 'alert-engine', true)"))
    rules_on = await session.scalar(
        text("SELECT count(*) FROM alert_rules WHERE enabled AND deleted_at IS NULL")
    )
    if rules_on:
        changed, top = await changes_since(session)
        raised = await evaluate(session, changed) if changed else []
    else:  # nothing to evaluate: only move past what happened
        top = int(await session.scalar(text("SELECT coalesce(max(id), 0) FROM events")) or 0)
        await session.execute(text("SELECT 1 FROM alert_engine_state WHERE id = 1 FOR UPDATE"))
        raised = []
    await session.execute(
        text("UPDATE alert_engine_state SET last_event_id = :top WHERE id = 1"), {"top": top}
    )
    urls = await webhooks.urls(session)
    new = [r.alert_id for r in raised if r.created]
    if urls and new:
        await enqueue(session, new, urls)
    await session.commit()
    if raised:
        log.info("alert engine: %d alerts raised or updated", len(raised))
    return raised
