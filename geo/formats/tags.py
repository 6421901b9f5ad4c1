"""HXL hashtags (Humanitarian Exchange Language): reading them from a CSV's hashtag row and the
tag civop writes for each of its fields.

A tag is a hashtag with attributes, ``#affected+idps+ind``. A file's tag matches a field's tag
when the hashtags are the same and the file's attributes include all of the field's, so
``#affected+ind+idps`` and ``#affected +idps +ind`` both fill ``population_individuals``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TAG = re.compile(r"^\s*#([a-z][a-z0-9_]*)((\s*\+\s*[a-z][a-z0-9_]*)*)\s*$", re.IGNORECASE)

#: Tags of the fields every collection has, and of the location columns.
COMMON: dict[str, str] = {
    "id": "#meta+id",
    "origin": "#meta+origin",
    "external_id": "#meta+external_id",
    "classification": "#meta+classification",
    "sector_id": "#meta+sector_id",
    "description": "#description",
    "created_at": "#date+created",
    "created_by": "#meta+created_by",
    "updated_at": "#date+updated",
    "updated_by": "#meta+updated_by",
    "generalised": "#meta+generalised",
    "longitude": "#geo+lon",
    "latitude": "#geo+lat",
    "wkt": "#geo+wkt",
}

#: Per collection, the HXL core hashtags that fit best.
BY_COLLECTION: dict[str, dict[str, str]] = {
    "incidents": {
        "category": "#event+category",
        "occurred_at": "#date+occurred",
        "reported_at": "#date+reported",
        "severity": "#severity",
        "killed": "#affected+killed",
        "injured": "#affected+injured",
        "displaced": "#affected+displaced",
        "source": "#meta+source",
        "location_precision": "#geo+precision",
    },
    "idp_sites": {
        "name": "#loc+name",
        "site_type": "#loc+type",
        "status": "#status",
        "population_individuals": "#affected+idps+ind",
        "population_households": "#affected+idps+hh",
        "population_date": "#date+assessed",
    },
    "actors": {
        "name": "#org+name",
        "acronym": "#org+acronym",
        "category": "#org+type",
        "focal_point": "#contact+name",
        "phone": "#contact+phone",
        "email": "#contact+email",
    },
    "projects": {
        "title": "#activity+name",
        "kind": "#activity+type",
        "status": "#status",
        "budget_usd": "#value+usd",
        "start_date": "#date+start",
        "end_date": "#date+end",
        "beneficiaries": "#reached+ind",
    },
    "patrols": {
        "unit": "#org+unit",
        "patrol_type": "#activity+type",
        "state": "#status",
        "start_at": "#date+start",
        "end_at": "#date+end",
    },
    "bases": {"name": "#loc+name", "unit": "#org+unit", "base_kind": "#loc+type"},
    "sectors": {"name": "#loc+name", "level": "#loc+level"},
}


#: Other tags partners use for a field (read, never written): IOM DTM and HDX date their
#: population figures with ``#date+reported``.
ALTERNATES: dict[str, dict[str, tuple[str, ...]]] = {
    "idp_sites": {"population_date": ("#date+reported", "#date+survey")},
}


def tags_for(collection: str, field: str) -> tuple[str, ...]:
    """Every tag that fills ``field`` when read: civop's own first.

    Examples
    --------
    >>> tags_for("idp_sites", "population_date")
    ('#date+assessed', '#date+reported', '#date+survey')
    """
    return (tag_for(collection, field), *ALTERNATES.get(collection, {}).get(field, ()))


def parse(tag: str) -> tuple[str, frozenset[str]] | None:
    """``"#affected +idps +ind"`` -> ``("affected", {"idps", "ind"})``; ``None`` if not a tag.

    Examples
    --------
    >>> parse("#geo +lat")
    ('geo', frozenset({'lat'}))
    >>> parse("latitude") is None
    True
    """
    match = _TAG.match(tag or "")
    if match is None:
        return None
    attributes = frozenset(a.strip().lower() for a in match.group(2).split("+") if a.strip())
    return match.group(1).lower(), attributes


def tag_for(collection: str, field: str) -> str:
    """The tag civop writes for ``field`` (``#meta+<field>`` when HXL has no better one)."""
    return BY_COLLECTION.get(collection, {}).get(field) or COMMON.get(field) or f"#meta+{field}"


def matches(file_tag: str, field_tag: str) -> int:
    """0 when ``file_tag`` cannot fill a field tagged ``field_tag``; otherwise a score, higher
    for closer matches (exact attributes beat extra ones)."""
    found, wanted = parse(file_tag), parse(field_tag)
    if found is None or wanted is None or found[0] != wanted[0]:
        return 0
    if not wanted[1] <= found[1]:
        return 0
    return 100 - len(found[1] - wanted[1])


def is_hashtag_row(cells: Sequence[str]) -> bool:
    """True for a CSV row of HXL hashtags (at least half of the non-empty cells are tags)."""
    filled = [c for c in cells if c and c.strip()]
    if not filled:
        return False
    tagged = sum(1 for c in filled if parse(c) is not None)
    return tagged * 2 >= len(filled) and tagged > 0
