"""Requests for civil assistance and the decisions taken on them."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from shapely.geometry import Point

from service.demo.areas import _village
from service.demo.model import Record
from service.demo.world import _classification, _person, _point_near, _record, _wkt, _World

# --------------------------------------------------------------------------------------------
# Requests for civil assistance
# --------------------------------------------------------------------------------------------

_REQUESTS = (
    ("air_transport", "Airlift of {what} to {place}", "cholera kits, 4 t"),
    ("air_transport", "Medical evacuation flight from {place}", "12 patients in critical state"),
    ("ground_transport", "Trucks to move {what} to {place}", "food for 9,000 displaced people"),
    ("engineering", "Repair of the bridge on the road to {place}", "the only supply route"),
    ("engineering", "Drilling of boreholes near {place}", "water for three camps"),
    ("medical", "Field hospital support in {place}", "surgery for mass-casualty victims"),
    ("security_escort", "Escort of a convoy to {place}", "a food convoy of 14 trucks"),
    ("logistics", "Temporary storage of {what} in {place}", "seed stocks before the rains"),
    ("communications", "Radio relay for the humanitarian hub in {place}", "VHF coverage"),
)
_OUTCOMES = (
    "submitted",
    "under_review",
    "referred_to_srsg",
    "approved",
    "denied",
    "completed",
    "delivered_by_other",
    "withdrawn",
)
_DENIALS = (
    "a civilian carrier can do it within the week",
    "the assets are committed to protection tasks",
    "not a last resort: commercial trucks are available",
    "the request is not limited in time",
)


def _decide(
    rng: np.random.Generator, record: Record, side: str, decision: str, who: str, after: datetime
) -> datetime:
    """Record one side's decision, taken some hours after ``after``; returns when."""
    moment = after + timedelta(hours=float(rng.uniform(4, 48)))
    first, last = _person(rng)
    record[f"{side}_decision"] = decision
    record[f"{side}_decided_by"] = f"{first} {last}, {who}"
    record[f"{side}_decided_at"] = moment
    record[f"{side}_reason"] = (
        "meets the last-resort criteria"
        if decision == "approve"
        else _DENIALS[int(rng.integers(len(_DENIALS)))]
    )
    return moment


def _build_requests(rng: np.random.Generator, world: _World) -> list[Record]:
    """Requests in every state of their workflow, from humanitarian actors, in the last six
    months; decisions and outcomes consistent with the state (the database checks them)."""
    records: list[Record] = []
    humanitarian = [a for a in world.actors if a.humanitarian]
    for number in range(1, 41):
        status = _OUTCOMES[(number - 1) % len(_OUTCOMES)]
        capability, title, what = _REQUESTS[int(rng.integers(len(_REQUESTS)))]
        actor = humanitarian[int(rng.integers(len(humanitarian)))]
        town = world.towns[actor.town]
        place = town.name if rng.random() < 0.6 else _village(rng, world)
        x, y = _point_near(rng, town.lon, town.lat, 1.0, 20.0)
        geom = Point(x, y)
        requested = world.end - timedelta(days=float(rng.uniform(20, 180)))
        life_saving = status == "completed" and number % 3 == 0
        approved_path = status in ("approved", "completed") and not life_saving
        record = _record(rng, "request", number, _classification(rng, 0.3, 0.6))
        record |= {
            "title": title.format(what=what.split(",")[0], place=place),
            "need": f"{what.capitalize()}; requested by {actor.name} for {place}.",
            "requesting_actor_id": actor.id,
            "capability": capability,
            "requested_at": requested,
            "needed_from": requested + timedelta(days=int(rng.integers(1, 10))),
            "needed_until": requested + timedelta(days=int(rng.integers(12, 40))),
            "capability_unique": approved_path or bool(rng.random() < 0.6),
            "no_civilian_alternative": approved_path or bool(rng.random() < 0.5),
            "limited_in_time_and_space": approved_path or bool(rng.random() < 0.8),
            "justification": "No civilian asset can reach the area before the rains.",
            "life_saving": life_saving,
            "status": status,
            "geom": _wkt(geom),
            "sector_id": world.sector_of(geom),
        }
        moment = requested + timedelta(days=float(rng.uniform(1, 3)))

        disagreed = bool(rng.random() < 0.3)  # the two sides disagreed; the SRSG decided
        if status == "under_review" and rng.random() < 0.5:
            moment = _decide(rng, record, "humanitarian", "approve", "DSRSG/RC/HC", moment)
        if status == "referred_to_srsg":
            moment = _decide(rng, record, "humanitarian", "approve", "DSRSG/RC/HC", moment)
            moment = _decide(rng, record, "military", "deny", "HOMC", moment)
        if (
            status in ("approved", "denied")
            or approved_path
            or (status == "delivered_by_other" and rng.random() < 0.5)
        ):
            outcome = "deny" if status in ("denied", "delivered_by_other") else "approve"
            if disagreed:
                moment = _decide(rng, record, "humanitarian", "approve", "DSRSG/RC/HC", moment)
                moment = _decide(rng, record, "military", "deny", "HOMC", moment)
                moment = _decide(rng, record, "srsg", outcome, "SRSG", moment)
            else:
                moment = _decide(rng, record, "humanitarian", outcome, "DSRSG/RC/HC", moment)
                moment = _decide(rng, record, "military", outcome, "HOMC", moment)
            record["decided_at"] = moment
            if outcome == "deny":
                side = "srsg" if disagreed else "military"
                record["denial_reason"] = record[f"{side}_reason"]
        if status == "completed":
            record["completed_at"] = moment + timedelta(days=float(rng.uniform(1, 8)))
        if status == "delivered_by_other":
            other = humanitarian[int(rng.integers(len(humanitarian)))]
            record["delivered_by_actor_id"] = other.id
            record["delivered_by_name"] = other.name
            record["delivered_at"] = moment + timedelta(days=float(rng.uniform(1, 5)))
        if status == "withdrawn":
            record["withdrawn_at"] = moment
            record["withdrawal_reason"] = "the need was met by the host government"
        records.append(record)
    return records
