"""Queries on ``sessions``, each row joined with its key's display prefix."""

from dataclasses import dataclass
from typing import Any

from wad.store.clock import now_iso
from wad.store.keys import KeyQueries


@dataclass(frozen=True, slots=True)
class SessionRow:
    device_id: str
    connection_state: str
    phone_number: str | None
    last_error: str | None
    next_retry_at: str | None
    created_at: str
    updated_at: str
    key_prefix: str | None


_COLUMNS = """s.device_id, s.connection_state, s.phone_number, s.last_error,
    s.next_retry_at, s.created_at, s.updated_at, k.display_prefix"""

# The columns a caller may set; the rest are the store's own.
_UPDATABLE = frozenset({"connection_state", "phone_number", "last_error", "next_retry_at"})


# Over KeyQueries: deleting a session deletes its key (ON DELETE CASCADE), so it
# drops the key cache too.
class SessionQueries(KeyQueries):
    def create_session(self, device_id: str) -> bool:
        """Insert a session; False when it already exists."""
        now = now_iso()
        cursor = self.db.execute(
            "INSERT INTO sessions (device_id, created_at, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            (device_id, now, now),
        )
        return cursor.fetchone() is not None

    def get_session(self, device_id: str) -> SessionRow | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM sessions s"
            " LEFT JOIN api_keys k USING (device_id) WHERE s.device_id = ?",
            (device_id,),
        ).fetchone()
        return None if row is None else SessionRow(*row)

    def list_sessions(self) -> list[SessionRow]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM sessions s"
            " LEFT JOIN api_keys k USING (device_id) ORDER BY s.created_at, s.device_id"
        )
        return [SessionRow(*row) for row in rows]

    def delete_session(self, device_id: str) -> bool:
        self.caches.key_owner.clear()
        cursor = self.db.execute(
            "DELETE FROM sessions WHERE device_id = ? RETURNING 1", (device_id,)
        )
        return cursor.fetchone() is not None

    def update_session(self, device_id: str, **fields: Any) -> None:
        """Set columns of a session row (names are checked against the schema)."""
        if not fields or not set(fields) <= _UPDATABLE:
            raise ValueError(f"cannot update {sorted(set(fields) - _UPDATABLE)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(
            f"UPDATE sessions SET {assignments}, updated_at = ? WHERE device_id = ?",
            (*fields.values(), now_iso(), device_id),
        )
