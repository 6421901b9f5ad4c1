from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import BaseModel

from service.access.deps import PrincipalDep
from service.auth import service
from service.config import get_settings
from service.db import SessionDep
from service.errors import TooManyRequests, Unauthorized

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


class LoginLimiter:
    """Failed logins per username and per client address in a moving window."""

    def __init__(self, failures: int, window_s: int) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.per_user = parse(f"{failures} per {window_s} seconds")
        self.per_client = parse(f"{failures * 4} per {window_s} seconds")
        self.window_s = window_s

    def check(self, username: str, client: str) -> None:
        if not (
            self.limiter.test(self.per_user, "user", username)
            and self.limiter.test(self.per_client, "client", client)
        ):
            raise TooManyRequests(
                "too many failed logins; wait and try again",
                {"Retry-After": str(self.window_s)},
            )

    def failed(self, username: str, client: str) -> None:
        self.limiter.hit(self.per_user, "user", username)
        self.limiter.hit(self.per_client, "client", client)


@router.post(
    "/token",
    response_model=Token,
    summary="Log in: a bearer token for a user",
    responses={
        401: {"description": "Wrong username or password, or the user is disabled."},
        429: {"description": "Too many failed logins: wait `Retry-After` seconds."},
    },
)
async def login(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep
) -> Token:
    settings = get_settings()
    limiter: LoginLimiter = request.app.state.login_limiter
    client = request.client.host if request.client else "unknown"
    limiter.check(form.username, client)
    user = await service.authenticate(session, form.username, form.password)
    if user is None:
        limiter.failed(form.username, client)
        raise Unauthorized("wrong username or password, or the user is disabled")
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
