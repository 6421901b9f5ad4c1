from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from service.auth import service, throttle
from service.auth.deps import PrincipalDep
from service.config import get_settings
from service.db import SessionDep
from service.errors import Unauthorized

router = APIRouter(prefix="/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class Me(BaseModel):
    username: str
    role: str
    cleared_restricted: bool
    sector_scope: list[str] | None
    #: The actor (organisation) the user works for: a partner sees and withdraws its own
    #: assistance requests and sees its own records in full.
    actor_id: uuid.UUID | None = None


@router.post(
    "/token",
    response_model=Token,
    summary="Log in: a bearer token for a user",
    responses={
        401: {"description": "Wrong username or password, or the user is disabled."},
        429: {
            "description": "Too many failed logins for the account or from the address: "
            "wait `Retry-After` seconds."
        },
    },
)
async def login(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep
) -> Token:
    settings = get_settings()
    limits: throttle.LoginLimits = request.app.state.login_limits
    # The peer's address; uvicorn puts a proxy's X-Forwarded-For there only when the proxy is
    # one of FORWARDED_ALLOW_IPS (see docs/access.md, Authentication).
    address = request.client.host if request.client else "unknown"
    # Counted before the password is checked: concurrent guesses cannot race past the limit.
    admission = await throttle.admit(request.app.state.engine, limits, form.username, address)
    user = await service.authenticate(session, form.username, form.password)
    if user is None:
        raise Unauthorized("wrong username or password, or the user is disabled")
    await throttle.succeeded(request.app.state.engine, limits, admission)
    token, expires_in = service.token_for(user, settings)
    return Token(access_token=token, expires_in=expires_in)


@router.get("/me", response_model=Me, summary="Who the credentials belong to")
async def me(principal: PrincipalDep) -> Me:
    scope = (
        None if principal.sector_scope is None else sorted(str(s) for s in principal.sector_scope)
    )
    return Me(
        username=principal.username,
        role=principal.role.value,
        cleared_restricted=principal.cleared_restricted,
        sector_scope=scope,
        actor_id=principal.actor_id,
    )
