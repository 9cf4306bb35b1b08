"""Advisory lock keys: a stable 64-bit number per session, and the cluster's own.

PostgreSQL's advisory locks take a signed 64-bit key. A session's key is a keyed
BLAKE2b digest of its device id, so every node, every release of wad and every run
computes the same one (Python's ``hash()`` is salted per process). The cluster's
own keys (the one placement decision at a time, the schema) come from the same
digest under another personalisation, so they cannot be any device's key by
construction of the input, and collide with one only by a 2**-64 chance.
"""

from __future__ import annotations

import hashlib


def _key(person: bytes, name: str) -> int:
    digest = hashlib.blake2b(name.encode(), digest_size=8, person=person).digest()
    return int.from_bytes(digest, "big", signed=True)


def session_key(device_id: str) -> int:
    """The advisory lock that the owner of ``device_id`` holds."""
    return _key(b"wad-session", device_id)


#: Held (try-lock) for one placement decision: who gets which free session.
PLACEMENT_KEY = _key(b"wad-cluster", "placement")
#: Held (transaction lock) while a node brings the cluster's tables up to date.
SCHEMA_KEY = _key(b"wad-cluster", "schema")
