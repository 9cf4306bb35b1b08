"""Row and event ids.

Ids name rows and events; they are not secrets, so a generator seeded from the OS
(96 random bits an id) serves, without a getrandom() system call for each one.
"""

import random
import secrets

_ids = random.Random(secrets.randbits(128))


def new_id(prefix: str) -> str:
    return f"{prefix}_{_ids.getrandbits(96):024x}"


def id_bits(bits: int) -> int:
    """Random bits for an id that is not a secret (a message id), from the same generator."""
    return _ids.getrandbits(bits)
