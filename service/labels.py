"""What each enumerated value is called: categories, statuses, site types... in every language.

The codes (``attack_on_civilians``) stay what the API, the database and exports carry; people
read the labels (``Attack on civilians``, ``Attaque contre des civils``, ``هجوم على المدنيين``).
Imports match a file's values against the codes and against the labels in every language the
catalogs hold (:func:`written_forms`).
"""

from __future__ import annotations

import types
import unicodedata
from collections.abc import Iterable
from enum import Enum, StrEnum
from functools import lru_cache
from typing import Union, get_args, get_origin

from pydantic import BaseModel

from service import enums
from service.i18n import N_, _, languages, translate

#: Labels by vocabulary and code. A code used in several vocabularies with one meaning
#: (``other``, ``closed``) has one label in each.
LABELS: dict[str, dict[str, str]] = {
    "Classification": {
        "public": N_("Public"),
        "mission": N_("Mission only"),
        "restricted": N_("Restricted"),
    },
    "SectorLevel": {
        "force": N_("Force"),
        "sector": N_("Sector"),
        "battalion": N_("Battalion"),
    },
    "ActorCategory": {
        "un_agency": N_("UN agency"),
        "mission_component": N_("Mission component"),
        "international_organisation": N_("International organisation"),
        "ingo": N_("INGO"),
        "ngo": N_("NGO"),
        "host_government": N_("Host government"),
        "host_security_forces": N_("Host security forces"),
        "local_authority": N_("Local authority"),
        "armed_group": N_("Armed group"),
        "other": N_("Other"),
    },
    "SiteType": {
        "planned_camp": N_("Planned camp"),
        "collective_centre": N_("Collective centre"),
        "spontaneous_settlement": N_("Spontaneous settlement"),
        "host_community": N_("Host community"),
    },
    "SiteStatus": {"open": N_("Open"), "closed": N_("Closed")},
    "ProjectKind": {
        "quick_impact_project": N_("Quick impact project"),
        "civil_assistance": N_("Civil assistance"),
        "community_support": N_("Community support"),
    },
    "ProjectStatus": {
        "proposed": N_("Proposed"),
        "approved": N_("Approved"),
        "ongoing": N_("Ongoing"),
        "completed": N_("Completed"),
        "cancelled": N_("Cancelled"),
    },
    "IncidentCategory": {
        "armed_clash": N_("Armed clash"),
        "attack_on_civilians": N_("Attack on civilians"),
        "sexual_violence": N_("Sexual violence"),
        "abduction": N_("Abduction"),
        "looting": N_("Looting"),
        "explosive_hazard": N_("Explosive hazard"),
        "displacement": N_("Displacement"),
        "protest_or_riot": N_("Protest or riot"),
        "threat_or_intimidation": N_("Threat or intimidation"),
        "attack_on_humanitarians": N_("Attack on humanitarians"),
        "other": N_("Other"),
    },
    "LocationPrecision": {
        "exact": N_("Exact"),
        "approximate": N_("Approximate"),
        "area": N_("Area"),
    },
    "PatrolType": {
        "foot": N_("Foot"),
        "mobile": N_("Mobile"),
        "air": N_("Air"),
        "riverine": N_("Riverine"),
    },
    "PatrolState": {"planned": N_("Planned"), "conducted": N_("Conducted")},
    "BaseKind": {
        "headquarters": N_("Headquarters"),
        "company_base": N_("Company base"),
        "team_site": N_("Team site"),
        "temporary_operating_base": N_("Temporary operating base"),
    },
    "Role": {
        "partner": N_("Partner"),
        "analyst": N_("Analyst"),
        "officer": N_("Officer"),
        "admin": N_("Administrator"),
    },
    "PlaceClass": {
        "city": N_("City"),
        "town": N_("Town"),
        "village": N_("Village"),
        "hamlet": N_("Hamlet"),
    },
    "RequestStatus": {
        "submitted": N_("Submitted"),
        "under_review": N_("Under review"),
        "referred_to_srsg": N_("Referred to the SRSG"),
        "approved": N_("Approved"),
        "denied": N_("Denied"),
        "completed": N_("Completed"),
        "delivered_by_other": N_("Delivered by another actor"),
        "withdrawn": N_("Withdrawn"),
    },
    "Capability": {
        "air_transport": N_("Air transport"),
        "ground_transport": N_("Ground transport"),
        "engineering": N_("Engineering"),
        "medical": N_("Medical"),
        "security_escort": N_("Security escort"),
        "logistics": N_("Logistics"),
        "communications": N_("Communications"),
        "other": N_("Other"),
    },
    "RuleKind": {
        "incident_near_site": N_("Incident near an IDP site"),
        "incident_cluster": N_("Cluster of incidents"),
        "armed_group_near_site": N_("Armed group near an IDP site"),
        "risk_threshold": N_("Risk above threshold"),
        "hotspot": N_("Hot spot"),
    },
    "HotspotTrend": {"new": N_("New"), "intensifying": N_("Intensifying")},
    "AlertStatus": {
        "new": N_("New"),
        "acknowledged": N_("Acknowledged"),
        "closed": N_("Closed"),
    },
}

#: Every code's label, whatever its vocabulary (the first vocabulary to name it wins).
BY_CODE: dict[str, str] = {}
for _vocabulary in LABELS.values():
    for _code, _label in _vocabulary.items():
        BY_CODE.setdefault(_code, _label)


def label(value: object, vocabulary: str | type[StrEnum] | None = None) -> str:
    """The label of an enumerated value in the current language (the value itself, words
    apart, when no vocabulary names it): ``attack_on_civilians`` -> ``Attaque contre des
    civils``."""
    if value is None:
        return ""
    code = str(value)
    name = vocabulary if isinstance(vocabulary, str) or vocabulary is None else vocabulary.__name__
    english = (LABELS.get(name, {}) if name else {}).get(code) or BY_CODE.get(code)
    if english is None:
        text = code.replace("_", " ")
        return text[:1].upper() + text[1:]
    return _(english)


def labels(vocabulary: str | type[StrEnum]) -> dict[str, str]:
    """``{code: label}`` of a vocabulary in the current language."""
    name = vocabulary if isinstance(vocabulary, str) else vocabulary.__name__
    return {code: _(text) for code, text in LABELS[name].items()}


def all_labels() -> dict[str, str]:
    """``{code: label}`` of every code in the current language (for the map's script)."""
    return {code: _(text) for code, text in BY_CODE.items()}


def fold(text: str) -> str:
    """How written values are compared: no accents, no case, blanks and dashes as ``_``
    (``Camp planifié`` -> ``camp_planifie``)."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    # Arabic: without tatweel (the hamza and madda of alef forms go with the accents above).
    bare = bare.replace("\u0640", "")
    return "_".join(bare.replace("-", " ").replace("/", " ").split())


@lru_cache(maxsize=64)
def written_forms(vocabulary: str, codes: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(folded written form, code) pairs a file's value may take: the code and its label in
    English and in every language of the catalogs."""
    known = LABELS.get(vocabulary, {})
    forms: dict[str, str] = {}
    for code in codes:
        forms.setdefault(fold(code), code)
        english = known.get(code) or BY_CODE.get(code)
        if english is None:
            continue
        for language in languages():
            forms.setdefault(fold(translate(english, language)), code)
    return tuple(forms.items())


def vocabularies(model: type[BaseModel]) -> dict[str, str]:
    """``{field: vocabulary}`` of a schema's enumerated fields that have labels."""
    found = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if get_origin(annotation) in (Union, types.UnionType):
            annotation = next((a for a in get_args(annotation) if a is not type(None)), None)
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            if annotation.__name__ in LABELS:
                found[name] = annotation.__name__
    return found


def vocabulary_of(codes: Iterable[str]) -> str | None:
    """The vocabulary whose codes are exactly ``codes`` (how an import's field names its list)."""
    wanted = set(codes)
    for name, vocabulary in LABELS.items():
        if set(vocabulary) == wanted:
            return name
    return None


#: The vocabularies of :mod:`service.enums` that carry labels (checked by the tests).
ENUMS: tuple[type[StrEnum], ...] = (
    enums.Classification,
    enums.SectorLevel,
    enums.ActorCategory,
    enums.SiteType,
    enums.SiteStatus,
    enums.ProjectKind,
    enums.ProjectStatus,
    enums.IncidentCategory,
    enums.LocationPrecision,
    enums.PatrolType,
    enums.PatrolState,
    enums.BaseKind,
    enums.Role,
    enums.PlaceClass,
)
