"""The request's principal, from a bearer token, an API key, or HTTP Basic with a username and
one of that user's API keys as the password (what QGIS and ArcGIS can send). Every route but
/health, the docs and the login depends on it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBasicCredentials, OAuth2PasswordBearer

from service.access.policy import Principal
from service.auth import service as auth
from service.auth import throttle
from service.auth.security import hash_api_key, read_token
from service.changes import ChangeAwareCache
from service.config import get_settings
from service.db import SessionDep
from service.enums import Role
from service.errors import Forbidden, Unauthorized
from service.i18n import LANGUAGE, _, supported

bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
basic = HTTPBasic(
    auto_error=False,
    realm="civop",
    description="Username, and one of the user's API keys as the password (GIS clients).",
)


async def get_principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
    credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)],
) -> Principal:
    principal = await _principal(request, session, token, api_key, credentials)
    # The language the user chose comes before the request's (lang=, Accept-Language).
    if principal.language and supported(principal.language):
        LANGUAGE.set(principal.language)
    return principal


async def _principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
    credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)],
) -> Principal:
    settings = get_settings()
    cache: ChangeAwareCache[str, Principal] | None = getattr(request.app.state, "principals", None)
    if credentials is not None and not api_key:
        return await _basic_principal(request, session, cache, credentials)
    if api_key:
        key = "key:" + hash_api_key(api_key)
        principal = cache.get(key) if cache else None
        if principal is None:
            principal = await auth.principal_from_api_key(session, api_key)
            if principal is None:
                raise Unauthorized(_("API key unknown or revoked"))
            if cache:
                cache.put(key, principal)
        return principal
    if token:
        user_id = read_token(token, settings.signing_key())  # checks signature and expiry
        if user_id is None:
            raise Unauthorized(_("token invalid or expired; log in again"))
        key = f"user:{user_id}"
        principal = cache.get(key) if cache else None
        if principal is None:
            principal = await auth.principal_of_user(session, user_id)
            if principal is None:
                raise Unauthorized(_("the user is disabled or no longer exists"))
            if cache:
                cache.put(key, principal)
        return principal
    if settings.anonymous_role is not None:
        return Principal(username="anonymous", role=Role(settings.anonymous_role))
    raise Unauthorized(basic=True)


async def _basic_principal(
    request: Request,
    session: SessionDep,
    cache: ChangeAwareCache[str, Principal] | None,
    credentials: HTTPBasicCredentials,
) -> Principal:
    """HTTP Basic: the username and one of its API keys. A pair already seen to be right is
    remembered like an API key (a GIS client sends it with every tile); any other attempt is
    counted by the login throttle before the key is checked, as a password would be."""
    username, key_text = credentials.username, credentials.password
    key = "basic:" + hash_api_key(f"{username}\x00{key_text}")
    principal = cache.get(key) if cache else None
    if principal is not None:
        return principal
    limits: throttle.LoginLimits = request.app.state.login_limits
    address = request.client.host if request.client else "unknown"
    admission = await throttle.admit(request.app.state.engine, limits, username, address)
    principal = await auth.principal_from_api_key(session, key_text)
    if principal is None or principal.username != username:
        raise Unauthorized(
            _(
                "username or API key wrong, or the key is revoked: HTTP Basic takes the username "
                "and one of that user's API keys as the password (not the login password)"
            ),
            basic=True,
        )
    await throttle.succeeded(request.app.state.engine, limits, admission)
    if cache:
        cache.put(key, principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(role: Role) -> object:
    """A dependency that refuses principals below ``role``."""

    async def check(principal: PrincipalDep) -> Principal:
        if not principal.at_least(role):
            raise Forbidden(_("this needs the {role} role or higher", role=role.value))
        return principal

    return Depends(check)
