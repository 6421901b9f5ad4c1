"""Users, API keys and turning credentials into a principal."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.access.policy import Principal
from service.actors.models import Actor
from service.auth.models import ApiKey, User
from service.auth.security import (
    check_password,
    hash_api_key,
    issue_token,
    make_password_hash,
    needs_rehash,
    new_api_key,
)
from service.config import Settings
from service.enums import Office, Role
from service.errors import Conflict, InvalidInput, NotFound
from service.i18n import _
from service.sectors.models import Sector

log = logging.getLogger(__name__)


async def sector_scope(
    session: AsyncSession, sector_ids: list[uuid.UUID]
) -> frozenset[uuid.UUID] | None:
    """The sectors a user is limited to, with all their sub-areas; ``None`` for the whole mission."""
    if not sector_ids:
        return None
    sectors = Sector.__table__
    tree = select(sectors.c.id).where(sectors.c.id.in_(sector_ids)).cte("tree", recursive=True)
    tree = tree.union_all(select(sectors.c.id).where(sectors.c.parent_id == tree.c.id))
    return frozenset((await session.scalars(select(tree.c.id))).all())


async def principal_of(session: AsyncSession, user: User) -> Principal:
    return Principal(
        username=user.username,
        role=Role(user.role),
        user_id=user.id,
        cleared_restricted=user.cleared_restricted,
        sector_scope=await sector_scope(session, list(user.sector_ids)),
        actor_id=user.actor_id,
        office=Office(user.office) if user.office else None,
        language=user.language,
    )


async def authenticate(session: AsyncSession, username: str, password: str) -> User | None:
    """The enabled user with this password, or ``None``. The hash is checked in the hashing
    threads (``security.check_password``: at the default parameters a sixth of a second of
    CPU, which would otherwise stop every other request of the process), after the session's
    transaction ends: no pooled connection waits on it."""
    user = await session.scalar(select(User).where(User.username == username))
    await session.commit()
    ok = await check_password(user.password_hash if user else None, password)
    if user is None or not ok or user.disabled:
        return None
    return user


async def upgrade_password_hash(engine: AsyncEngine, user: User, password: str) -> None:
    """After ``user`` signed in with ``password``: store its hash again with the process's
    parameters if it was made with others (an audit row by the user, context ``sign-in:
    password hash parameters``). Best effort: the sign-in stands if the write fails, and the
    hash is made again at a later one."""
    stored = user.password_hash
    if stored is None or not needs_rehash(stored):
        return
    rehashed = await make_password_hash(password)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                select(
                    func.set_config("civop.actor", user.username, True),
                    func.set_config("civop.context", "sign-in: password hash parameters", True),
                )
            )
            # Not over a password an admin set meanwhile, nor for a user disabled meanwhile.
            await connection.execute(
                update(User)
                .where(User.id == user.id, User.password_hash == stored, User.disabled.is_(False))
                .values(password_hash=rehashed)
            )
    except SQLAlchemyError:
        log.warning("the password hash of %s was kept: storing it again failed", user.username)


def token_for(user: User, settings: Settings) -> tuple[str, int]:
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    token, _expires = issue_token(user.id, settings.signing_key(), ttl)
    return token, int(ttl.total_seconds())


async def set_language(
    session: AsyncSession, user_id: uuid.UUID, actor: str, language: str | None
) -> None:
    """The language ``user_id`` reads civop in (``None``: the browser's)."""
    await session.execute(select(func.set_config("civop.actor", actor, True)))
    await session.execute(update(User).where(User.id == user_id).values(language=language))


async def principal_of_user(session: AsyncSession, user_id: uuid.UUID) -> Principal | None:
    """The principal of an enabled user; ``None`` for disabled or unknown users."""
    user = await session.get(User, user_id)
    if user is None or user.disabled:
        return None
    return await principal_of(session, user)


async def principal_from_api_key(session: AsyncSession, key: str) -> Principal | None:
    row = (
        await session.execute(
            select(User, ApiKey.id)
            .join(ApiKey, ApiKey.user_id == User.id)
            .where(
                ApiKey.key_hash == hash_api_key(key),
                ApiKey.revoked_at.is_(None),
                User.disabled.is_(False),
            )
        )
    ).first()
    if row is None:
        return None
    return await principal_of(session, row[0])


async def check_links(
    session: AsyncSession, sector_ids: list[uuid.UUID], actor_id: uuid.UUID | None
) -> None:
    """Refuse sectors and an actor that do not exist."""
    if sector_ids:
        known = set(
            (await session.scalars(select(Sector.id).where(Sector.id.in_(sector_ids)))).all()
        )
        missing = [str(s) for s in sector_ids if s not in known]
        if missing:
            raise InvalidInput(
                ["sector_ids"], _("unknown sectors: {sectors}", sectors=", ".join(missing))
            )
    if actor_id is not None and await session.get(Actor, actor_id) is None:
        raise InvalidInput(["actor_id"], _("unknown actor: {actor_id}", actor_id=actor_id))


async def link_choices(
    session: AsyncSession, kind: Literal["sectors", "actors"]
) -> list[tuple[uuid.UUID, str]]:
    """The sectors, or the actors, a user may be linked to: (id, name), by name."""
    model: type[Sector] | type[Actor] = Sector if kind == "sectors" else Actor
    rows = await session.execute(
        select(model.id, model.name).where(model.deleted_at.is_(None)).order_by(model.name)
    )
    return [(row.id, row.name) for row in rows]


async def add_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: Role,
    full_name: str | None = None,
    cleared_restricted: bool = False,
    sector_ids: list[uuid.UUID] | None = None,
    actor: str = "cli",
    actor_id: uuid.UUID | None = None,
    office: Office | None = None,
) -> User:
    """Create a user; refuses weak passwords and existing usernames."""
    if len(password) < 12:
        raise InvalidInput(["password"], _("password must have at least 12 characters"))
    await session.execute(select(func.set_config("civop.actor", actor, True)))
    await check_links(session, sector_ids or [], actor_id)
    if office is not None and role is Role.partner:
        raise InvalidInput(
            ["office"], _("an office decides for the mission: not a partner's account")
        )
    result = await session.execute(
        insert(User)
        .values(
            username=username,
            password_hash=await make_password_hash(password),
            role=role.value,
            full_name=full_name,
            cleared_restricted=cleared_restricted,
            sector_ids=sector_ids or [],
            actor_id=actor_id,
            office=office.value if office else None,
        )
        .on_conflict_do_nothing(index_elements=["username"])
        .returning(User.id)
    )
    user_id = result.scalar_one_or_none()
    if user_id is None:
        raise Conflict(_("user {username!r} exists", username=username))
    await session.commit()
    user = await session.get(User, user_id)
    assert user is not None
    return user


async def set_disabled(
    session: AsyncSession, username: str, disabled: bool, actor: str = "cli"
) -> None:
    await session.execute(select(func.set_config("civop.actor", actor, True)))
    result = await session.execute(
        update(User).where(User.username == username).values(disabled=disabled)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(_("no user {username!r}", username=username))
    await session.commit()


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.scalars(select(User).order_by(User.username))).all())


async def create_api_key(
    session: AsyncSession, username: str, name: str, actor: str = "cli"
) -> tuple[uuid.UUID, str]:
    """A new key for a user: returned once, stored only as a hash."""
    await session.execute(select(func.set_config("civop.actor", actor, True)))
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(_("no user {username!r}", username=username))
    key = new_api_key()
    key_id = (
        await session.execute(
            insert(ApiKey)
            .values(user_id=user.id, name=name, key_hash=hash_api_key(key))
            .returning(ApiKey.id)
        )
    ).scalar_one()
    await session.commit()
    return key_id, key


async def revoke_api_key(session: AsyncSession, key_id: uuid.UUID, actor: str = "cli") -> None:
    await session.execute(select(func.set_config("civop.actor", actor, True)))
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(_("no active API key {key_id}", key_id=key_id))
    await session.commit()
