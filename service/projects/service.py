"""The status of quick impact and community support projects: its history and its changes.

The workflow lives in the database (migration b9d1f3a5c7e0): ``civop_project_next_statuses``
says where a status may go, a trigger refuses any other change on every write path (the API,
OGC API - Features, imports) and another appends each change to ``project_status_history``.
This module changes a status with a reason and reads the history; who may see a history
follows the project.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.actions import authorize
from service.access.policy import Principal
from service.access.sql import view, view_children
from service.audit import trail
from service.core import dates
from service.core.records import _check_scope, act_as, get_feature, writing
from service.enums import ProjectStatus
from service.errors import Conflict, Forbidden, NotFound
from service.i18n import N_, _
from service.projects.collection import PROJECTS as PROJECTS_COLLECTION
from service.projects.models import Project, ProjectStatusHistory
from service.projects.schemas import ProjectHistory, ProjectStatusChange, StatusEntry

PROJECTS: Table = Project.__table__  # type: ignore[assignment]
HISTORY: Table = ProjectStatusHistory.__table__  # type: ignore[assignment]


async def next_statuses(session: AsyncSession, status: str) -> list[ProjectStatus]:
    """Where a project may go from ``status`` (the database's workflow)."""
    found = await session.scalar(select(func.civop_project_next_statuses(status)))
    return [ProjectStatus(s) for s in found or []]


async def _seen(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID
) -> tuple[bool, str]:
    v = view(PROJECTS, principal)
    row = (
        await session.execute(
            select(v.exact, PROJECTS.c.status).where(v.where, PROJECTS.c.id == project_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(_("no such record in projects"))
    return bool(row[0]), str(row[1])


async def change_status(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID, change: ProjectStatusChange
) -> str:
    """Move a project to a new status, with the reason kept in its history."""
    authorize(principal, "transition")
    collection = PROJECTS_COLLECTION
    async with writing(session, collection):
        await act_as(session, principal)
        exact, status = await _seen(session, principal, project_id)
        if not exact:
            raise Forbidden(_("you are not cleared for this project and may not change it"))
        await _check_scope(session, PROJECTS, project_id, principal)
        if change.status == status:
            raise Conflict(_("the project is {status} already", status=status))
        if change.status == ProjectStatus.completed:
            await _has_started_and_ended(session, project_id)
        await session.execute(select(func.set_config("civop.reason", change.reason or "", True)))
        await trail.write(
            trail.on_session(session),
            PROJECTS,
            update(PROJECTS).where(PROJECTS.c.id == project_id).values(status=change.status),
            kind="update",
            targets=[project_id],
        )
        await session.execute(select(func.set_config("civop.reason", "", True)))
    return await get_feature(session, collection, principal, project_id)


async def _has_started_and_ended(session: AsyncSession, project_id: uuid.UUID) -> None:
    """A project is completed once it has started and ended: not before its dates."""
    row = (
        await session.execute(
            select(PROJECTS.c.start_date, PROJECTS.c.end_date).where(PROJECTS.c.id == project_id)
        )
    ).one()
    for name, value, refusal in (
        (
            "start_date",
            row.start_date,
            N_(
                "the project starts on {day} ({name}): it cannot be completed before it starts; "
                "complete it then, or correct {name} (PATCH) if it was earlier"
            ),
        ),
        (
            "end_date",
            row.end_date,
            N_(
                "the project ends on {day} ({name}): it cannot be completed before it ends; "
                "complete it then, or correct {name} (PATCH) if it was earlier"
            ),
        ),
    ):
        if dates.too_late(value):
            raise Conflict(_(refusal, day=value.isoformat(), name=name))


async def history(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID
) -> ProjectHistory:
    """Every status of a project, oldest first, and where it may go now."""
    exact, status = await _seen(session, principal, project_id)
    if not exact:
        raise Forbidden(_("you are not cleared for this project's details"))
    rows = (
        await session.execute(
            view_children(HISTORY, PROJECTS, principal)
            .where(HISTORY.c.project_id == project_id)
            .order_by(HISTORY.c.seq)
        )
    ).all()
    return ProjectHistory(
        project_id=project_id,
        status=ProjectStatus(status),
        next_statuses=await next_statuses(session, status),
        history=[
            StatusEntry(
                from_status=ProjectStatus(r.from_status) if r.from_status else None,
                to_status=ProjectStatus(r.to_status),
                reason=r.reason,
                context=r.context,
                changed_at=r.changed_at,
                changed_by=r.changed_by,
            )
            for r in rows
        ],
    )
