"""Where reads go: map, tile and analysis reads to a streaming replica when there is one;
writes, a user's reads right after their own writes, and everything else to the primary.
A replica that cannot be reached is passed over, and the primary answers instead."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.auth.deps import PrincipalDep
from service.config import Settings
from service.db import SessionDep, close_session, create_engine, sessionmaker_for

log = logging.getLogger("civop.routing")


class ReadRouter:
    """Replicas in turn, each skipped for a while after it failed."""

    def __init__(self, settings: Settings, primary: async_sessionmaker[AsyncSession]) -> None:
        self.primary = primary
        self.engines: list[AsyncEngine] = [
            create_engine(settings, url, replica=True) for url in settings.read_urls
        ]
        self.replicas = [sessionmaker_for(engine) for engine in self.engines]
        self.down_until = [0.0] * len(self.replicas)
        self.retry_s = settings.replica_retry_s
        self.read_your_writes_s = settings.read_your_writes_s
        self.last_write: dict[str, float] = {}
        self.turn = 0

    def wrote(self, username: str) -> None:
        """``username`` just committed a write: send their reads to the primary for a while."""
        self.last_write[username] = time.monotonic()

    async def session(self, username: str, primary: AsyncSession | None = None) -> AsyncSession:
        """A replica's session, or ``primary`` (a new primary session when not given)."""
        now = time.monotonic()
        if now - self.last_write.get(username, -1e9) < self.read_your_writes_s:
            return self.primary() if primary is None else primary
        for _ in range(len(self.replicas)):
            index = self.turn % len(self.replicas)
            self.turn += 1
            if self.down_until[index] > now:
                continue
            session = self.replicas[index]()
            try:
                await session.connection()  # check out now (pinged): a dead replica shows here
                return session
            except (DBAPIError, OSError, TimeoutError) as error:
                await session.close()
                self.down_until[index] = now + self.retry_s
                log.warning(
                    "replica %d unavailable (%s): reading from the primary",
                    index,
                    type(error).__name__,
                )
        return self.primary() if primary is None else primary

    async def dispose(self) -> None:
        for engine in self.engines:
            await engine.dispose()


async def get_read_session(
    request: Request, principal: PrincipalDep, own: SessionDep
) -> AsyncIterator[AsyncSession]:
    """A session for map, tile and analysis reads (see the module docstring). Reads from the
    primary use the request's own session: a request that holds a connection (finding the
    principal takes one) must never wait for a second one, or a burst of requests can take
    every connection of the pool and wait for each other."""
    router: ReadRouter = request.app.state.reads
    session = await router.session(principal.username, own)
    try:
        yield session
    finally:
        if session is not own:
            await close_session(session)


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]
