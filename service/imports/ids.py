"""The ids imported records get: derived from their key, so that the same record has the same
id in every database of the mission and a table sharded by id keeps keys unique by its primary
key alone (docs/scaling.md).

The key of a record is often public (a DTM site code, an ACLED event id) while the record may
be shown only generalised: an id anyone could compute from the key would tie the generalised
record back to the exact place the public list gives. So the id is a keyed hash (BLAKE2b with
the mission's record-id secret, ``Settings.record_id_secret``), not a uuid5 of the key."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from service.config import get_settings

#: Bytes of the digest an id is made of (a UUID's 128 bits, six of them then fixed).
_ID_BYTES = 16


def _hasher(secret: bytes | None) -> Any:
    """A keyed BLAKE2b to copy per record (the secret, hashed to fit BLAKE2b's 64-byte key)."""
    secret = get_settings().record_id_secret() if secret is None else secret
    return hashlib.blake2b(
        digest_size=_ID_BYTES, key=hashlib.sha256(secret).digest(), person=b"civop-records"
    )


def record_id(
    collection: str, origin: str, external_id: str, secret: bytes | None = None
) -> uuid.UUID:
    """The id an imported record gets: a record's key gives the same id in any database of
    the mission (the same secret), and nobody without the secret can compute it."""
    hashed = _hasher(secret)
    hashed.update(f"{collection}:{origin}:{external_id}".encode())
    raw = bytearray(hashed.digest())
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8 (RFC 9562: custom)
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return uuid.UUID(bytes=bytes(raw))


def derived_ids(
    keys: Sequence[str | None],
    origins: Sequence[str],
    collection: str,
    secret: bytes | None = None,
) -> pa.Array:
    """``record_id`` of each (origin, key), null where there is no key, for a whole batch.

    The same UUIDs (RFC 9562 version 8, variant 1) as ``record_id``, but the hashing of the
    common prefix is done once per origin, the rest in one pass with no object per row but the
    digest, and the formatting in numpy."""
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    keyed = _hasher(secret)
    prefixes: dict[str, Any] = {}
    nothing = bytes(_ID_BYTES)

    def digest(key: str | None, origin: str) -> bytes:
        if key is None:
            return nothing
        prefix = prefixes.get(origin)
        if prefix is None:
            prefix = prefixes[origin] = keyed.copy()
            prefix.update(f"{collection}:{origin}:".encode())
        hashed = prefix.copy()
        hashed.update(key.encode())
        return hashed.digest()  # type: ignore[no-any-return]

    if len(keys) != len(origins):
        raise ValueError("one origin per key")
    digests = b"".join(map(digest, keys, origins))
    raw = np.frombuffer(digests, dtype=np.uint8).reshape(-1, _ID_BYTES).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x80  # version 8
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = np.empty((len(raw), 32), dtype=np.uint8)
    digits[:, 0::2], digits[:, 1::2] = hexdigits[raw >> 4], hexdigits[raw & 0x0F]
    text = np.full((len(raw), 36), ord("-"), dtype=np.uint8)
    for start, end, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, at : at + end - start] = digits[:, start:end]
    valid = pa.array([key is not None for key in keys], pa.bool_())
    formatted = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(36), len(raw), [None, pa.py_buffer(text.tobytes())]
    ).cast(pa.string())
    return pc.if_else(valid, formatted, pa.scalar(None, pa.string()))
