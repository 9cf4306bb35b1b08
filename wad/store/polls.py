"""Queries on polls: a poll is a stored message of type ``poll`` (sent or received);
the votes on it are kept in its fields, one per voter, the latest winning."""

import json
from typing import Any

from wad.store.base import QueryBase
from wad.store.clock import now_iso


class PollQueries(QueryBase):
    def poll_by_wa_id(self, device_id: str, wa_id: str) -> dict[str, Any] | None:
        """The poll that WhatsApp knows by ``wa_id``: ``{"id", "chat", "fields"}``."""
        row = self.db.execute(
            "SELECT id, peer, fields FROM messages WHERE device_id = ? AND wa_id = ?"
            " AND type = 'poll' ORDER BY rowid DESC LIMIT 1",
            (device_id, wa_id),
        ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "chat": row[1], "fields": json.loads(row[2]) if row[2] else {}}

    def record_vote(self, message_id: str, voter: str, vote: dict[str, Any]) -> bool:
        """Keep ``vote`` as ``voter``'s unless a later one is kept already; True if kept."""
        raw = self._one("SELECT fields FROM messages WHERE id = ?", (message_id,))
        fields = json.loads(raw) if raw else {}
        votes = fields.setdefault("votes", {})
        earlier = votes.get(voter)
        if earlier is not None and earlier.get("timestamp", 0) > vote.get("timestamp", 0):
            return False
        votes[voter] = vote
        self.db.execute(
            "UPDATE messages SET fields = ?, updated_at = ? WHERE id = ?",
            (json.dumps(fields), now_iso(), message_id),
        )
        return True
