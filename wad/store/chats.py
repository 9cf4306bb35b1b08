"""Queries for chats, derived from ``messages``: each peer's last message and how many
received messages are unread, and one chat's messages by time.

The ``chats`` schema (``Store.migrate_plugin``) adds an index on (session, peer, time):
a chat's page reads a range of it instead of every message of the session.
"""

from typing import Any

from wad.store.messages import MessageQueries

CHAT_MIGRATIONS = [
    # 1: a chat's messages by time, and each peer's last message, from the index.
    "CREATE INDEX IF NOT EXISTS messages_by_peer ON messages(device_id, peer, created_at)",
]
# Reactions, edits and revokes act on a message; they are not unread messages.
_ACTION_TYPES = "'reaction', 'edit', 'revoke'"
_NEWEST = 1 << 62


class ChatQueries(MessageQueries):
    def list_chats(self, device_id: str, before: str | None, limit: int) -> list[dict[str, Any]]:
        """Chats newest first (by their last message), those whose last message is older
        than message ``before`` (a page's cursor): each peer, its last message, unread."""
        start = _NEWEST
        if before is not None:
            start = self._one(
                "SELECT rowid FROM messages WHERE device_id = ? AND id = ?", (device_id, before)
            )
            if start is None:
                return []
        unread = f"direction = 'in' AND status = 'received' AND type NOT IN ({_ACTION_TYPES})"
        if self.dialect == "sqlite":
            count, having = f"sum({unread})", "last"
        else:  # no sum of booleans, no output names in HAVING
            count, having = f"count(*) FILTER (WHERE {unread})", "max(rowid)"
        rows = self.db.execute(
            f"SELECT peer, max(rowid) AS last, {count} FROM messages WHERE device_id = ?"
            f" GROUP BY peer HAVING {having} < ? ORDER BY last DESC LIMIT ?",
            (device_id, start, limit),
        ).fetchall()
        chats = []
        for peer, last, unread in rows:
            (message,) = self._messages("WHERE rowid = ?", (last,), 1)
            chats.append({"jid": peer, "unreadCount": unread or 0, "lastMessage": message})
        return chats

    def chat_messages(
        self, device_id: str, peer: str, before: str | None, limit: int, at: bool = False
    ) -> list[dict[str, Any]]:
        """A chat's messages newest first, created before ``before`` (ISO time), or at
        exactly that time with ``at``."""
        where, args = "WHERE device_id = ? AND peer = ?", [device_id, peer]
        if before is not None:
            where += " AND created_at = ?" if at else " AND created_at < ?"
            args.append(before)
        return self._messages(where, tuple(args), limit, "created_at DESC, rowid DESC")
