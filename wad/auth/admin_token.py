"""The admin credential: from ``WAD_ADMIN_TOKEN``, or generated once into a file.

Only its hash is kept in memory after loading. The log says where the token
file is, never the token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path

from wad.auth import keys
from wad.config import ADMIN_TOKEN_MIN, ConfigError
from wad.errors import WadError
from wad.files import write_private

log = logging.getLogger(__name__)


class AdminToken:
    def __init__(self, token_hash: str, file: Path | None) -> None:
        self._hash = token_hash
        self.file = file  # None when the token comes from the environment
        # Bumped by every rotation: what was opened with an older token (dashboard
        # sign-ins) ends with it.
        self.generation = 0

    @classmethod
    def load(cls, configured: str | None, file: Path) -> AdminToken:
        if configured:
            return cls(keys.hash_key(configured), None)
        if file.exists():
            token = file.read_text().strip()
            if token and len(token) < ADMIN_TOKEN_MIN:
                raise ConfigError(
                    f"admin token in {file}: must be at least {ADMIN_TOKEN_MIN} characters"
                    f" (delete the file and wad writes a new one)"
                )
            if token:
                log.info("admin token: in %s", file)
                return cls(keys.hash_key(token), file)
        token = keys.generate_admin_token()
        _write_secret(file, token)
        log.warning("admin token generated: read it from %s (mode 0600)", file)
        return cls(keys.hash_key(token), file)

    def check(self, presented: str) -> bool:
        return keys.matches(presented, self._hash)

    def derive(self, purpose: bytes) -> bytes:
        """A key for ``purpose`` that every process holding this same token derives
        alike (the nodes of a cluster), and a rotation changes."""
        return hmac.new(self._hash.encode(), purpose, hashlib.sha256).digest()

    def rotate(self) -> str:
        """A new token replaces the old one at once; the new one is returned once."""
        if self.file is None:
            raise WadError(
                "conflict", "the admin token comes from WAD_ADMIN_TOKEN; change it there"
            )
        token = keys.generate_admin_token()
        _write_secret(self.file, token)
        self._hash = keys.hash_key(token)
        self.generation += 1
        log.warning("admin token rotated: the new one is in %s", self.file)
        return token


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    write_private(path, text + "\n")
