"""Password hashing (argon2id), signed expiring tokens (JWT, HS256) and API keys."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.config import get_settings

API_KEY_PREFIX = "civop_"


@cache
def hasher() -> PasswordHasher:
    """Argon2id with the process's parameters (``CIVOP_PASSWORD_HASH_*``)."""
    settings = get_settings()
    return PasswordHasher(
        time_cost=settings.password_hash_passes,
        memory_cost=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_lanes,
    )


#: Where hashes are made and checked: threads of their own, as many as the cores. A flood of
#: sign-ins queues here, not in the threads reports and analyses use, and no more hashes'
#: memory (``CIVOP_PASSWORD_HASH_MEMORY_KIB`` each) is in use at once than there are cores.
_hashing = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="civop-hash")


@cache
def dummy_hash() -> str:
    """Verified against when the user does not exist, so timing does not reveal usernames.
    Made once per process, when it is first needed or when the API starts (in a thread), not
    by every process that imports this module: a hash costs a sixth of a second of CPU at
    the default parameters."""
    return hasher().hash("not-a-password")


def prepare_dummy_hash() -> None:
    """Make :func:`dummy_hash` now, in the hashing threads (the API does at start)."""
    _hashing.submit(dummy_hash)


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return (
            hasher().verify(password_hash or dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters than the process's."""
    try:
        return hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


async def check_password(password_hash: str | None, password: str) -> bool:
    """:func:`verify_password` off the event loop, in the hashing threads."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_hashing, verify_password, password_hash, password)


async def make_password_hash(password: str) -> str:
    """:func:`hash_password` off the event loop, in the hashing threads."""
    return await asyncio.get_running_loop().run_in_executor(_hashing, hash_password, password)


def issue_token(user_id: uuid.UUID, key: str, ttl: timedelta) -> tuple[str, datetime]:
    expires = datetime.now(UTC) + ttl
    token = jwt.encode(
        {
            "sub": str(user_id),
            "exp": expires,
            "iat": datetime.now(UTC),
            "jti": secrets.token_hex(8),
        },
        key,
        algorithm="HS256",
    )
    return token, expires


def read_token(token: str, key: str) -> uuid.UUID | None:
    """The user id of a valid, unexpired token; ``None`` otherwise."""
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        return uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError, KeyError):
        return None


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # Keys are 256-bit random: a fast hash is enough, and lets each request look the key up.
    return hashlib.sha256(key.encode()).hexdigest()
