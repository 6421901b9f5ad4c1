"""Failed logins, counted in the database before each password check.

Three counters answer for every attempt: the account at this client address (the pair), the
account from every address, and the address for every account. An attempt is counted, under a
lock on its rows, before its password is checked, so concurrent guesses queue on the rows and
each sees the ones before it: none races past the limit. Past a counter's limit each further
attempt waits a back-off that doubles with each failure (``Retry-After`` says how long); an
attempt refused for that is not checked and not counted, so it cannot lengthen the wait.

An account's own counter at an address where it logged in before (a known address) is the only
one that applies there: guesses against the account from elsewhere, or of other accounts from
the same NAT address, do not lock its user out. A successful login clears the pair's failures.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Table, case, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from service.auth.models import LoginThrottle
from service.config import Settings
from service.errors import TooManyRequests
from service.i18n import _

Scope = Literal["pair", "account", "address"]
THROTTLE: Table = LoginThrottle.__table__  # type: ignore[assignment]
#: Rows whose time is up, deleted by each counted attempt (the table stays as small as the
#: attempts of the last hour, without a scheduled job).
FORGET_PER_ATTEMPT = 100


@dataclass(frozen=True)
class LoginLimits:
    pair: int
    account: int
    address: int
    backoff_s: float
    backoff_max_s: float
    window_s: float
    known_s: float

    @classmethod
    def of(cls, settings: Settings) -> LoginLimits:
        return cls(
            pair=settings.login_max_failures,
            account=settings.login_account_max_failures,
            address=settings.login_address_max_failures,
            backoff_s=settings.login_backoff_s,
            backoff_max_s=settings.login_backoff_max_s,
            window_s=settings.login_window_s,
            known_s=settings.login_known_address_days * 86_400,
        )

    def threshold(self, scope: Scope) -> int:
        return {"pair": self.pair, "account": self.account, "address": self.address}[scope]

    def backoff(self, scope: Scope, failures: int) -> timedelta | None:
        """The wait before the next attempt after ``failures`` in a row; ``None`` below the limit."""
        over = failures - self.threshold(scope)
        if over < 0:
            return None
        return timedelta(seconds=min(self.backoff_s * 2.0 ** min(over, 40), self.backoff_max_s))


@dataclass(frozen=True)
class Admission:
    """An attempt counted: the rows it was counted in."""

    username: str
    address: str
    scopes: tuple[Scope, ...]


def network_of(address: str) -> str:
    """The address as counted: an IPv6 client is its /64 network (one site or one host may
    hold all of it, and would otherwise get a new count with each of its addresses)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _key(scope: Scope, username: str, address: str) -> tuple[str, str, str]:
    return (
        scope,
        "" if scope == "account" else address,
        "" if scope == "address" else username,
    )


def _where(key: tuple[str, str, str]) -> Any:
    return tuple_(THROTTLE.c.scope, THROTTLE.c.address, THROTTLE.c.username) == key


async def _locked(connection: AsyncConnection, key: tuple[str, str, str]) -> Row[Any]:
    scope, address, username = key
    await connection.execute(
        insert(THROTTLE)
        .values(scope=scope, address=address, username=username)
        .on_conflict_do_nothing()
    )
    return (await connection.execute(select(THROTTLE).where(_where(key)).with_for_update())).one()


def _stale(row: Row[Any], now: datetime, limits: LoginLimits) -> bool:
    """The row's failures are forgotten: the last one is older than the window, no wait runs."""
    forgotten = row.last_failure_at is None or row.last_failure_at < now - timedelta(
        seconds=limits.window_s
    )
    return forgotten and (row.next_attempt_at is None or row.next_attempt_at <= now)


async def admit(engine: AsyncEngine, limits: LoginLimits, username: str, address: str) -> Admission:
    """Count a login attempt before its password is checked, in a transaction of its own;
    ``TooManyRequests`` (with ``Retry-After``) while a back-off runs."""
    address = network_of(address)
    async with engine.begin() as connection:
        now: datetime = (await connection.execute(select(func.now()))).scalar_one()
        # Rows are always locked in this order (pair, account, address): no deadlock.
        rows = {"pair": await _locked(connection, _key("pair", username, address))}
        known_since = now - timedelta(seconds=limits.known_s)
        last_success = rows["pair"].last_success_at
        if last_success is None or last_success <= known_since:
            for scope in ("account", "address"):
                rows[scope] = await _locked(connection, _key(scope, username, address))
        waits = [
            (row.next_attempt_at - now).total_seconds()
            for row in rows.values()
            if row.next_attempt_at is not None and row.next_attempt_at > now
        ]
        if waits:
            seconds = max(1, math.ceil(max(waits)))
            raise TooManyRequests(
                _("too many failed logins; wait {seconds} seconds and try again", seconds=seconds),
                {"Retry-After": str(seconds)},
            )
        for scope, row in rows.items():
            failures = (0 if _stale(row, now, limits) else row.failures) + 1
            wait = limits.backoff(scope, failures)  # type: ignore[arg-type]
            next_attempt = None if wait is None else now + wait
            keep = [now + timedelta(seconds=limits.window_s)]
            if next_attempt is not None:
                keep.append(next_attempt)
            if row.last_success_at is not None:
                keep.append(row.last_success_at + timedelta(seconds=limits.known_s))
            await connection.execute(
                update(THROTTLE)
                .where(_where((row.scope, row.address, row.username)))
                .values(
                    failures=failures,
                    last_failure_at=now,
                    next_attempt_at=next_attempt,
                    forget_at=max(keep),
                )
            )
        await _forget_old(connection)
    return Admission(username, address, tuple(rows))  # type: ignore[arg-type]


async def _forget_old(connection: AsyncConnection) -> None:
    """Delete some rows whose time is up (none another attempt holds)."""
    old = (
        select(THROTTLE.c.scope, THROTTLE.c.address, THROTTLE.c.username)
        .where(THROTTLE.c.forget_at < func.now())
        .limit(FORGET_PER_ATTEMPT)
        .with_for_update(skip_locked=True)
    )
    await connection.execute(
        THROTTLE.delete().where(
            tuple_(THROTTLE.c.scope, THROTTLE.c.address, THROTTLE.c.username).in_(old)
        )
    )


async def succeeded(engine: AsyncEngine, limits: LoginLimits, admission: Admission) -> None:
    """The password was right: the pair's failures are cleared and its address becomes known
    to the account; the attempt no longer counts against the account or the address."""
    async with engine.begin() as connection:
        now = func.now()
        await connection.execute(
            update(THROTTLE)
            .where(_where(_key("pair", admission.username, admission.address)))
            .values(
                failures=0,
                last_failure_at=None,
                next_attempt_at=None,
                last_success_at=now,
                forget_at=now + timedelta(seconds=max(limits.known_s, limits.window_s)),
            )
        )
        for scope in admission.scopes:
            if scope == "pair":
                continue
            remaining = func.greatest(THROTTLE.c.failures - 1, 0)
            await connection.execute(
                update(THROTTLE)
                .where(_where(_key(scope, admission.username, admission.address)))
                .values(
                    failures=remaining,
                    next_attempt_at=case(
                        (remaining < limits.threshold(scope), None),
                        else_=THROTTLE.c.next_attempt_at,
                    ),
                )
            )


async def unlock(session: AsyncSession, username: str) -> int:
    """Clear an account's failed logins at every address (its known addresses stay known);
    returns how many counters were cleared. For a user locked out by someone else's guesses."""
    result = await session.execute(
        update(THROTTLE)
        .where(THROTTLE.c.username == username, THROTTLE.c.scope.in_(("pair", "account")))
        .values(failures=0, last_failure_at=None, next_attempt_at=None)
    )
    await session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]
