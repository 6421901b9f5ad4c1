"""Running the mission's accounts: users and their API keys, as an admin does it.

Each use case asks :func:`~service.access.actions.authorize` first and then writes through
``service.auth.service``, stamping the admin as the actor of the audit rows; the JSON API
(``service.auth.admin_views``), the workspace's administration pages and the command line
call these and nothing else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.access.actions import authorize
from service.access.policy import Principal
from service.auth import service
from service.auth.models import ApiKey, User
from service.auth.security import make_password_hash
from service.enums import Role
from service.errors import Forbidden, InvalidInput, NotFound
from service.i18n import _

#: Shortest password an admin may set (the same rule as ``service.auth.service.add_user``).
MIN_PASSWORD = 12


@dataclass(frozen=True)
class Choice:
    """One sector or actor a user may be linked to, as a form offers it."""

    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class KeyListed:
    """An API key as listed: never the key, only who it acts as and when it was used."""

    id: uuid.UUID
    name: str
    username: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None


async def _as(session: AsyncSession, principal: Principal) -> None:
    """Stamp ``principal`` as the actor of this transaction's audit rows."""
    await session.execute(select(func.set_config("civop.actor", principal.username, True)))


async def users(session: AsyncSession, principal: Principal) -> list[User]:
    """Every user, by username."""
    authorize(principal, "manage_users")
    return await service.list_users(session)


async def user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    """One user."""
    authorize(principal, "manage_users")
    found = await session.get(User, user_id)
    if found is None:
        raise NotFound(_("no user {user_id}", user_id=user_id))
    return found


async def user_named(session: AsyncSession, principal: Principal, username: str) -> User:
    """One user, by username."""
    authorize(principal, "manage_users")
    found = await session.scalar(select(User).where(User.username == username))
    if found is None:
        raise NotFound(_("no user {username!r}", username=username))
    return found


async def sectors(session: AsyncSession, principal: Principal) -> list[Choice]:
    """The areas of responsibility a user may be limited to."""
    authorize(principal, "manage_users")
    return [Choice(i, n) for i, n in await service.link_choices(session, "sectors")]


async def actors(session: AsyncSession, principal: Principal) -> list[Choice]:
    """The actors (organisations) a user may work for."""
    authorize(principal, "manage_users")
    return [Choice(i, n) for i, n in await service.link_choices(session, "actors")]


async def create_user(
    session: AsyncSession,
    principal: Principal,
    *,
    username: str,
    password: str,
    role: Role,
    full_name: str | None = None,
    cleared_restricted: bool = False,
    sector_ids: list[uuid.UUID] | None = None,
    actor_id: uuid.UUID | None = None,
) -> User:
    """Create a user (see :func:`service.auth.service.add_user`)."""
    authorize(principal, "manage_users")
    if not username.strip():
        raise InvalidInput(["username"], _("enter a username"))
    return await service.add_user(
        session,
        username=username.strip(),
        password=password,
        role=role,
        full_name=full_name or None,
        cleared_restricted=cleared_restricted,
        sector_ids=sector_ids,
        actor=principal.username,
        actor_id=actor_id,
    )


async def change_user(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    *,
    role: Role,
    full_name: str | None,
    cleared_restricted: bool,
    sector_ids: list[uuid.UUID],
    actor_id: uuid.UUID | None,
) -> User:
    """Change a user's role, clearance, sectors and actor; an admin may not demote themselves
    (the mission would be left without a way back)."""
    authorize(principal, "manage_users")
    if user_id == principal.user_id and role is not Role.admin:
        raise InvalidInput(["role"], _("you may not take the admin role from yourself"))
    await service.check_links(session, sector_ids, actor_id)
    await _as(session, principal)
    changed = await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            role=role.value,
            full_name=full_name or None,
            cleared_restricted=cleared_restricted,
            sector_ids=sector_ids,
            actor_id=actor_id,
        )
    )
    if changed.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(_("no user {user_id}", user_id=user_id))
    await session.commit()
    return await user(session, principal, user_id)


async def set_disabled(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, disabled: bool
) -> User:
    """Disable a user (their tokens and API keys stop working at once) or enable them again."""
    authorize(principal, "manage_users")
    if disabled and user_id == principal.user_id:
        raise Forbidden(_("you may not disable your own account"))
    found = await user(session, principal, user_id)
    await service.set_disabled(session, found.username, disabled, actor=principal.username)
    return await user(session, principal, user_id)


async def reset_password(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, password: str
) -> None:
    """Give a user a new password (their failed logins are forgotten with it)."""
    from service.auth import throttle

    authorize(principal, "manage_users")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(["password"], _("password must have at least 12 characters"))
    found = await user(session, principal, user_id)
    await _as(session, principal)
    password_hash = await make_password_hash(password)
    await session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    )
    await session.commit()
    await throttle.unlock(session, found.username)


async def api_keys(session: AsyncSession, principal: Principal) -> list[KeyListed]:
    """Every API key, newest first: the active ones, then those revoked."""
    authorize(principal, "manage_api_keys")
    rows = await session.execute(
        select(ApiKey, User.username)
        .join(User, User.id == ApiKey.user_id)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
    )
    return [
        KeyListed(
            key.id,
            key.name,
            username,
            key.created_at,
            key.created_by,
            key.last_used_at,
            key.revoked_at,
        )
        for key, username in rows
    ]


async def create_api_key(
    session: AsyncSession, principal: Principal, *, username: str, name: str
) -> tuple[uuid.UUID, str]:
    """A new key acting as ``username``: the key is returned this once, stored as a hash."""
    authorize(principal, "manage_api_keys")
    if not name.strip():
        raise InvalidInput(["name"], _("name the key after the client that will use it"))
    if await session.scalar(select(User.id).where(User.username == username)) is None:
        raise InvalidInput(["username"], _("choose the user the key acts as"))
    return await service.create_api_key(session, username, name.strip(), actor=principal.username)


async def revoke_api_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    """Revoke a key: it stops working at once."""
    authorize(principal, "manage_api_keys")
    await service.revoke_api_key(session, key_id, actor=principal.username)
