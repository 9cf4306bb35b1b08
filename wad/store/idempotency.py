"""Queries on ``idempotency``: a send's ``Idempotency-Key``, claimed, then answered."""

import json
from typing import Any

from wad.store.clock import now_iso
from wad.store.connection import Connection


class IdempotencyQueries(Connection):
    def idempotency_claim(self, device_id: str, key: str, body_hash: str) -> tuple[str, Any]:
        """Claim a key for a send: ("new", None), ("done", response), ("mismatch", None)
        or ("busy", None) when the same key is being sent right now."""
        row = self.db.execute(
            "SELECT body_hash, response FROM idempotency WHERE device_id = ? AND key = ?",
            (device_id, key),
        ).fetchone()
        if row is None:
            self.db.execute(
                "INSERT INTO idempotency (device_id, key, body_hash, created_at)"
                " VALUES (?, ?, ?, ?)",
                (device_id, key, body_hash, now_iso()),
            )
            return "new", None
        if row[0] != body_hash:
            return "mismatch", None
        if row[1] is None:
            return "busy", None
        return "done", json.loads(row[1])

    def idempotency_finish(self, device_id: str, key: str, response: Any | None) -> None:
        """Record the answer of a claimed key, or release the key when the send failed."""
        if response is None:
            self.db.execute(
                "DELETE FROM idempotency WHERE device_id = ? AND key = ?", (device_id, key)
            )
        else:
            self.db.execute(
                "UPDATE idempotency SET response = ? WHERE device_id = ? AND key = ?",
                (json.dumps(response), device_id, key),
            )
