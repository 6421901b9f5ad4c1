from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from service.auth import service, throttle
from service.auth.deps import PrincipalDep
from service.config import get_settings
from service.db import SessionDep
from service.errors import Forbidden, InvalidInput, Unauthorized
from service.i18n import LANGUAGE, _, languages, supported

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
    #: The language the user chose (``null``: the browser's), and the one this answer is in.
    language: str | None = None
    languages: list[str] = Field(default_factory=list)


class MyProfile(BaseModel):
    """What a user may change of their own account."""

    model_config = ConfigDict(extra="forbid")

    #: A language civop speaks (``en``, ``fr``, ``ar``), or ``null`` to follow the browser.
    language: str | None = Field(None, max_length=16, examples=["fr"])


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
        raise Unauthorized(_("wrong username or password, or the user is disabled"))
    await throttle.succeeded(request.app.state.engine, limits, admission)
    await service.upgrade_password_hash(request.app.state.engine, user, form.password)
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
        language=principal.language,
        languages=list(languages()),
    )


@router.patch(
    "/me",
    response_model=Me,
    summary="Change your own profile: the language you read civop in",
    responses={422: {"description": "A language civop does not speak."}},
)
async def update_me(
    request: Request, profile: MyProfile, principal: PrincipalDep, session: SessionDep
) -> Me:
    if principal.user_id is None:
        raise Forbidden(_("only a signed-in user has a profile to change"))
    language = None if profile.language is None else supported(profile.language)
    if profile.language is not None and language is None:
        raise InvalidInput(
            ["body", "language"],
            _(
                "civop does not speak {language!r}; choose one of: {languages}",
                language=profile.language,
                languages=", ".join(languages()),
            ),
        )
    await service.set_language(session, principal.user_id, principal.username, language)
    await session.commit()
    # This process's next request reads the account again (others hear of it from the
    # database's change notification).
    principals = getattr(request.app.state, "principals", None)
    if principals is not None:
        principals.forget(f"user:{principal.user_id}")
    if language:
        LANGUAGE.set(language)
    return await me(replace(principal, language=language))
