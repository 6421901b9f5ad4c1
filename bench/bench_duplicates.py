"""Precision and recall of the likely-duplicate scoring (``geo.field_reports.likeness``) on a
generated set of field reports: events in a few crowded districts, each told by one to four
sources (patrols, partners, community alert networks), every retelling a little off in place
(GPS or a place named from memory), in time (when it was heard of, not when it happened), in
words (reordered, shortened, other words) and now and then in category (a clash told as an
attack on civilians). Different events of the same kind happen close by on the same days, so
the scoring has real look-alikes to tell apart.

A pair is predicted a duplicate when the candidate search would offer it (within
``RADIUS_KM`` and ``WINDOW_HOURS``) and it scores ``CANDIDATE_SCORE`` or more; precision is
the share of offered pairs that are one event, recall the share of one-event pairs offered.
The analyst decides: recall says what they would miss, precision what they would wade through.

    python -m bench.bench_duplicates [--events 2000] [--seed 7]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from geo.field_reports import (
    CANDIDATE_SCORE,
    RADIUS_KM,
    WINDOW_HOURS,
    Report,
    distance_km,
    likeness,
)

CATEGORIES = ["armed_clash", "attack_on_civilians", "looting", "abduction", "displacement"]
#: Categories sources confuse with each other.
CONFUSED = {"armed_clash": "attack_on_civilians", "attack_on_civilians": "armed_clash"}
PLACES = ["market", "water point", "school", "church", "checkpoint", "camp entrance", "bridge"]
ACTORS = ["armed men", "militia members", "unknown gunmen", "soldiers", "youths"]
VERBS = {
    "armed_clash": ["exchanged fire near", "fought at", "clashed close to"],
    "attack_on_civilians": ["attacked villagers at", "shot at people near", "beat civilians at"],
    "looting": ["looted the", "stole goods from the", "pillaged stalls at the"],
    "abduction": ["abducted two women near the", "took three boys from the", "kidnapped a man at"],
    "displacement": ["forced families to flee the", "drove residents away from the", "emptied the"],
}
FILLER = ["reportedly", "this morning", "according to locals", "at dawn", "around noon", ""]
#: District centres (lon, lat): events crowd around them.
DISTRICTS = [(25.0, 5.0), (25.4, 5.2), (24.7, 4.8), (25.9, 5.6)]


def _sentence(rng: np.random.Generator, category: str) -> list[str]:
    words = [
        str(rng.choice(ACTORS)),
        str(rng.choice(VERBS[category])),
        str(rng.choice(PLACES)),
        str(rng.choice(FILLER)),
    ]
    return " ".join(w for w in words if w).split()


def _retold(rng: np.random.Generator, words: list[str]) -> str:
    """The same account in another source's words: some dropped, some reordered."""
    kept = [w for w in words if rng.random() > 0.2] or words[:2]
    if rng.random() < 0.5:
        cut = int(rng.integers(1, max(2, len(kept))))
        kept = kept[cut:] + kept[:cut]
    if rng.random() < 0.3:
        kept.append(str(rng.choice(FILLER)) or "today")
    return " ".join(kept)


def generate(events: int, seed: int) -> tuple[list[Report], list[int]]:
    """Reports and the event each tells of."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    reports: list[Report] = []
    truth: list[int] = []
    for event in range(events):
        cx, cy = DISTRICTS[int(rng.integers(len(DISTRICTS)))]
        lon, lat = cx + rng.normal(0, 0.08), cy + rng.normal(0, 0.08)
        when = start + timedelta(hours=float(rng.uniform(0, 60 * 24)))
        category = str(rng.choice(CATEGORIES))
        words = _sentence(rng, category)
        tellings = 1 + int(rng.choice([0, 1, 1, 2, 3], p=[0.45, 0.25, 0.1, 0.12, 0.08]))
        for _ in range(tellings):
            said = category
            if category in CONFUSED and rng.random() < 0.15:
                said = CONFUSED[category]
            reports.append(
                Report(
                    said,
                    lon + rng.normal(0, 0.008),  # about 1 km
                    lat + rng.normal(0, 0.008),
                    when + timedelta(hours=float(abs(rng.normal(0, 5)))),
                    _retold(rng, words) if rng.random() > 0.1 else None,
                )
            )
            truth.append(event)
    return reports, truth


def evaluate(reports: list[Report], truth: list[int], thresholds: list[float]) -> None:
    lon = np.array([r.lon for r in reports])
    lat = np.array([r.lat for r in reports])
    at = np.array([r.occurred_at.timestamp() for r in reports]) / 3600.0
    order = np.argsort(at)
    deg = RADIUS_KM / 111.32 / np.cos(np.radians(5.0))
    scores: list[tuple[float, bool]] = []
    same_pairs = 0
    began = time.perf_counter()
    for pos, i in enumerate(order):
        for j in order[pos + 1 :]:
            if at[j] - at[i] > WINDOW_HOURS:
                break
            if abs(lon[i] - lon[j]) > deg or abs(lat[i] - lat[j]) > deg:
                continue
            if distance_km(reports[i], reports[j]) > RADIUS_KM:
                continue
            scores.append((likeness(reports[i], reports[j]).score, truth[i] == truth[j]))
    took = time.perf_counter() - began
    counts = np.bincount(np.array(truth))
    same_pairs = int(sum(c * (c - 1) // 2 for c in counts))
    print(f"{len(reports):,} reports of {len(counts):,} events; {same_pairs:,} duplicate pairs;")
    print(
        f"{len(scores):,} pairs within {RADIUS_KM:g} km and {WINDOW_HOURS:g} h scored in "
        f"{took:.2f} s ({len(scores) / took:,.0f} pairs/s)"
    )
    print(f"{'threshold':>10} {'offered':>8} {'precision':>10} {'recall':>8}")
    for threshold in thresholds:
        offered = [same for score, same in scores if score >= threshold]
        hits = sum(offered)
        precision = hits / len(offered) if offered else 1.0
        recall = hits / same_pairs if same_pairs else 1.0
        mark = "  <- CANDIDATE_SCORE" if threshold == CANDIDATE_SCORE else ""
        print(f"{threshold:>10.2f} {len(offered):>8,} {precision:>10.3f} {recall:>8.3f}{mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    reports, truth = generate(args.events, args.seed)
    evaluate(reports, truth, sorted({0.45, 0.5, CANDIDATE_SCORE, 0.6, 0.65, 0.7, 0.8}))


if __name__ == "__main__":
    main()
