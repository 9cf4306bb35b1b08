"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

Each request carries ``webhook-id`` (the event's id, the same on every retry,
so receivers can drop repeats), ``webhook-timestamp`` (Unix seconds of this
attempt) and ``webhook-signature``: ``v1,`` + base64 of HMAC-SHA256 over
``{id}.{timestamp}.{body}``, keyed with the base64-decoded part of the secret
after ``whsec_``. Receivers verify with any Standard Webhooks library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
SECRET_BYTES = 24


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(key, signed, hashlib.sha256)).decode()


def headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
        "content-type": "application/json",
    }
