"""Queries on ``idempotency``: a send's ``Idempotency-Key``, claimed, then answered.

A claim with no answer is open: its send is under way, or was cut short (the daemon
was killed, or the disk was full when the answer was to be written). Once the send
has stored its message, the claim names it (``message_id``), so an open claim can be
settled from that message's fate (:mod:`wad.services.sending`).
"""

import json
from typing import Any

from wad.store.base import QueryBase
from wad.store.clock import now_iso


class IdempotencyQueries(QueryBase):
    def idempotency_claim(self, device_id: str, key: str, body_hash: str) -> tuple[str, Any]:
        """Claim a key for a send: ("new", None), ("done", response), ("mismatch", None),
        or ("open", message) when a claim without an answer exists: ``message`` is the
        one its send stored (:meth:`claimed_message`), or None when it stored none.

        On PostgreSQL two requests (or nodes) may claim the same key at once: the
        INSERT is the claim, so exactly one gets "new" (ON CONFLICT waits for the
        other's transaction, then does nothing; a read before it would see no row
        for both). SQLite runs one transaction at a time: its read-then-insert
        stays as it was (one statement for a known key)."""
        row = None
        while row is None:
            if self.dialect == "postgresql":
                claimed = self.db.execute(
                    "INSERT INTO idempotency (device_id, key, body_hash, created_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
                    (device_id, key, body_hash, now_iso()),
                ).fetchone()
                if claimed is not None:
                    return "new", None
            row = self.db.execute(
                "SELECT body_hash, response, message_id FROM idempotency"
                " WHERE device_id = ? AND key = ?",
                (device_id, key),
            ).fetchone()
            if row is None and self.dialect == "sqlite":
                self.db.execute(
                    "INSERT INTO idempotency (device_id, key, body_hash, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (device_id, key, body_hash, now_iso()),
                )
                return "new", None
            # (PostgreSQL, no row: the claim it met was released since; claim again.)
        if row[0] != body_hash:
            return "mismatch", None
        if row[1] is None:
            return "open", self.claimed_message(row[2])
        return "done", json.loads(row[1])

    def claimed_message(self, message_id: str | None) -> dict[str, Any] | None:
        """What an open claim's send stored: id, status, to, type, updatedAt."""
        if message_id is None:
            return None
        row = self.db.execute(
            "SELECT id, status, peer, type, updated_at FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None:
            return None
        return dict(zip(("id", "status", "to", "type", "updatedAt"), row, strict=True))

    def idempotency_attach(self, device_id: str, key: str, message_id: str) -> None:
        """Name the message a claimed key's send stored (in the transaction that stores it)."""
        self.db.execute(
            "UPDATE idempotency SET message_id = ? WHERE device_id = ? AND key = ?",
            (message_id, device_id, key),
        )

    def idempotency_retake(self, device_id: str, key: str) -> None:
        """Take over an open claim whose send stored nothing that will go out."""
        self.db.execute(
            "UPDATE idempotency SET message_id = NULL, created_at = ?"
            " WHERE device_id = ? AND key = ?",
            (now_iso(), device_id, key),
        )

    def idempotency_open(self) -> list[tuple[str, str, str | None]]:
        """Every open claim: (device id, key, message id or None)."""
        rows = self.db.execute(
            "SELECT device_id, key, message_id FROM idempotency WHERE response IS NULL"
        )
        return [(r[0], r[1], r[2]) for r in rows]

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
