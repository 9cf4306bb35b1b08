"""Secrets at rest: sealed with AES-256-GCM under a key kept in a file of its own.

wad.db holds secrets (webhook signing secrets, proxy passwords) only sealed; the key
is in ``secrets.key`` beside it (mode 0600, written by :func:`wad.files.write_private`),
so a copy of the database alone (a backup, a stray WAL file, another user reading
the folder) reveals no secret. A backup must take both files.

Why AES-256-GCM, from the ``cryptography`` package: it is authenticated encryption
(a changed or truncated value is refused, never opened into garbage), it takes
associated data (what the secret belongs to, e.g. an endpoint's id: a sealed value
copied onto another row does not open there), it is the standard AEAD with hardware
support everywhere, and ``cryptography`` is the maintained library for it. Fernet
(the same package) would also do, but has no associated data and adds a timestamp we
have no use for. Each seal uses a fresh random 96-bit nonce; a key seals far fewer
secrets than the 2**32 such nonces allow.

A sealed value reads ``aesgcm1:<urlsafe base64 of nonce + ciphertext + tag>``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
from pathlib import Path
from typing import Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wad.config import ConfigError
from wad.files import PRIVATE, write_private

__all__ = ["KEY_FILE", "SEALED", "SecretBox", "Unreadable"]

log = logging.getLogger(__name__)

KEY_FILE = "secrets.key"
SEALED = "aesgcm1:"
_NONCE = 12
_KEY_BYTES = 32


class Unreadable(Exception):
    """A sealed secret that this key does not open (another key, or a changed value)."""


class SecretBox:
    def __init__(self, key: bytes, path: Path | None = None) -> None:
        if len(key) != _KEY_BYTES:
            raise ValueError("the key must be 32 bytes")
        self._aead = AESGCM(key)
        self.path = path

    @classmethod
    def load(cls, path: Path) -> Self:
        """The key in ``path``, made (and written 0600) when there is none yet."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            key = AESGCM.generate_key(bit_length=8 * _KEY_BYTES)
            write_private(path, base64.b64encode(key).decode() + "\n")
            log.info("new key for secrets at rest in %s", path)
            return cls(key, path)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        try:
            key = base64.b64decode(text.strip(), validate=True)
            box = cls(key, path)
        except (binascii.Error, ValueError):
            raise ConfigError(
                f"{path} is not a key of wad's (32 bytes in base64): "
                "restore it from the backup taken with wad.db"
            ) from None
        _keep_private(path)
        return box

    def seal(self, context: str, secret: str) -> str:
        """``secret`` sealed for ``context`` (what it belongs to: it opens only there)."""
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, secret.encode(), context.encode())
        return SEALED + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, context: str, stored: str) -> str:
        if not stored.startswith(SEALED):
            raise Unreadable("not a sealed secret")
        try:
            raw = base64.urlsafe_b64decode(stored[len(SEALED) :])
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode())
        except (binascii.Error, ValueError, InvalidTag):
            raise Unreadable("this key does not open it") from None
        return plain.decode()

    def opens(self, context: str, stored: str) -> bool:
        try:
            self.open(context, stored)
        except Unreadable:
            return False
        return True


def _keep_private(path: Path) -> None:
    """A key file others may read is made 0600 again (and said so once)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(PRIVATE)
        log.warning("%s was readable by others (%o); now 0600", path, mode)
