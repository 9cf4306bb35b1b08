"""API keys and the admin token: generated, hashed, masked, compared.

Only a SHA-256 hash of a key is ever stored. Keys are high-entropy random
strings, so a plain (unsalted) hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "wad_"
ADMIN_PREFIX = "wadadm_"


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def generate_admin_token() -> str:
    return ADMIN_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def mask(key: str) -> str:
    """What lists and details show of a key: its first 8 characters."""
    return key[:8] + "..."


def matches(candidate: str, stored_hash: str) -> bool:
    """Constant-time check of a presented key against a stored hash."""
    return hmac.compare_digest(hash_key(candidate), stored_hash)
