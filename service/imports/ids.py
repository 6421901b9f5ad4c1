"""The ids imported records get: derived from their key, so that the same record has the same
id in any database and a table sharded by id keeps keys unique by its primary key alone
(docs/scaling.md)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: The namespace of imported records' ids: uuid5 of "<collection>:<origin>:<external_id>".
RECORD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:civop:records")


def record_id(collection: str, origin: str, external_id: str) -> uuid.UUID:
    """The id an imported record gets: a record's key gives the same id in any database."""
    return uuid.uuid5(RECORD_NAMESPACE, f"{collection}:{origin}:{external_id}")


def derived_ids(keys: Sequence[str | None], origins: Sequence[str], collection: str) -> pa.Array:
    """``record_id`` of each (origin, key), null where there is no key, for a whole batch.

    The same uuid5 (RFC 4122: SHA-1 of namespace and name, version 5, variant 1) as
    ``uuid.uuid5``, but the hashing of the common prefix is done once per origin, the rest in
    one pass with no object per row but the digest, and the formatting in numpy: 0.9 s per
    million rows instead of 5."""
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    prefixes: dict[str, Any] = {}
    nothing = bytes(20)

    def digest(key: str | None, origin: str) -> bytes:
        if key is None:
            return nothing
        prefix = prefixes.get(origin)
        if prefix is None:
            name = f"{collection}:{origin}:".encode()
            prefix = prefixes[origin] = hashlib.sha1(RECORD_NAMESPACE.bytes + name)  # noqa: S324 - uuid5 is SHA-1 by definition
        hashed = prefix.copy()
        hashed.update(key.encode())
        return hashed.digest()

    if len(keys) != len(origins):
        raise ValueError("one origin per key")
    digests = b"".join(map(digest, keys, origins))
    raw = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 20)[:, :16].copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x50  # version 5
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
