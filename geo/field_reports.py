"""Field reports from KoboToolbox and ODK Central: what a submission says in civop's terms, and
how alike two reports of incidents are.

A submission reaches civop as JSON: KoboToolbox's REST services post the submission flat, its
groups in the field names (``incident/category``), with ``_uuid``, ``meta/instanceID`` and
``_xform_id_string``; ODK Central's webhooks post an event (``{"type": "submission.create",
"id": ..., "data": ...}``) whose data is the submission as nested JSON (Central's OData shape,
geopoints as GeoJSON) or as its XML. Both are read into one :class:`Submission`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from geo.formats.mapping import SYNONYMS, normalise

#: Where each server puts the submission's own id (the first found wins).
SUBMISSION_IDS = ("meta/instanceID", "_uuid", "__id", "instanceID", "meta/rootUuid")
#: Where each server puts the form's id.
FORM_IDS = ("_xform_id_string", "xmlFormId", "formId", "form_id")
#: Fields each server adds that say when the phone started or the server received it: an
#: incident's time when the form has no field for it.
WHEN_RECEIVED = ("_submission_time", "__system/submissionDate", "end", "start")
#: Names the location field commonly has in a form (compared after normalisation).
LOCATION_NAMES = ("location", "geopoint", "gps", "position", "coordinates", "where", "point")
#: The incident fields a form may fill.
INCIDENT_FIELDS = (
    "category",
    "occurred_at",
    "severity",
    "killed",
    "injured",
    "displaced",
    "description",
    "source",
    "source_reliability",
    "source_credibility",
    "location_precision",
    "external_id",
)


class SubmissionProblem(ValueError):
    """A submission that cannot be read; ``field`` names the part at fault."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Submission:
    """One form submission, flattened: ``fields`` maps ``group/name`` paths to values."""

    server: str
    submission_id: str
    form_id: str | None
    fields: dict[str, Any]


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested groups to ``group/name`` paths; GeoJSON points stay whole (they are values).

    Examples
    --------
    >>> flatten({"incident": {"category": "looting"}, "meta": {"instanceID": "uuid:1"}})
    {'incident/category': 'looting', 'meta/instanceID': 'uuid:1'}
    """
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and not _is_geojson_point(value):
            flat.update(flatten(value, f"{path}/"))
        else:
            flat[path] = value
    return flat


def _is_geojson_point(value: Mapping[str, Any]) -> bool:
    return value.get("type") == "Point" and isinstance(value.get("coordinates"), list)


def _from_xml(xml: str) -> tuple[dict[str, Any], str | None]:
    """An ODK submission's XML as paths and values, and the form id its root names."""
    from defusedxml import DefusedXmlException, ElementTree

    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as error:
        raise SubmissionProblem(f"data.xml is not well-formed XML: {error}", "data.xml") from error
    except DefusedXmlException as error:
        # Entities and DTDs are never expanded: a submission has no use for them.
        raise SubmissionProblem(f"data.xml is refused: {error}", "data.xml") from error

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    flat: dict[str, Any] = {}

    def walk(element: Any, prefix: str) -> None:
        for child in element:
            path = f"{prefix}{local(child.tag)}"
            if len(child):
                walk(child, f"{path}/")
            else:
                flat[path] = (child.text or "").strip()

    walk(root, "")
    return flat, root.get("id")


def read_submission(payload: Any) -> Submission:
    """The submission a KoboToolbox REST service or an ODK Central webhook posted.

    Raises :class:`SubmissionProblem` when the JSON is neither, or names no submission id
    (without one a retried delivery could not be told from a new report)."""
    if not isinstance(payload, Mapping):
        raise SubmissionProblem("the body must be a JSON object (one submission)")
    event = payload.get("type")
    if isinstance(event, str) and "data" in payload:
        if event != "submission.create":
            # An edit or a review in Central is no new report: triage the report by hand.
            raise SubmissionProblem(
                f"event type {event!r} is not taken; send submission.create events only",
                "type",
            )
        data = payload["data"]
        form_id = payload.get("xmlFormId")
        if isinstance(data, Mapping) and isinstance(data.get("xml"), str):
            fields, root_form = _from_xml(data["xml"])
            form_id = form_id or root_form
        elif isinstance(data, Mapping):
            fields = flatten(data)
        else:
            raise SubmissionProblem("data must be the submission, as JSON or as its XML", "data")
        server = "odk"
        fields.setdefault("__id", payload.get("id"))
    else:
        fields = flatten(payload)
        server = "kobo"
        form_id = None
    submission_id = next(
        (str(fields[k]) for k in SUBMISSION_IDS if fields.get(k) not in (None, "")), None
    )
    if submission_id is None:
        raise SubmissionProblem(
            "the submission names no id (meta/instanceID, _uuid or the event's id): without one "
            "a retried delivery cannot be told from a new report",
            "meta/instanceID",
        )
    form_id = form_id or next((str(fields[k]) for k in FORM_IDS if fields.get(k)), None)
    return Submission(server, submission_id, form_id, fields)


def _named(fields: Mapping[str, Any], name: str) -> str | None:
    """The path of the field called ``name`` (a full path, or the last part of one)."""
    if name in fields:
        return name
    wanted = normalise(name)
    for path in fields:
        if normalise(path.rsplit("/", 1)[-1]) == wanted:
            return path
    return None


def _point(value: Any) -> tuple[float, float] | None:
    """A geopoint as longitude, latitude: ODK's ``"lat lon alt accuracy"`` text, a GeoJSON
    point, or KoboToolbox's ``_geolocation`` pair ``[lat, lon]``."""
    if isinstance(value, Mapping) and _is_geojson_point(value):
        lon, lat = value["coordinates"][:2]
        return float(lon), float(lat)
    if isinstance(value, str) and value.strip():
        parts = value.split()
        if len(parts) >= 2:
            try:
                return float(parts[1]), float(parts[0])
            except ValueError:
                return None
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        if all(isinstance(v, (int, float)) for v in value):
            return float(value[1]), float(value[0])
    return None


def location_of(fields: Mapping[str, Any], spec: Any = None) -> tuple[float, float] | None:
    """Where the submission says the incident happened (longitude, latitude): the field the
    mapping names, else the first field called like a location, else KoboToolbox's
    ``_geolocation``."""
    if isinstance(spec, str):
        path = _named(fields, spec)
        return _point(fields[path]) if path else None
    for path, value in fields.items():
        if normalise(path.rsplit("/", 1)[-1]) in LOCATION_NAMES and _point(value) is not None:
            return _point(value)
    return _point(fields.get("_geolocation"))


def _translated(value: Any, table: Mapping[str, Any]) -> Any:
    """A value through a value map (compared without case and spacing; others kept)."""
    by_key = {normalise(str(k)): v for k, v in table.items()}
    return by_key.get(normalise(str(value)), value)


def map_fields(fields: Mapping[str, Any], mapping: Mapping[str, Any]) -> dict[str, Any]:
    """The incident's fields from a submission, by the rules of an import's mapping: a field
    of the form by name (``"category": "what_happened"``), one value for every report
    (``{"value": "mission"}``) or a form field's values translated (``{"column": "type",
    "values": {"fight": "armed_clash"}}``); fields the mapping does not name are found by
    their own name or its common synonyms. Empty answers are left out.

    Examples
    --------
    >>> map_fields({"g/what": "fight", "g/severity": "3"},
    ...            {"category": {"column": "what", "values": {"Fight": "armed_clash"}}})
    {'category': 'armed_clash', 'severity': '3'}
    """
    values: dict[str, Any] = {}
    for target in INCIDENT_FIELDS:
        spec = mapping.get(target)
        value: Any = None
        if isinstance(spec, Mapping) and "value" in spec:
            value = spec["value"]
        elif isinstance(spec, Mapping) and "column" in spec:
            path = _named(fields, str(spec["column"]))
            value = fields.get(path) if path else None
            if value is not None and isinstance(spec.get("values"), Mapping):
                value = _translated(value, spec["values"])
        elif isinstance(spec, str):
            path = _named(fields, spec)
            value = fields.get(path) if path else None
        else:
            for name in (target, *SYNONYMS.get(target, ())):
                path = _named(fields, name)
                if path is not None:
                    value = fields[path]
                    break
        if value is not None and value != "":
            values[target] = value
    if "occurred_at" not in values:
        for name in WHEN_RECEIVED:
            if fields.get(name):
                values["occurred_at"] = _with_zone(str(fields[name]))
                break
    return values


def _with_zone(text: str) -> str:
    """KoboToolbox's ``_submission_time`` is UTC without a zone: say so."""
    return text if re.search(r"(Z|[+-]\d\d:?\d\d)$", text) else text + "Z"


# --- How alike two reports are ------------------------------------------------------------

#: Reports further apart than these are never candidates (the SQL search uses them too).
RADIUS_KM = 10.0
WINDOW_HOURS = 72.0
#: The distance and the time at which their parts of the score fall to 1/e: one event told by
#: several sources is placed within a km or two and dated within hours of itself.
DISTANCE_KM = 2.0
TIME_HOURS = 12.0
#: The score from which a pair is shown to an analyst as a likely duplicate.
CANDIDATE_SCORE = 0.55
#: How much each part counts (summing to 1); without two texts, the text's weight is shared.
WEIGHTS = {"category": 0.2, "distance": 0.3, "time": 0.2, "text": 0.3}
EARTH_KM = 6371.0088


@dataclass(frozen=True)
class Report:
    """What a duplicate check reads of an incident."""

    category: str
    lon: float
    lat: float
    occurred_at: datetime
    text: str | None = None


@dataclass(frozen=True)
class Likeness:
    """How alike two reports are (``score`` 0..1), and why: one reason per part, each a stable
    code with its figure (``{"code": "distance_km", "value": 1.2}``)."""

    score: float
    reasons: list[dict[str, Any]] = field(default_factory=list)


def distance_km(a: Report, b: Report) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def text_similarity(a: str | None, b: str | None) -> float | None:
    """0..1, word order and repeated words ignored (rapidfuzz's token set ratio, after
    lower-casing and stripping punctuation); ``None`` unless both texts are given."""
    if not a or not b:
        return None
    from rapidfuzz import fuzz, utils

    return float(fuzz.token_set_ratio(a, b, processor=utils.default_process)) / 100.0


def likeness(
    a: Report, b: Report, radius_km: float = RADIUS_KM, window_hours: float = WINDOW_HOURS
) -> Likeness:
    """How likely two reports describe one event: the same category, close in space and time,
    told in like words.

    Each part scores 0..1: the category 1 when equal (0 otherwise), distance and time falling
    exponentially (to 1/e at ``DISTANCE_KM`` and ``TIME_HOURS``), the text its similarity. The
    score is their weighted sum (``WEIGHTS``); a pair beyond ``radius_km`` or ``window_hours``
    (the candidate search's bounds) scores 0.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> t = datetime(2026, 12, 1, 8, tzinfo=UTC)
    >>> a = Report("looting", 25.0, 5.0, t, "Market looted by armed men")
    >>> b = Report("looting", 25.01, 5.0, t + timedelta(hours=2), "armed men looted the market")
    >>> round(likeness(a, b).score, 2)
    0.82
    """
    km = distance_km(a, b)
    hours = abs((a.occurred_at - b.occurred_at).total_seconds()) / 3600.0
    reasons: list[dict[str, Any]] = [
        {"code": "distance_km", "value": round(km, 2)},
        {"code": "hours_apart", "value": round(hours, 1)},
    ]
    if km > radius_km or hours > window_hours:
        return Likeness(0.0, reasons)
    same = a.category == b.category
    reasons.insert(0, {"code": "same_category" if same else "other_category", "value": None})
    parts = {
        "category": 1.0 if same else 0.0,
        "distance": math.exp(-km / DISTANCE_KM),
        "time": math.exp(-hours / TIME_HOURS),
    }
    text = text_similarity(a.text, b.text)
    weights = dict(WEIGHTS)
    if text is None:
        share = weights.pop("text") / len(weights)
        weights = {k: w + share for k, w in weights.items()}
    else:
        parts["text"] = text
        reasons.append({"code": "text_similarity", "value": round(text, 2)})
    score = sum(weights[k] * parts[k] for k in weights)
    return Likeness(round(score, 4), reasons)
