"""Actors in the workspace: UN agencies, NGOs, host-nation authorities, armed groups and
others, placed as a point or an outline on the map (or typed), listed, corrected and deleted by
who may (the service's actions decide)."""

from __future__ import annotations

from service.actors.collection import ACTORS
from service.enums import ActorCategory
from service.i18n import N_
from service.workspace.drawing import DrawnArea, Field, drawn_router
from service.workspace.nav import NavEntry

ACTOR_CATEGORIES = (
    (ActorCategory.un_agency.value, N_("UN agency")),
    (ActorCategory.mission_component.value, N_("Mission component")),
    (ActorCategory.international_organisation.value, N_("International organisation")),
    (ActorCategory.ingo.value, N_("International NGO")),
    (ActorCategory.ngo.value, N_("National NGO")),
    (ActorCategory.host_government.value, N_("Host government")),
    (ActorCategory.host_security_forces.value, N_("Host security forces")),
    (ActorCategory.local_authority.value, N_("Local authority")),
    (ActorCategory.armed_group.value, N_("Armed group")),
    (ActorCategory.other.value, N_("Other")),
)
#: Whether the actor is humanitarian (de-confliction keeps routes away from them).
HUMANITARIAN = (("false", N_("No")), ("true", N_("Yes")))

AREA = DrawnArea(
    collection=ACTORS,
    path="actors",
    title=N_("Actors"),
    one=N_("Actor"),
    create_label=N_("Add a new actor"),
    label_title=N_("Name"),
    coordinates_label=N_("Location or area of the actor"),
    label="name",
    shapes="point_or_area",
    fields=(
        Field("name", N_("Name")),
        Field("acronym", N_("Acronym")),
        Field("category", N_("Category"), "select", ACTOR_CATEGORIES),
        Field(
            "humanitarian",
            N_("Humanitarian actor"),
            "select",
            HUMANITARIAN,
            hint=N_("Patrol routes are checked against the locations of humanitarian actors."),
        ),
        Field("focal_point", N_("Focal point")),
        Field("phone", N_("Phone")),
        Field("email", N_("Email")),
        Field("description", N_("Description"), "textarea"),
    ),
    listed=(("acronym", N_("Acronym")), ("category", N_("Category"))),
)

router = drawn_router(AREA)
NAV = [NavEntry(N_("Actors"), AREA.base, action="create", collection=ACTORS.name)]
