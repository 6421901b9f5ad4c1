"""The incident report form shipped with civop (``docs/field-reports/incident-report.xlsx``), as
XLSForm: its questions are named after the incident's fields, so that a form registered with an
empty mapping fills them. ``civop intake-forms xlsform PATH`` writes it; KoboToolbox and ODK
Central take the file as it is (pyxform converts it)."""

from __future__ import annotations

from pathlib import Path

from service.enums import IncidentCategory, SourceReliability

FORM_ID = "civop_incident_report"
TITLE = "Incident report"
VERSION = "2026120701"

#: The ``survey`` sheet: type, name, label, hint, required, constraint, constraint_message,
#: appearance.
SURVEY: list[tuple[str, ...]] = [
    ("type", "name", "label", "hint", "required", "constraint", "constraint_message", "appearance"),
    ("start", "start", "", "", "", "", "", ""),
    ("end", "end", "", "", "", "", "", ""),
    ("begin_group", "incident", "Incident", "", "", "", "", "field-list"),
    ("select_one category", "category", "What happened?", "", "yes", "", "", ""),
    (
        "dateTime",
        "occurred_at",
        "When did it happen?",
        "Your best estimate if not known exactly.",
        "yes",
        ". <= now()",
        "It cannot be in the future.",
        "",
    ),
    (
        "geopoint",
        "location",
        "Where did it happen?",
        "Stand at the place, or pick it on the map.",
        "yes",
        "",
        "",
        "placement-map",
    ),
    ("select_one severity", "severity", "How serious was it?", "", "yes", "", "", ""),
    (
        "integer",
        "killed",
        "People killed",
        "0 if none or not known.",
        "",
        ". >= 0",
        "A count of people, 0 or more.",
        "",
    ),
    ("integer", "injured", "People injured", "", "", ". >= 0", "A count of people, 0 or more.", ""),
    (
        "integer",
        "displaced",
        "People displaced",
        "",
        "",
        ". >= 0",
        "A count of people, 0 or more.",
        "",
    ),
    (
        "text",
        "description",
        "What happened, in your own words",
        "Who, what, how many. No names of victims or witnesses.",
        "",
        "",
        "",
        "multiline",
    ),
    ("end_group", "", "", "", "", "", "", ""),
    ("begin_group", "source_group", "Source", "", "", "", "", "field-list"),
    (
        "text",
        "source",
        "Who told you?",
        'A role or a code ("village chief", "K-7"), never a name.',
        "",
        "",
        "",
        "",
    ),
    (
        "select_one reliability",
        "source_reliability",
        "How reliable is the source?",
        "",
        "",
        "",
        "",
        "",
    ),
    (
        "select_one credibility",
        "source_credibility",
        "How credible is the information?",
        "",
        "",
        "",
        "",
        "",
    ),
    ("end_group", "", "", "", "", "", "", ""),
]

_CATEGORY_LABELS = {
    IncidentCategory.armed_clash: "Armed clash",
    IncidentCategory.attack_on_civilians: "Attack on civilians",
    IncidentCategory.sexual_violence: "Sexual violence",
    IncidentCategory.abduction: "Abduction",
    IncidentCategory.looting: "Looting",
    IncidentCategory.explosive_hazard: "Explosive hazard (mine, UXO, IED)",
    IncidentCategory.displacement: "Displacement",
    IncidentCategory.protest_or_riot: "Protest or riot",
    IncidentCategory.threat_or_intimidation: "Threat or intimidation",
    IncidentCategory.attack_on_humanitarians: "Attack on humanitarians",
    IncidentCategory.other: "Other",
}
_RELIABILITY_LABELS = {
    SourceReliability.A: "A: completely reliable",
    SourceReliability.B: "B: usually reliable",
    SourceReliability.C: "C: fairly reliable",
    SourceReliability.D: "D: not usually reliable",
    SourceReliability.E: "E: unreliable",
    SourceReliability.F: "F: cannot be judged",
}

#: The ``choices`` sheet: list_name, name, label.
CHOICES: list[tuple[str, str, str]] = [
    ("list_name", "name", "label"),
    *(("category", c.value, _CATEGORY_LABELS[c]) for c in IncidentCategory),
    ("severity", "1", "1: minor"),
    ("severity", "2", "2: moderate"),
    ("severity", "3", "3: serious"),
    ("severity", "4", "4: grave"),
    ("severity", "5", "5: mass casualties"),
    *(("reliability", r.value, _RELIABILITY_LABELS[r]) for r in SourceReliability),
    ("credibility", "1", "1: confirmed by other sources"),
    ("credibility", "2", "2: probably true"),
    ("credibility", "3", "3: possibly true"),
    ("credibility", "4", "4: doubtful"),
    ("credibility", "5", "5: improbable"),
    ("credibility", "6", "6: cannot be judged"),
]

#: The ``settings`` sheet.
SETTINGS: list[tuple[str, str]] = [
    ("form_title", TITLE),
    ("form_id", FORM_ID),
    ("version", VERSION),
    ("instance_name", "concat(${category}, ' ', ${occurred_at})"),
]


def write(path: Path) -> Path:
    """Write the form as an XLSForm workbook (``survey``, ``choices``, ``settings``)."""
    from openpyxl import Workbook

    book = Workbook()
    survey = book.active
    assert survey is not None
    survey.title = "survey"
    for row in SURVEY:
        survey.append(list(row))
    choices = book.create_sheet("choices")
    for choice in CHOICES:
        choices.append(list(choice))
    settings = book.create_sheet("settings")
    settings.append([name for name, _ in SETTINGS])
    settings.append([value for _, value in SETTINGS])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path
