"""Signing secrets at rest, sealed by wad's :class:`wad.secrets.SecretBox` (AES-256-GCM
under ``<state>/secrets.key``) with the endpoint's id as associated data: a sealed
secret copied onto another endpoint's row does not open there.

A value starting ``whsec_`` is a plain secret from before sealing, sealed at start
(:meth:`.db.WebhookDb.seal_plain_secrets`); until then it opens as it is.
"""

from __future__ import annotations

from wad.secrets import KEY_FILE, SEALED, Unreadable
from wad.secrets import SecretBox as _Box

__all__ = ["KEY_FILE", "PLAIN", "SEALED", "SecretBox", "Unreadable"]

PLAIN = "whsec_"


class SecretBox(_Box):
    def open(self, context: str, stored: str) -> str:
        """The secret of a stored value (a plain one from before passes as it is)."""
        if stored.startswith(PLAIN):
            return stored
        return super().open(context, stored)
