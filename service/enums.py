"""Controlled vocabularies. Each is enforced by a CHECK constraint in the database and by the
API schemas, so an unknown value is refused with the list of allowed ones."""

from enum import StrEnum


class Classification(StrEnum):
    public = "public"
    mission = "mission"
    restricted = "restricted"


class SectorLevel(StrEnum):
    force = "force"
    sector = "sector"
    battalion = "battalion"


class ActorCategory(StrEnum):
    un_agency = "un_agency"
    mission_component = "mission_component"
    international_organisation = "international_organisation"
    ingo = "ingo"
    ngo = "ngo"
    host_government = "host_government"
    host_security_forces = "host_security_forces"
    local_authority = "local_authority"
    armed_group = "armed_group"
    other = "other"


class SiteType(StrEnum):
    planned_camp = "planned_camp"
    collective_centre = "collective_centre"
    spontaneous_settlement = "spontaneous_settlement"
    host_community = "host_community"


class SiteStatus(StrEnum):
    open = "open"
    closed = "closed"


class ProjectKind(StrEnum):
    quick_impact_project = "quick_impact_project"
    civil_assistance = "civil_assistance"
    community_support = "community_support"


class ProjectStatus(StrEnum):
    proposed = "proposed"
    approved = "approved"
    ongoing = "ongoing"
    completed = "completed"
    cancelled = "cancelled"


class IncidentCategory(StrEnum):
    armed_clash = "armed_clash"
    attack_on_civilians = "attack_on_civilians"
    sexual_violence = "sexual_violence"
    abduction = "abduction"
    looting = "looting"
    explosive_hazard = "explosive_hazard"
    displacement = "displacement"
    protest_or_riot = "protest_or_riot"
    threat_or_intimidation = "threat_or_intimidation"
    attack_on_humanitarians = "attack_on_humanitarians"
    other = "other"


class SourceReliability(StrEnum):
    """Admiralty grading of the source: A completely reliable ... F cannot be judged."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"


class LocationPrecision(StrEnum):
    exact = "exact"
    approximate = "approximate"
    area = "area"


class VerificationState(StrEnum):
    """Where an incident stands: a report not yet judged, established, or judged untrue."""

    reported = "reported"
    verified = "verified"
    discredited = "discredited"


class PatrolType(StrEnum):
    foot = "foot"
    mobile = "mobile"
    air = "air"
    riverine = "riverine"


class PatrolState(StrEnum):
    planned = "planned"
    conducted = "conducted"


class BaseKind(StrEnum):
    headquarters = "headquarters"
    company_base = "company_base"
    team_site = "team_site"
    temporary_operating_base = "temporary_operating_base"


class Role(StrEnum):
    partner = "partner"
    analyst = "analyst"
    officer = "officer"
    admin = "admin"


class Office(StrEnum):
    """The offices whose decision a request for civil assistance awaits: the humanitarian side
    (DSRSG/RC/HC), the military side (Head of Military Component) and, when they disagree, the
    SRSG."""

    dsrsg_rc_hc = "dsrsg_rc_hc"
    homc = "homc"
    srsg = "srsg"


class PlaceClass(StrEnum):
    """How big a populated place is, as OpenStreetMap's ``place=*`` says it: labels of cities
    show from the widest zoom, hamlets only close up."""

    city = "city"
    town = "town"
    village = "village"
    hamlet = "hamlet"
