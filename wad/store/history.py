"""Queries for history sync: past messages stored once, beside the live ones.

A history message is an incoming row (``direction = 'in'``, status ``received``) whose
fields say ``history: true``. It is stored only when no row of the session has its
WhatsApp id yet, in either direction: a message that also arrived live, or that this
daemon sent, is not stored twice; and a live message that comes after its history copy
finds it (:meth:`MessageQueries.insert_incoming` looks for the same id).
"""

import json
from typing import Any

from wad.store.base import QueryBase
from wad.store.clock import now_iso
from wad.store.ids import new_id


class HistoryQueries(QueryBase):
    def insert_history(self, device_id: str, messages: list[dict[str, Any]]) -> list[str]:
        """Store the messages not seen before (each ``{"waId", "peer", "type", "body",
        "fields"}``), in one transaction; the ids of those stored, in order."""
        stored: list[str] = []
        now = now_iso()
        with self.db:
            for item in messages:
                wa_id = str(item["waId"])
                if not wa_id or self._one(
                    "SELECT 1 FROM messages WHERE device_id = ? AND wa_id = ?", (device_id, wa_id)
                ):
                    continue
                message_id = new_id("msg")
                self.db.execute(
                    "INSERT INTO messages (id, device_id, direction, peer, type, body, status,"
                    " wa_id, fields, created_at, updated_at)"
                    " VALUES (?, ?, 'in', ?, ?, ?, 'received', ?, ?, ?, ?)",
                    (
                        message_id,
                        device_id,
                        item["peer"],
                        item["type"],
                        item["body"],
                        wa_id,
                        json.dumps(item["fields"]),
                        now,
                        now,
                    ),
                )
                stored.append(message_id)
        return stored
