"""Queries on ``messages``: the outbox (pending until the engine answers) and the inbox."""

import json
from typing import Any

from wad.store.base import QueryBase
from wad.store.clock import now_iso
from wad.store.ids import new_id

# How far an outgoing message has got; a receipt only moves it forward.
_STATUS_RANK = {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "played": 4}

# Stored as messages, but acts on one (wad.services.actions, or received as such).
_ACTION_TYPES = "'reaction', 'edit', 'revoke'"

# The API's names for the columns of ``_messages``' first ten.
_KEYS = (
    "id",
    "direction",
    "peer",
    "type",
    "body",
    "status",
    "waId",
    "error",
    "createdAt",
    "updatedAt",
)


class MessageQueries(QueryBase):
    def insert_outgoing(
        self,
        message_id: str,
        device_id: str,
        peer: str,
        type_: str,
        body: str | None,
        fields: dict[str, Any] | None = None,
        media_path: str | None = None,
    ) -> str:
        now = now_iso()
        self.db.execute(
            "INSERT INTO messages (id, device_id, direction, peer, type, body, status,"
            " fields, media_path, created_at, updated_at)"
            " VALUES (?, ?, 'out', ?, ?, ?, 'pending', ?, ?, ?, ?)",
            (
                message_id,
                device_id,
                peer,
                type_,
                body,
                json.dumps(fields) if fields else None,
                media_path,
                now,
                now,
            ),
        )
        return now

    def mark_sent(self, message_id: str, wa_id: str) -> None:
        self.db.execute(
            "UPDATE messages SET status = 'sent', wa_id = ?, updated_at = ? WHERE id = ?",
            (wa_id, now_iso(), message_id),
        )

    def mark_failed(self, message_id: str, error: str) -> None:
        self.db.execute(
            "UPDATE messages SET status = 'failed', error = ?, updated_at = ? WHERE id = ?",
            (error, now_iso(), message_id),
        )

    def message_status(self, message_id: str) -> str | None:
        status: str | None = self._one("SELECT status FROM messages WHERE id = ?", (message_id,))
        return status

    def forget_media(self, message_id: str) -> None:
        """The message's file was deleted (its send failed): it has no media now."""
        self.db.execute(
            "UPDATE messages SET media_path = NULL, updated_at = ? WHERE id = ?",
            (now_iso(), message_id),
        )

    def pending_outgoing(self, device_id: str) -> list[dict[str, Any]]:
        """Accepted sends whose outcome is unknown (the daemon stopped mid-send)."""
        rows = self.db.execute(
            "SELECT id, peer, type, body, fields, media_path FROM messages WHERE device_id = ?"
            " AND direction = 'out' AND status = 'pending' ORDER BY rowid",
            (device_id,),
        )
        return [
            {
                "id": r[0],
                "to": r[1],
                "type": r[2],
                "body": r[3],
                "fields": json.loads(r[4]) if r[4] else {},
                "mediaPath": r[5],
            }
            for r in rows
        ]

    def insert_incoming(
        self,
        device_id: str,
        wa_id: str,
        peer: str,
        type_: str,
        body: str | None,
        fields: dict[str, Any] | None = None,
        media_path: str | None = None,
    ) -> str | None:
        """Store an incoming message once; None when this WhatsApp id was seen before."""
        if self._one(
            "SELECT 1 FROM messages WHERE device_id = ? AND wa_id = ? AND direction = 'in'",
            (device_id, wa_id),
        ):
            return None
        message_id = new_id("msg")
        now = now_iso()
        self.db.execute(
            "INSERT INTO messages (id, device_id, direction, peer, type, body, status, wa_id,"
            " fields, media_path, created_at, updated_at)"
            " VALUES (?, ?, 'in', ?, ?, ?, 'received', ?, ?, ?, ?, ?)",
            (
                message_id,
                device_id,
                peer,
                type_,
                body,
                wa_id,
                json.dumps(fields) if fields else None,
                media_path,
                now,
                now,
            ),
        )
        return message_id

    def set_status(self, message_id: str, status: str) -> None:
        self.db.execute(
            "UPDATE messages SET status = ?, updated_at = ? WHERE id = ?",
            (status, now_iso(), message_id),
        )

    def edit_body(self, message_id: str, text: str) -> None:
        edited = (
            "json_set(coalesce(fields, '{}'), '$.edited', json('true'))"
            if self.dialect == "sqlite"
            else """(coalesce(fields, '{}')::jsonb || '{"edited": true}')::text"""
        )
        self.db.execute(
            f"UPDATE messages SET body = ?, fields = {edited}, updated_at = ? WHERE id = ?",
            (text, now_iso(), message_id),
        )

    def media_path(self, device_id: str, message_id: str) -> str | None:
        path: str | None = self._one(
            "SELECT media_path FROM messages WHERE device_id = ? AND id = ?",
            (device_id, message_id),
        )
        return path

    def apply_receipt(self, device_id: str, wa_ids: list[str], status: str) -> list[str]:
        """Move outgoing messages forward (never back); return the ids that moved."""
        rank = _STATUS_RANK[status]
        moved = []
        for wa_id in wa_ids:
            row = self.db.execute(
                "SELECT id, status FROM messages WHERE device_id = ? AND wa_id = ?"
                " AND direction = 'out'",
                (device_id, wa_id),
            ).fetchone()
            if row and _STATUS_RANK.get(row[1], 99) < rank:
                self.db.execute(
                    "UPDATE messages SET status = ?, updated_at = ? WHERE id = ?",
                    (status, now_iso(), row[0]),
                )
                moved.append(row[0])
        return moved

    def get_message(self, device_id: str, message_id: str) -> dict[str, Any] | None:
        rows = self._messages(
            "WHERE device_id = ? AND (id = ? OR wa_id = ?)", (device_id, message_id, message_id), 1
        )
        return rows[0] if rows else None

    def list_messages(
        self, device_id: str, direction: str | None, before: str | None, limit: int
    ) -> list[dict[str, Any]]:
        where, args = "WHERE device_id = ?", [device_id]
        if direction:
            where += " AND direction = ?"
            args.append(direction)
        if before:
            where += " AND rowid < (SELECT rowid FROM messages WHERE id = ?)"
            args.append(before)
        return self._messages(where, tuple(args), limit)

    def hourly_counts(self, device_id: str | None, since: str) -> list[tuple[str, int, int]]:
        """Messages received and sent (accepted by WhatsApp: neither pending nor failed)
        per UTC hour from ``since`` on, of one session or of all (``device_id`` None):
        ``(YYYY-MM-DDTHH, received, sent)``, oldest first, hours without any left out.
        Reactions, edits and revokes act on a message: they are not counted as one.

        The sessions' ids are the index's first column: one range of
        ``messages_by_session`` per session, read without touching the rows."""
        received, sent = (
            "direction = 'in'",
            "direction = 'out' AND status NOT IN ('pending', 'failed')",
        )
        if self.dialect == "sqlite":
            counts, anyone = f"sum({received}), sum({sent})", "?1 IS NULL"
        else:  # no sum of booleans; a NULL's type must be named
            counts = f"count(*) FILTER (WHERE {received}), count(*) FILTER (WHERE {sent})"
            anyone = "?1::text IS NULL"
        rows = self.db.execute(
            f"SELECT substr(created_at, 1, 13), {counts} FROM messages"
            f" WHERE device_id IN (SELECT device_id FROM sessions WHERE {anyone}"
            " OR device_id = ?1) AND created_at >= ?2"
            f" AND type NOT IN ({_ACTION_TYPES}) GROUP BY 1 ORDER BY 1",
            (device_id, since),
        )
        return [(hour, received, sent) for hour, received, sent in rows]

    def _messages(
        self, where: str, args: tuple[Any, ...], limit: int, order: str = "rowid DESC"
    ) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT id, direction, peer, type, body, status, wa_id, error, created_at,"
            f" updated_at, fields, media_path FROM messages {where} ORDER BY {order} LIMIT ?",
            (*args, limit),
        )
        out = []
        for row in rows:
            item = dict(zip(_KEYS, row[:10], strict=True))
            item["fields"] = json.loads(row[10]) if row[10] else {}
            item["hasMedia"] = row[11] is not None
            out.append(item)
        return out
