"""The time-based rules: a site's risk cell crossing a threshold, and new or intensifying hot
spots; and the pruning of the event log.

A pass computes the risk overlay (:mod:`geo.analysis.risk`) on the cells of the watched IDP
sites and the emerging hot spots (:mod:`geo.analysis.hotspots`) over each watched area, from
every record (the service's own view, ``SYSTEM``), with the inputs and defaults of
``/api/analysis/risk`` and ``/api/analysis/emerging-hotspots``: an analyst who sees everything
finds the same numbers there. What each rule saw of each site or cell is kept in
``alert_rule_states``, so a condition raises when it starts, not at every pass:

- ``risk_threshold``: a site whose cell is at or above the threshold has a state ``above``.
  A site without one (below, new, or the rule is new) whose cell reaches the threshold raises
  an alert. While it stays above nothing more is raised, even if the alert is closed; once it
  falls below and crosses again it raises again (into the open alert of the site when there
  still is one, which takes the new records).
- ``hotspot``: a cell's state is its trend. A change into one of the rule's trends (``new``,
  ``intensifying``) raises an alert for that cell and trend.

Each alert's records are those behind the number: for a risk cell the incidents of the window
in the cell and its six neighbours and the open sites there; for a hot spot the incidents of
the current window in the cell and its neighbours. Its classification is the most restrictive
of theirs, so the access rules of alerts (:mod:`service.alerts.access`) apply unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.analysis import grid, hotspots, risk
from service.access.policy import CLASSIFICATION_ORDER, SYSTEM
from service.alerts.models import RuleKind
from service.alerts.rules import Raised, raise_alert
from service.alerts.texts import Label, Number, Percent, Say
from service.analysis.hotspots import window_counts
from service.analysis.naming import where_is
from service.analysis.risk import compute_risk
from service.analysis.scope import Scope, area_cells
from service.errors import InvalidInput
from service.i18n import N_

log = logging.getLogger("civop.alerts")

#: Collections whose changes a time-based pass reads; a change to one makes a pass due.
INPUTS = ("incidents", "idp_sites", "patrols", "sectors")

RULES = """
SELECT id, kind, alert_severity, categories, threshold, resolution, window_days, windows,
       alpha, z_change, trends, sector_id, updated_at
FROM alert_rules
WHERE kind IN ('risk_threshold', 'hotspot') AND enabled AND deleted_at IS NULL
ORDER BY created_at, id
"""

# The sector and its sub-areas.
_TREE = """
WITH RECURSIVE tree AS (
  SELECT id FROM sectors WHERE id = :sector
  UNION ALL SELECT s.id FROM sectors s JOIN tree t ON s.parent_id = t.id
)"""

WATCHED_SITES = """
SELECT s.id, s.sector_id, s.name, ST_X(ST_PointOnSurface(s.geom)) AS lon,
       ST_Y(ST_PointOnSurface(s.geom)) AS lat
FROM idp_sites s
WHERE s.deleted_at IS NULL AND s.status = 'open'
  AND (CAST(:sector AS uuid) IS NULL OR s.sector_id IN (SELECT id FROM tree))
ORDER BY s.id
"""

STUDY_AREAS = """
SELECT id, ST_AsBinary(geom) AS wkb FROM sectors
WHERE deleted_at IS NULL
  AND CASE WHEN CAST(:sector AS uuid) IS NULL THEN parent_id IS NULL ELSE id = :sector END
ORDER BY id
"""

# The classification of each record named, in one query per pass.
CLASSIFICATIONS = """
SELECT id, classification FROM incidents WHERE id = ANY(:incidents)
UNION ALL SELECT id, classification FROM idp_sites WHERE id = ANY(:sites)
"""
#: Classifications from the least to the most restrictive.
LEVELS = tuple(c.value for c in CLASSIFICATION_ORDER)
#: What an alert may name before its readers are known (see ``_raise_all``).
PUBLIC = ("public",)

KEEP_STATES = """
INSERT INTO alert_rule_states (rule_id, subject, state, value, changed_at, evaluated_at)
SELECT :rule_id, u.subject, u.state, u.value, now(), now()
FROM unnest(CAST(:subjects AS text[]), CAST(:states AS text[]), CAST(:values AS float8[]))
  AS u (subject, state, value)
ON CONFLICT (rule_id, subject) DO UPDATE SET
  value = EXCLUDED.value,
  evaluated_at = now(),
  changed_at = CASE WHEN alert_rule_states.state = EXCLUDED.state
                    THEN alert_rule_states.changed_at ELSE now() END,
  state = EXCLUDED.state
"""

# The newest event of the collections time-based rules read (one index probe each).
INPUTS_TOP = "SELECT greatest(0, {})".format(
    ", ".join(
        f"(SELECT max(id) FROM events WHERE collection = '{name}')"  # noqa: S608 - fixed names
        for name in INPUTS
    )
)


@dataclass(frozen=True)
class TimeRule:
    """An enabled time-based rule, as stored."""

    id: uuid.UUID
    kind: str
    alert_severity: int
    categories: list[str] | None
    threshold: float | None
    resolution: int
    window_days: float
    windows: int | None
    alpha: float | None
    z_change: float | None
    trends: list[str] | None
    sector_id: uuid.UUID | None
    updated_at: datetime


@dataclass
class ScheduledPass:
    """What one scheduled pass did."""

    evaluated: bool = False
    raised: list[Raised] = field(default_factory=list)
    events_pruned: int = 0


def _ewkb(ring: list[list[float]]) -> bytes:
    polygon = shapely.set_srid(shapely.Polygon(ring), 4326)
    return bytes(shapely.to_wkb(polygon, include_srid=True))


async def time_rules(session: AsyncSession) -> list[TimeRule]:
    """The enabled risk-threshold and hot-spot rules, oldest first."""
    rows = (await session.execute(text(RULES))).mappings().all()
    return [TimeRule(**dict(row)) for row in rows]


async def _states(session: AsyncSession, rule_id: uuid.UUID) -> dict[str, str]:
    rows = await session.execute(
        text("SELECT subject, state FROM alert_rule_states WHERE rule_id = :r"), {"r": rule_id}
    )
    return {row.subject: row.state for row in rows}


async def _keep_states(
    session: AsyncSession, rule_id: uuid.UUID, states: dict[str, tuple[str, float]]
) -> None:
    """Replace the rule's states: the subjects given keep theirs, the others are dropped."""
    subjects = sorted(states)
    await session.execute(
        text("DELETE FROM alert_rule_states WHERE rule_id = :r AND NOT (subject = ANY(:s))"),
        {"r": rule_id, "s": subjects},
    )
    if subjects:
        await session.execute(
            text(KEEP_STATES),
            {
                "rule_id": rule_id,
                "subjects": subjects,
                "states": [states[s][0] for s in subjects],
                "values": [float(states[s][1]) for s in subjects],
            },
        )


@dataclass(frozen=True)
class Finding:
    """A condition that raises: its subject, the records behind it and what to say."""

    key: str
    title: str | Say
    description: str | Say
    geom: bytes
    incidents: list[uuid.UUID]
    sites: list[uuid.UUID] = field(default_factory=list)
    sector_id: uuid.UUID | None = None


async def _raise_all(
    session: AsyncSession, rule: TimeRule, findings: Sequence[Finding]
) -> list[Raised]:
    """Raise one alert per finding, each as restricted as the most restricted of its records
    (their classifications are read in one query)."""
    if not findings:
        return []
    rows = await session.execute(
        text(CLASSIFICATIONS),
        {
            "incidents": list({i for f in findings for i in f.incidents}),
            "sites": list({s for f in findings for s in f.sites}),
        },
    )
    level = {row.id: LEVELS.index(row.classification) for row in rows}
    unknown = len(LEVELS) - 1  # a record not found counts as restricted
    raised: list[Raised] = []
    for finding in findings:
        records = [("idp_sites", s) for s in finding.sites]
        records += [("incidents", i) for i in finding.incidents]
        hit = await raise_alert(
            session,
            rule_id=rule.id,
            kind=rule.kind,
            key=finding.key,
            severity=rule.alert_severity,
            title=finding.title,
            description=finding.description,
            classification=LEVELS[max((level.get(r, unknown) for _, r in records), default=0)],
            sector_id=finding.sector_id,
            geom=finding.geom,
            radius_km=None,
            records=records,
            once=False,
        )
        if hit:
            raised.append(hit)
    return raised


def _members(sorted_cells: npt.NDArray[np.uint64], order: Any, cells: Any) -> list[int]:
    """Positions (in the original order) of the items whose cell is one of ``cells``, given
    the items' cells sorted (``sorted_cells``) and the sorting ``order``."""
    wanted = np.asarray(cells, dtype=np.uint64)
    starts = np.searchsorted(sorted_cells, wanted, side="left").tolist()
    ends = np.searchsorted(sorted_cells, wanted, side="right").tolist()
    return sorted(int(i) for lo, hi in zip(starts, ends, strict=True) for i in order[lo:hi])


# ---------------------------------------------------------------------------------------------
# A site's risk cell crossing a threshold
# ---------------------------------------------------------------------------------------------


async def evaluate_risk(session: AsyncSession, rule: TimeRule, at: datetime) -> list[Raised]:
    """Raise for each watched site whose cell's risk reached the threshold since the last pass."""
    assert rule.threshold is not None
    watched = (await session.execute(text(_TREE + WATCHED_SITES), {"sector": rule.sector_id})).all()
    if not watched:
        await _keep_states(session, rule.id, {})
        return []
    hex_grid = grid.HexGrid(rule.resolution)
    site_ids = [row.id for row in watched]
    site_lon = np.array([row.lon for row in watched], dtype=np.float64)
    site_lat = np.array([row.lat for row in watched], dtype=np.float64)
    site_cells = hex_grid.cells_of_points(site_lon, site_lat)
    area = shapely.MultiPoint(np.column_stack([site_lon, site_lat]))
    start = at - timedelta(days=rule.window_days)
    # Early warning counts field reports before they are judged (never discredited ones).
    scope = Scope(
        area, start, at, tuple(rule.categories) if rule.categories else None, verified_only=False
    )
    computed = await compute_risk(
        session,
        SYSTEM,
        scope,
        risk.RiskParameters(resolution=rule.resolution),
        cells=np.unique(site_cells),
        with_ids=True,
    )
    overlay, incidents, sites = computed.overlay, computed.incidents, computed.sites
    at_cell = np.searchsorted(overlay.cells, site_cells)
    values = overlay.risk[at_cell]
    previous = await _states(session, rule.id)
    states: dict[str, tuple[str, float]] = {}
    incident_cells = hex_grid.cells_of_points(incidents.lon, incidents.lat)
    incident_order = np.argsort(incident_cells, kind="stable")
    incident_sorted = incident_cells[incident_order]
    place_cells = hex_grid.cells_of_points(sites.lon, sites.lat)
    place_order = np.argsort(place_cells, kind="stable")
    place_sorted = place_cells[place_order]
    findings: list[Finding] = []
    uuids: dict[int, uuid.UUID] = {}  # an incident near several sites is read once

    def incident_id(i: int) -> uuid.UUID:
        found = uuids.get(i)
        if found is None:
            found = uuids[i] = incidents.id(i)
        return found

    for k in np.nonzero(values >= rule.threshold)[0].tolist():
        subject = f"idp_site:{site_ids[k]}"
        value = float(values[k])
        states[subject] = ("above", value)
        if previous.get(subject) == "above":
            continue
        around = hex_grid.disk(site_cells[k : k + 1], 1)
        behind = [incident_id(i) for i in _members(incident_sorted, incident_order, around)]
        near = [sites.ids[i] for i in _members(place_sorted, place_order, around)]
        c = int(at_cell[k])
        cell = hex_grid.to_strings(site_cells[k : k + 1])[0]
        site = watched[k].name or "an IDP site"
        # The alert's readers are not known yet: only public sectors and places are named.
        where = await where_is(
            session,
            SYSTEM,
            float(site_lon[k]),
            float(site_lat[k]),
            site=watched[k].name,
            classifications=PUBLIC,
        )
        findings.append(
            Finding(
                key=subject,
                title=Say(
                    N_("Risk {risk} at {site} ({sector}) (threshold {threshold})")
                    if where.sector
                    else N_("Risk {risk} at {site} (threshold {threshold})"),
                    risk=Number(value, 2),
                    site=site,
                    sector=where.sector,
                    threshold=Number(rule.threshold),
                ),
                description=Say(
                    N_(
                        "The risk of the cell of the IDP site {site} ({cell}, H3 resolution "
                        "{resolution}) reached {risk}, at or above the threshold {threshold}: "
                        "hazard {hazard}, vulnerability {vulnerability}, patrol coverage "
                        "{coverage}; {count} incident(s) of the last {days} days in and around "
                        "the cell."
                    ),
                    site=where.text or site,
                    cell=cell,
                    resolution=rule.resolution,
                    risk=Number(value, 2),
                    threshold=Number(rule.threshold),
                    hazard=Number(overlay.hazard[c], 2),
                    vulnerability=Number(overlay.vulnerability[c], 2),
                    coverage=Number(overlay.coverage[c], 2),
                    count=len(behind),
                    days=Number(rule.window_days),
                ),
                geom=_ewkb(hex_grid.polygons(site_cells[k : k + 1])[0]),
                incidents=behind,
                sites=sorted({site_ids[k], *near}),
                sector_id=watched[k].sector_id,
            )
        )
    raised = await _raise_all(session, rule, findings)
    await _keep_states(session, rule.id, states)
    return raised


# ---------------------------------------------------------------------------------------------
# New and intensifying hot spots
# ---------------------------------------------------------------------------------------------


async def _study_areas(
    session: AsyncSession, sector_id: uuid.UUID | None
) -> list[tuple[uuid.UUID, Any]]:
    rows = (await session.execute(text(STUDY_AREAS), {"sector": sector_id})).all()
    return [(row.id, shapely.from_wkb(bytes(row.wkb))) for row in rows]


async def evaluate_hotspots(session: AsyncSession, rule: TimeRule, at: datetime) -> list[Raised]:
    """Raise for each cell whose hot-spot trend changed into one of the rule's trends."""
    assert rule.windows and rule.alpha and rule.z_change and rule.trends
    hex_grid = grid.HexGrid(rule.resolution)
    length = timedelta(days=rule.window_days)
    starts = [at - length * (rule.windows - k) for k in range(rule.windows)]
    current = rule.windows - 1
    previous = await _states(session, rule.id)
    states: dict[str, tuple[str, float]] = {}
    findings: list[Finding] = []
    for sector_id, boundary in await _study_areas(session, rule.sector_id):
        try:
            cells = area_cells(hex_grid, boundary)
        except InvalidInput:
            cells = None
        if cells is None or cells.size < 3:
            log.warning("hot-spot rule %s: area %s skipped (cells: %s)", rule.id, sector_id,
                        "too many" if cells is None else cells.size)  # fmt: skip
            continue
        categories = tuple(rule.categories) if rule.categories else None
        scope = Scope(boundary, starts[0], at, categories, verified_only=False)
        counted = await window_counts(
            session, SYSTEM, scope, hex_grid, cells, starts, with_ids=True
        )
        incidents, position, window = counted.incidents, counted.position, counted.window
        ok = counted.counted
        neighbours = hex_grid.neighbour_pairs(cells)
        result = await asyncio.to_thread(
            hotspots.emerging_hotspots,
            counted.counts,
            neighbours,
            alpha=rule.alpha,
            z_change=rule.z_change,
            min_incidents=hotspots.MIN_INCIDENTS,
        )
        trending = [k for k, t in enumerate(result.trend.tolist()) if t is not None]
        names = hex_grid.to_strings(cells[trending]) if trending else []
        for k, cell in zip(trending, names, strict=True):
            trend = str(result.trend[k])
            z_now = float(result.current.z[k])
            subject = f"{sector_id}:{cell}"
            states[subject] = (trend, z_now)
            if trend not in rule.trends or previous.get(subject) == trend:
                continue
            members = np.concatenate([[k], neighbours[1][neighbours[0] == k]])
            behind_at = np.nonzero(ok & (window == current) & np.isin(position, members))[0]
            behind = [incidents.id(i) for i in behind_at.tolist()]
            earlier = ", ".join(f"{w.z[k]:.2f}" for w in result.windows[:-1])
            (cx,), (cy,) = hex_grid.centres(cells[k : k + 1])
            where = await where_is(session, SYSTEM, float(cx), float(cy), classifications=PUBLIC)
            findings.append(
                Finding(
                    key=f"cell:{cell}:{trend}",
                    title=Say(
                        N_(
                            "{trend} hot spot in {sector}: {count} incidents in and around one "
                            "cell in the last {days} days"
                        )
                        if where.sector
                        else N_(
                            "{trend} hot spot: {count} incidents in and around one cell in the "
                            "last {days} days"
                        ),
                        trend=Label(trend),
                        sector=where.sector,
                        count=len(behind),
                        days=Number(rule.window_days),
                    ),
                    description=Say(
                        N_(
                            "{where}Gi* z = {z} ({confidence} confidence after "
                            "false-discovery control) in cell {cell} (H3 resolution "
                            "{resolution}) over the last {days} days; z in the {windows} "
                            "windows before: {earlier}."
                        ),
                        where=where.text + ": " if where.text else "",
                        z=Number(z_now, 2),
                        confidence=Percent(int(result.current.confidence[k]) / 100),
                        cell=cell,
                        resolution=rule.resolution,
                        days=Number(rule.window_days),
                        windows=rule.windows - 1,
                        earlier=earlier,
                    ),
                    geom=_ewkb(hex_grid.polygons(cells[k : k + 1])[0]),
                    incidents=behind,
                    sector_id=None,  # the smallest area that holds the cell
                )
            )
    raised = await _raise_all(session, rule, findings)
    await _keep_states(session, rule.id, states)
    return raised


async def evaluate(
    session: AsyncSession, rules: Sequence[TimeRule] | None = None, at: datetime | None = None
) -> list[Raised]:
    """Evaluate the time-based rules (all enabled ones by default) as of ``at`` (now)."""
    moment = at or datetime.now(UTC)
    chosen = await time_rules(session) if rules is None else list(rules)
    # A rule switched off forgets what it saw: switched on again, it starts afresh.
    await session.execute(
        text(
            "DELETE FROM alert_rule_states WHERE rule_id NOT IN "
            "(SELECT id FROM alert_rules WHERE enabled AND deleted_at IS NULL)"
        )
    )
    raised: list[Raised] = []
    for rule in chosen:
        if rule.kind == RuleKind.risk_threshold:
            raised += await evaluate_risk(session, rule, moment)
        else:
            raised += await evaluate_hotspots(session, rule, moment)
    return raised


# ---------------------------------------------------------------------------------------------
# The event log's retention, and the pass that runs both
# ---------------------------------------------------------------------------------------------


async def prune_events(session: AsyncSession, retention_hours: float) -> int:
    """Delete the events older than the retention (but none the rule engine has still to
    read); returns how many. The ids removed are always a prefix (every id up to ``events_pruned_through``), so
    the stream can tell a client whose last id is older that it missed events."""
    bound = await session.scalar(
        text(
            "SELECT id FROM events WHERE created_at < now() - make_interval(secs => :s) "
            "ORDER BY created_at DESC, id DESC LIMIT 1"
        ),
        {"s": retention_hours * 3600.0},
    )
    if bound is None:
        return 0
    # Not past an event the rule engine has still to read.
    unread = await session.scalar(
        text(
            "SELECT min(e.id) FROM events e, alert_engine_state s WHERE s.id = 1 "
            "AND e.id > s.last_event_id AND e.collection IN ('incidents', 'actors', 'idp_sites')"
        )
    )
    through = int(bound) if unread is None else min(int(bound), int(unread) - 1)
    done = int(
        await session.scalar(text("SELECT events_pruned_through FROM alert_schedule_state")) or 0
    )
    if through <= done:
        return 0
    result = await session.execute(text("DELETE FROM events WHERE id <= :t"), {"t": through})
    await session.execute(
        text("UPDATE alert_schedule_state SET events_pruned_through = :t WHERE id = 1"),
        {"t": through},
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def run_scheduled(
    session: AsyncSession, *, schedule_s: float, retention_hours: float, force: bool = False
) -> ScheduledPass | None:
    """One scheduled pass, in one transaction: prune the event log, then evaluate the
    time-based rules if they are due (``force``; ``schedule_s`` since the last evaluation; data
    they read changed since; a rule changed since). Returns None when another process is
    running a pass (the state row is locked)."""
    from service.alerts import webhooks
    from service.alerts.outbox import enqueue

    await session.execute(text("SELECT set_config('civop.actor', 'alert-engine', true)"))
    state = (
        await session.execute(
            text(
                "SELECT evaluated_at, evaluated_through, now() AS now FROM alert_schedule_state "
                "WHERE id = 1 FOR UPDATE SKIP LOCKED"
            )
        )
    ).one_or_none()
    if state is None:
        await session.rollback()
        return None
    done = ScheduledPass(events_pruned=await prune_events(session, retention_hours))
    top = int(await session.scalar(text(INPUTS_TOP)) or 0)
    rules = await time_rules(session)
    last = state.evaluated_at
    due = (
        force
        or last is None
        or (state.now - last).total_seconds() >= 0.9 * schedule_s
        or top > state.evaluated_through
        or any(rule.updated_at > last for rule in rules)
    )
    if due:
        done.raised = await evaluate(session, rules)
        done.evaluated = True
        await session.execute(
            text(
                "UPDATE alert_schedule_state SET evaluated_at = now(), evaluated_through = :top "
                "WHERE id = 1"
            ),
            {"top": top},
        )
    urls = await webhooks.urls(session)
    new = [r.alert_id for r in done.raised if r.created]
    if urls and new:
        await enqueue(session, new, urls)
    await session.commit()
    if done.raised or done.events_pruned:
        log.info(
            "scheduled pass: %d alerts raised or updated, %d events pruned",
            len(done.raised),
            done.events_pruned,
        )
    return done
