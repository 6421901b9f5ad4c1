from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from service.base import CURRENT_ACTOR, Base, enum_check
from service.enums import Office, Role


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    username: Mapped[str] = mapped_column(Text, unique=True)
    full_name: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(Text)
    role: Mapped[Role] = mapped_column(Text)
    #: Cleared for restricted records (admins always are).
    cleared_restricted: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    #: Sectors this user is scoped to, with their sub-areas; empty means the whole mission.
    sector_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), server_default=text("'{}'")
    )
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    #: The language the user reads civop in (``fr``, ``ar``...); none: the browser's choice.
    language: Mapped[str | None] = mapped_column(Text)
    #: The actor (organisation) the user works for: a partner sees its own requests.
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("actors.id"))
    #: The office the user decides for (requests for civil assistance), if any.
    office: Mapped[Office | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    created_by: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    updated_by: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))

    __table_args__: Any = (
        enum_check("role", Role),
        enum_check("office", Office),
        CheckConstraint("office IS NULL OR role <> 'partner'", name="office_staff"),
    )


class ApiKey(Base):
    """A key for a machine client; acts as its user. Only a SHA-256 of the key is stored."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    created_by: Mapped[str] = mapped_column(Text, server_default=text(CURRENT_ACTOR))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginThrottle(Base):
    """Login attempts counted for one account, one client address or one (address, account)
    pair: how many failed in a row, the back-off they earned, and the pair's last success."""

    __tablename__ = "login_throttle"

    scope: Mapped[str] = mapped_column(Text, primary_key=True)
    address: Mapped[str] = mapped_column(Text, primary_key=True, server_default=text("''"))
    username: Mapped[str] = mapped_column(Text, primary_key=True, server_default=text("''"))
    failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: No attempt is checked before this time (the back-off).
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: A pair's last successful login: its address is known to the account.
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: After this the row holds nothing worth keeping and is deleted.
    forget_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    __table_args__: Any = (
        CheckConstraint("scope IN ('pair', 'account', 'address')", name="scope"),
    )
