"""Incidents over time: counts per day or week and category, for the map's time chart. Counted
in PostgreSQL through the reader's view of the table, with the same filters as the items and
tiles (``bbox``, ``datetime``, ``category``, ``severity`` ...): no incident is sent to count it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.access.sql import view
from service.auth.deps import PrincipalDep
from service.config import get_settings
from service.core.params import ListQuery
from service.core.records import apply_filters
from service.core.routes import list_query_dependency
from service.incidents.collection import INCIDENTS
from service.read_replicas import ReadSessionDep

Interval = Literal["day", "week"]

router = APIRouter(prefix="/api/incidents", tags=["Incidents and threats"])


async def incidents_over_time(
    session: AsyncSession, principal: Principal, query: ListQuery, interval: Interval
) -> dict[str, Any]:
    """Counts of the incidents ``principal`` may see, per period (the mission's local days, or
    ISO weeks from Monday) and category, oldest first."""
    v = view(INCIDENTS.table, principal)
    conditions = apply_filters(v, INCIDENTS, query)
    # The mission's days: an incident at 23:30 UTC in Bangui (UTC+1) counts on the next day.
    local = func.timezone(literal(get_settings().time_zone), v.column("occurred_at"))
    period = func.date_trunc(literal(interval), local)
    day = func.to_char(period, literal("YYYY-MM-DD"))
    category = v.column("category")
    rows = (
        await session.execute(
            select(day.label("period"), category.label("category"), func.count().label("n"))
            .where(v.where, *conditions)
            .group_by(day, category)
            .order_by(day, category)
        )
    ).all()
    counts = [{"period": r.period, "category": r.category, "count": r.n} for r in rows]
    return {"interval": interval, "total": sum(r.n for r in rows), "counts": counts}


@router.get(
    "/timeline",
    summary="Incidents per day or week, by category",
    description="How many incidents you may see fall in each of the mission's local days "
    "(setting `time_zone`; or ISO week, from "
    "Monday) and category, with the same filters as the items and tiles (`bbox`, `datetime`, "
    "`category`, `severity`, `sector`, `q`). Periods are the first day of the day or week "
    "(`YYYY-MM-DD`); periods with none are left out.",
)
async def timeline(
    session: ReadSessionDep,
    principal: PrincipalDep,
    query: Annotated[ListQuery, Depends(list_query_dependency(INCIDENTS))],
    interval: Annotated[Interval, Query(description="`day` or `week`.")] = "week",
) -> dict[str, Any]:
    return await incidents_over_time(session, principal, query, interval)
