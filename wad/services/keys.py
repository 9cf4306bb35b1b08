"""A session's API key: set (generated or custom), revoked, and found again by the key."""

from __future__ import annotations

from wad import validation
from wad.auth import keys
from wad.errors import conflict, not_found
from wad.services.lookup import Lookup
from wad.store import Store

__all__ = ["Keys"]


class Keys:
    def __init__(self, lookup: Lookup, store: Store) -> None:
        self.lookup = lookup
        self.store = store

    async def set(self, device_id: object, custom: object = None) -> str:
        """Set or replace a session's key; the only time the full key is returned."""
        row = await self.lookup.row(device_id)
        key = keys.generate_api_key() if custom in (None, "") else validation.custom_key(custom)
        key_hash = keys.hash_key(key)
        if await self.store.read(lambda q: q.key_in_use(key_hash, row.device_id)):
            raise conflict("That API key is already used by another session")
        await self.store.run(lambda q: q.set_api_key(row.device_id, key_hash, key[:8]))
        return key

    async def revoke(self, device_id: object) -> None:
        row = await self.lookup.row(device_id)
        if not await self.store.run(lambda q: q.revoke_api_key(row.device_id)):
            raise not_found("The session has no API key")

    async def session_for_key(self, key: str) -> str | None:
        # A lookup by the key's SHA-256 digest: timing reveals nothing of the key.
        key_hash = keys.hash_key(key)
        return await self.store.read(lambda q: q.session_for_key(key_hash))
