"""Running an import's SQL with the import's own time limit, as the acting user."""

from __future__ import annotations

import asyncpg
from sqlalchemy import (
    Executable,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.policy import Principal
from service.audit import trail
from service.config import Settings
from service.core.records import act_as
from service.db import on_driver


def runner(session: AsyncSession, settings: Settings) -> trail.Run:
    """Long statements run on the driver with the import timeout, not the request one."""
    return on_driver(session, settings.import_timeout_s)


async def fetch(
    session: AsyncSession, statement: Executable, settings: Settings
) -> list[asyncpg.Record]:
    return await on_driver(session, settings.import_timeout_s)(statement)


async def begin(
    session: AsyncSession, principal: Principal, context: str, settings: Settings
) -> None:
    await act_as(session, principal, context=context)
    timeout_ms = str(settings.import_timeout_s * 1000)
    await session.execute(select(func.set_config("statement_timeout", timeout_ms, True)))
