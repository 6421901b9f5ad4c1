"""The request's principal, from a bearer token or an API key. Every route but /health, the
docs and the login depends on it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from service.access.policy import Principal
from service.auth import service as auth
from service.auth.security import hash_api_key, read_token
from service.changes import ChangeAwareCache
from service.config import get_settings
from service.db import SessionDep
from service.enums import Role
from service.errors import Forbidden, Unauthorized

bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    settings = get_settings()
    cache: ChangeAwareCache[str, Principal] | None = getattr(request.app.state, "principals", None)
    if api_key:
        key = "key:" + hash_api_key(api_key)
        principal = cache.get(key) if cache else None
        if principal is None:
            principal = await auth.principal_from_api_key(session, api_key)
            if principal is None:
                raise Unauthorized("API key unknown or revoked")
            if cache:
                cache.put(key, principal)
        return principal
    if token:
        user_id = read_token(token, settings.signing_key())  # checks signature and expiry
        if user_id is None:
            raise Unauthorized("token invalid or expired; log in again")
        key = f"user:{user_id}"
        principal = cache.get(key) if cache else None
        if principal is None:
            principal = await auth.principal_of_user(session, user_id)
            if principal is None:
                raise Unauthorized("the user is disabled or no longer exists")
            if cache:
                cache.put(key, principal)
        return principal
    if settings.anonymous_role is not None:
        return Principal(username="anonymous", role=Role(settings.anonymous_role))
    raise Unauthorized()


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(role: Role) -> object:
    """A dependency that refuses principals below ``role``."""

    async def check(principal: PrincipalDep) -> Principal:
        if not principal.at_least(role):
            raise Forbidden(f"this needs the {role.value} role or higher")
        return principal

    return Depends(check)
