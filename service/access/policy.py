"""Who may see what, at what precision: principals, roles and each collection's policy.

The rules are data here; ``service.access.sql`` turns them into SQL. Nothing else in the
service decides visibility.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from service.enums import Classification, Office, Role

Action = Literal["hide", "generalise"]

#: Roles from the least to the most trusted, in the order ``Role`` declares them.
_ROLE_RANK = {role: rank for rank, role in enumerate(Role)}


@dataclass(frozen=True)
class Principal:
    """The user (or machine client acting as a user) behind a request."""

    username: str
    role: Role
    user_id: uuid.UUID | None = None
    cleared_restricted: bool = False
    #: Sector ids this principal is limited to, sub-areas included; ``None`` is the whole mission.
    sector_scope: frozenset[uuid.UUID] | None = None
    #: The actor (organisation) the user works for, if any: its own records are theirs to see.
    actor_id: uuid.UUID | None = None
    #: The office the user decides for (requests for civil assistance), if any.
    office: Office | None = None
    #: The language the user chose for civop's texts (``None``: the browser's).
    language: str | None = None

    def at_least(self, role: Role) -> bool:
        return _ROLE_RANK[self.role] >= _ROLE_RANK[role]

    @property
    def cleared_for(self) -> frozenset[Classification]:
        """Classifications this principal sees in full."""
        if self.role is Role.admin or (self.cleared_restricted and self.at_least(Role.analyst)):
            return frozenset(Classification)
        if self.at_least(Role.analyst):
            return frozenset({Classification.public, Classification.mission})
        return frozenset({Classification.public})


#: The service itself (CLI, demo loader, migrations): sees everything.
SYSTEM = Principal(username="system", role=Role.admin, cleared_restricted=True)


#: Fields of every record that find its exact place, or the record itself, outside civop: the
#: key it has in its source (a DTM site code in the public DTM list, an ACLED event id), the
#: source's name, and the sector of its exact position (a battalion area, much smaller than
#: the country and often cutting a generalisation cell in two).
IDENTIFYING = ("origin", "external_id", "sector_id")


@dataclass(frozen=True)
class CollectionPolicy:
    """How one collection is shown to principals not cleared for a record.

    ``above_clearance`` says, per classification, whether such records are hidden or shown
    generalised (location snapped to a coarse cell centre, ``sensitive`` fields removed).
    Anything not listed is hidden. ``coarse_location_for`` lists roles that only ever see
    generalised locations in this collection, even of records they are cleared for.
    ``min_role`` removes single fields for roles below the one named. ``owner_column`` names
    the column holding the actor a record belongs to: a principal working for that actor sees
    the record in full whatever its role, unless the record is restricted.

    ``identifying`` lists the fields that tie a record to its exact place or to its key
    outside civop (an external id such as a DTM site code, the system it came from, the
    battalion area of its exact position): they are removed from every record shown with a
    coarse location, where its generalised cell must be all its reader learns of the place.
    """

    above_clearance: dict[Classification, Action] = field(default_factory=dict)
    sensitive: tuple[str, ...] = ()
    coarse_location_for: frozenset[Role] = frozenset()
    min_role: dict[str, Role] = field(default_factory=dict)
    owner_column: str | None = None
    identifying: tuple[str, ...] = IDENTIFYING
    #: Roles that see a record whose ``verification_state`` is not ``verified`` (a field report
    #: not yet judged, or one judged untrue) only when it is their own actor's.
    unverified_hidden_for: frozenset[Role] = frozenset()

    def action(self, classification: Classification) -> Action:
        return self.above_clearance.get(classification, "hide")

    def with_overrides(self, overrides: dict[str, Action]) -> CollectionPolicy:
        merged = dict(self.above_clearance)
        merged.update({Classification(k): v for k, v in overrides.items()})
        return CollectionPolicy(
            merged,
            self.sensitive,
            self.coarse_location_for,
            self.min_role,
            self.owner_column,
            self.identifying,
            self.unverified_hidden_for,
        )


#: Who wrote a record is staff information: partners never see it.
_STAFF_FIELDS = {"created_by": Role.analyst, "updated_by": Role.analyst}
#: Who corrected or withdrew a site's population figure, and why, is staff information too.
FIGURE_STAFF_FIELDS = ("created_by", "updated_by", "withdrawn_by", "withdrawn_reason")


@dataclass(frozen=True)
class ChildTable:
    """A table whose rows belong to a record of a collection (its history): who sees a row is
    who sees its parent in full; ``staff`` fields are removed for roles below analyst."""

    parent: str
    key: str
    staff: tuple[str, ...]


#: The child tables of collections, declared so the read gate covers them
#: (``service.access.sql.view_children``).
CHILD_TABLES: dict[str, ChildTable] = {
    "site_population": ChildTable("idp_sites", "site_id", FIGURE_STAFF_FIELDS),
    "project_status_history": ChildTable("projects", "project_id", ("context", "changed_by")),
    "assistance_request_history": ChildTable("assistance_requests", "request_id", ("recorded_by",)),
    # A form's submission as it arrived: its reader is who sees the incident it made in full
    # (the partner whose form sent it included); the raw payload is staff information.
    "intake_submissions": ChildTable("incidents", "incident_id", ("payload",)),
    # An analyst's judgement that two reports differ: read with the report it was made on,
    # and only where the reader sees the candidate too (``service.field_reports.duplicates``).
    "duplicate_dismissals": ChildTable("incidents", "incident_id", ("dismissed_by", "reason")),
}

#: Tables that are no collection's and are read whole, only by principals the named action of
#: ``service.access.actions.ACTIONS`` allows (``service.access.sql.read_table``): the intake
#: forms (their owners, mappings and token hashes) are for admins.
ACTION_TABLES: dict[str, str] = {"intake_forms": "manage_intake_forms"}


_CONTACTS = {"focal_point": Role.officer, "phone": Role.officer, "email": Role.officer}

DEFAULT_POLICIES: dict[str, CollectionPolicy] = {
    "sectors": CollectionPolicy(
        above_clearance={Classification.mission: "generalise"},
        sensitive=("name",),
        min_role=_STAFF_FIELDS,
        # The parent names the area around it; the HQ is a military position.
        identifying=(*IDENTIFYING, "parent_id", "hq"),
    ),
    "actors": CollectionPolicy(
        above_clearance={Classification.mission: "generalise"},
        sensitive=("name", "acronym", "focal_point", "phone", "email", "description"),
        coarse_location_for=frozenset({Role.partner}),
        min_role={**_STAFF_FIELDS, **_CONTACTS},
    ),
    "idp_sites": CollectionPolicy(
        above_clearance={Classification.mission: "generalise"},
        sensitive=("name", "description", "managing_actor_id"),
        min_role=_STAFF_FIELDS,
    ),
    "projects": CollectionPolicy(
        above_clearance={Classification.mission: "generalise"},
        sensitive=("title", "description", "implementing_actor_id", "budget_usd"),
        min_role=_STAFF_FIELDS,
    ),
    "incidents": CollectionPolicy(
        above_clearance={},
        sensitive=(
            "description",
            "source",
            "source_reliability",
            "source_credibility",
            "perpetrator_actor_id",
            "reporting_actor_id",
        ),
        # Who judged a report and why is staff information; so is which partner reported it
        # (an organisation seen to report to the military is put at risk).
        min_role={
            **_STAFF_FIELDS,
            "verified_by": Role.analyst,
            "verification_reason": Role.analyst,
            "reporting_actor_id": Role.analyst,
        },
        # How precisely the exact place is known says nothing true of a generalised one.
        identifying=(*IDENTIFYING, "location_precision"),
        # A partner's form's reports are that partner's to see.
        owner_column="reporting_actor_id",
        # Reports not yet verified (and those discredited) stay inside the mission: a partner
        # sees only their own.
        unverified_hidden_for=frozenset({Role.partner}),
    ),
    "bases": CollectionPolicy(
        above_clearance={Classification.mission: "generalise"},
        sensitive=("name", "unit"),
        min_role=_STAFF_FIELDS,
    ),
    "patrols": CollectionPolicy(
        above_clearance={},
        sensitive=("unit", "description", "base_id"),
        min_role=_STAFF_FIELDS,
    ),
    # The gazetteer is public by default; a place recorded as mission or restricted (a
    # settlement named only in confidential reporting) follows the same rules as a site.
    "places": CollectionPolicy(
        above_clearance={Classification.mission: "generalise"},
        sensitive=("name", "alternate_names", "admin1", "admin2"),
        min_role=_STAFF_FIELDS,
    ),
    # A request for military support can put the requesting organisation at risk: partners
    # see public requests and their own actor's, nothing of anyone else's.
    "assistance_requests": CollectionPolicy(
        above_clearance={},
        min_role=_STAFF_FIELDS,
        owner_column="requesting_actor_id",
    ),
}

#: Officers and admins record every step of a request for civil assistance, the decisions of
#: the DSRSG/RC/HC, the HOMC and the SRSG included, on the requests they may see in full.
_RECORDERS = frozenset({Role.officer, Role.admin})
#: Who may take each step of the civil-assistance request workflow (``service.requests``).
#: Partners take a step only on their own actor's requests (``service.access.actions``).
REQUEST_STEPS: dict[str, frozenset[Role]] = {
    "submit": frozenset({Role.partner, Role.officer, Role.admin}),
    "review": _RECORDERS,
    "humanitarian_decision": _RECORDERS,
    "military_decision": _RECORDERS,
    "srsg_decision": _RECORDERS,
    "complete": _RECORDERS,
    "delivered_by_other": _RECORDERS,
    "withdraw": frozenset({Role.partner, Role.officer, Role.admin}),
}
#: The office whose decision each decision step records. A user holding an office takes its
#: decision whatever their role and no other office's; officers and admins holding none record
#: the offices' decisions for them (taken in a meeting, on paper).
DECISION_OFFICES: dict[str, Office] = {
    "humanitarian_decision": Office.dsrsg_rc_hc,
    "military_decision": Office.homc,
    "srsg_decision": Office.srsg,
}
#: Classifications from the least protected to the most.
CLASSIFICATION_ORDER = tuple(Classification)
#: The same order as an SQL array, for ``array_position`` (the alert rules rank with it).
CLASSIFICATION_RANK_SQL = "(ARRAY[" + ",".join(f"'{c.value}'" for c in Classification) + "])"

#: The least classification a record of a category is stored at, per collection: whoever
#: writes it and whatever they ask for. Settings add or change floors (``CIVOP_CATEGORY_FLOORS``).
DEFAULT_FLOORS: dict[str, dict[str, Classification]] = {
    # Survivors of sexual violence are put at risk by any wider circle of readers.
    "incidents": {"sexual_violence": Classification.restricted},
}


def floors_for(
    collection: str, overrides: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, Classification]:
    """Category -> floor of one collection, the settings' floors over the defaults."""
    floors = dict(DEFAULT_FLOORS.get(collection, {}))
    if overrides and collection in overrides:
        floors.update({k: Classification(v) for k, v in overrides[collection].items()})
    return {k: v for k, v in floors.items() if v is not Classification.public}


def below(floor: Classification) -> list[Classification]:
    """The classifications less protected than ``floor``."""
    return list(CLASSIFICATION_ORDER[: CLASSIFICATION_ORDER.index(floor)])


def floor_above(
    collection: str,
    category: str | None,
    classification: str,
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> Classification | None:
    """The floor of ``category`` when ``classification`` is below it, else ``None``: the
    record is stored at the floor (if the writer is cleared for it) or not at all."""
    if category is None:
        return None
    floor = floors_for(collection, overrides).get(category)
    if floor is None or Classification(classification) not in below(floor):
        return None
    return floor


def policy_for(
    collection: str, overrides: dict[str, dict[str, Action]] | None = None
) -> CollectionPolicy:
    policy = DEFAULT_POLICIES[collection]
    if overrides and collection in overrides:
        return policy.with_overrides(overrides[collection])
    return policy
