"""Routes: the mission's users and API keys, for admins (``service.auth.admin``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from service.auth import admin
from service.auth.deps import PrincipalDep
from service.auth.models import User
from service.db import SessionDep
from service.enums import Role

router = APIRouter(prefix="/api/admin", tags=["administration"])


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    full_name: str | None
    role: Role
    cleared_restricted: bool
    sector_ids: list[uuid.UUID]
    actor_id: uuid.UUID | None
    disabled: bool


class UserChange(BaseModel):
    role: Role
    full_name: str | None = Field(None, max_length=200)
    cleared_restricted: bool = False
    sector_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    actor_id: uuid.UUID | None = None


class UserIn(UserChange):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(max_length=200)


class PasswordIn(BaseModel):
    password: str = Field(max_length=200)


class KeyIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    name: str = Field(max_length=200)


class KeyCreated(BaseModel):
    id: uuid.UUID
    key: str = Field(description="Shown this once: only a hash of it is kept.")


class KeyOut(BaseModel):
    id: uuid.UUID
    name: str
    username: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None


def _user(found: User) -> UserOut:
    return UserOut.model_validate(found, from_attributes=True)


@router.get("/users", response_model=list[UserOut], summary="Users (admins)")
async def list_users(session: SessionDep, principal: PrincipalDep) -> list[UserOut]:
    return [_user(u) for u in await admin.users(session, principal)]


@router.post("/users", response_model=UserOut, status_code=201, summary="Create a user (admins)")
async def create_user(body: UserIn, session: SessionDep, principal: PrincipalDep) -> UserOut:
    return _user(await admin.create_user(session, principal, **body.model_dump()))


@router.put(
    "/users/{user_id}",
    response_model=UserOut,
    summary="Change a user's role, clearance, sectors and actor (admins)",
)
async def change_user(
    user_id: uuid.UUID, body: UserChange, session: SessionDep, principal: PrincipalDep
) -> UserOut:
    return _user(await admin.change_user(session, principal, user_id, **body.model_dump()))


@router.post("/users/{user_id}/disable", response_model=UserOut, summary="Disable a user")
async def disable_user(user_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> UserOut:
    return _user(await admin.set_disabled(session, principal, user_id, True))


@router.post("/users/{user_id}/enable", response_model=UserOut, summary="Enable a user again")
async def enable_user(user_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> UserOut:
    return _user(await admin.set_disabled(session, principal, user_id, False))


@router.post("/users/{user_id}/password", status_code=204, summary="Reset a user's password")
async def reset_password(
    user_id: uuid.UUID, body: PasswordIn, session: SessionDep, principal: PrincipalDep
) -> Response:
    await admin.reset_password(session, principal, user_id, body.password)
    return Response(status_code=204)


@router.get("/api_keys", response_model=list[KeyOut], summary="API keys (admins)")
async def list_keys(session: SessionDep, principal: PrincipalDep) -> list[KeyOut]:
    return [KeyOut(**vars(k)) for k in await admin.api_keys(session, principal)]


@router.post(
    "/api_keys", response_model=KeyCreated, status_code=201, summary="Create an API key (admins)"
)
async def create_key(body: KeyIn, session: SessionDep, principal: PrincipalDep) -> KeyCreated:
    key_id, key = await admin.create_api_key(
        session, principal, username=body.username, name=body.name
    )
    return KeyCreated(id=key_id, key=key)


@router.delete("/api_keys/{key_id}", status_code=204, summary="Revoke an API key (admins)")
async def revoke_key(key_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Response:
    await admin.revoke_api_key(session, principal, key_id)
    return Response(status_code=204)
