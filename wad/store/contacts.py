"""Queries on ``known_contacts``: who wrote to a session (for its new-contact cap)."""

from wad.store.base import QueryBase
from wad.store.clock import now_iso


class ContactQueries(QueryBase):
    def note_contact(self, device_id: str, peer: str) -> None:
        """``peer`` wrote to the session (a repeat costs one index probe)."""
        self.db.execute(
            "INSERT INTO known_contacts (device_id, peer, first_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (device_id, peer, now_iso()),
        )

    def is_known_contact(self, device_id: str, peer: str) -> bool:
        return (
            self._one(
                "SELECT 1 FROM known_contacts WHERE device_id = ? AND peer = ?", (device_id, peer)
            )
            is not None
        )

    def sends_to_unknown_since(self, device_id: str, since: str) -> int:
        """Messages the session sent since ``since`` to people who never wrote to it
        (read once a day a session: the daily cap counts on in memory)."""
        count: int = self._one(
            "SELECT count(*) FROM messages m WHERE m.device_id = ? AND m.direction = 'out'"
            " AND m.created_at >= ? AND m.peer NOT LIKE '%@g.us' AND NOT EXISTS"
            " (SELECT 1 FROM known_contacts k WHERE k.device_id = m.device_id"
            " AND k.peer = m.peer)",
            (device_id, since),
        )
        return count
