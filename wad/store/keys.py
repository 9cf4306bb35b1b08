"""Queries on ``api_keys``: one hashed key per session."""

from wad.store.base import QueryBase
from wad.store.clock import now_iso


class KeyQueries(QueryBase):
    # caches.key_owner: key hash -> device id, filled on lookups that found a key; every
    # statement that changes api_keys (set, revoke, a session's delete) drops it.

    def set_api_key(self, device_id: str, key_hash: str, display_prefix: str) -> None:
        self.caches.key_owner.clear()
        self.db.execute(
            "INSERT INTO api_keys (device_id, key_hash, display_prefix, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET"
            " key_hash = excluded.key_hash, display_prefix = excluded.display_prefix,"
            " created_at = excluded.created_at",
            (device_id, key_hash, display_prefix, now_iso()),
        )

    def key_in_use(self, key_hash: str, except_device: str) -> bool:
        return (
            self._one(
                "SELECT 1 FROM api_keys WHERE key_hash = ? AND device_id != ?",
                (key_hash, except_device),
            )
            is not None
        )

    def session_for_key(self, key_hash: str) -> str | None:
        owner = self.caches.key_owner.get(key_hash)
        if owner is None:
            owner = self._one("SELECT device_id FROM api_keys WHERE key_hash = ?", (key_hash,))
            # Only keys that exist (bad tokens cannot fill it), and only committed ones.
            if owner is not None and not self.db.in_transaction:
                self.caches.key_owner[key_hash] = owner
        return owner

    def revoke_api_key(self, device_id: str) -> bool:
        self.caches.key_owner.clear()
        cursor = self.db.execute(
            "DELETE FROM api_keys WHERE device_id = ? RETURNING 1", (device_id,)
        )
        return cursor.fetchone() is not None
