"""A session's chats, derived from its stored messages: each peer's last message and
its unread count (received messages not marked read), with what WhatsApp syncs of
them (archived, pinned, muted) while the session is connected; and one chat's
messages, paged by time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wad.errors import WadError, bad_request
from wad.services import calls, outbound
from wad.services.contacts import page_limit
from wad.services.lookup import Lookup
from wad.store import Queries, Store
from wad.store.chats import CHAT_MIGRATIONS
from wad.store.clock import iso_at

__all__ = ["CHATS_PAGE_MAX", "Chats"]

CHATS_PAGE_MAX = 100
CHAT_MESSAGES_MAX = 200
UNKNOWN_SETTINGS = {"archived": None, "pinned": None, "mutedUntil": None}


def chat_jid(value: object) -> str:
    """A chat: a user JID (or phone number), a group JID, or a channel's id."""
    if isinstance(value, str) and value.endswith("@newsletter"):
        if not value[: -len("@newsletter")].isdigit():
            raise bad_request("chat must be a phone number, a user, group or channel JID")
        return value
    return outbound.recipient(value, "chat")


def moment(value: object) -> str | None:
    """``before``: an ISO 8601 time or Unix seconds, in the stored form (None: now)."""
    if value is None or value == "":
        return None
    text = str(value)
    try:
        if text.replace(".", "", 1).isdigit():
            return iso_at(float(text))
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise bad_request("before must be an ISO 8601 time or Unix seconds") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return iso_at(parsed.timestamp())


class Chats:
    def __init__(self, lookup: Lookup, store: Store) -> None:
        self.lookup = lookup
        self.store = store
        # The index is spelled alike in PostgreSQL.
        store.migrate_plugin("chats", CHAT_MIGRATIONS, postgresql=CHAT_MIGRATIONS)

    async def page(
        self, device_id: object, limit: object = 50, cursor: object = None
    ) -> dict[str, Any]:
        """Chats, the one with the newest message first; ``nextCursor`` for more."""
        row = await self.lookup.row(device_id)
        count = page_limit(limit, CHATS_PAGE_MAX)
        if cursor is not None and (not isinstance(cursor, str) or len(cursor) > 128):
            raise bad_request("cursor must be a nextCursor from an earlier page")
        after = cursor or None
        found = await self.store.read(lambda q: q.list_chats(row.device_id, after, count + 1))
        page, more = found[:count], len(found) > count
        settings = await self._settings(row.device_id, [c["jid"] for c in page])
        chats = [{**c, **settings.get(c["jid"], UNKNOWN_SETTINGS)} for c in page]
        next_cursor = page[-1]["lastMessage"]["id"] if more else None
        return {"chats": chats, "nextCursor": next_cursor}

    async def _settings(self, device_id: str, jids: list[str]) -> dict[str, dict[str, Any]]:
        """What WhatsApp synced of these chats; nothing while the session is not connected
        (the list still answers from the store)."""
        session = self.lookup.live(device_id)
        if not jids or session.state != "connected":
            return {}
        try:
            answer = await calls.call(self.store, session, "chat_settings", {"jids": jids})
        except WadError as exc:
            if exc.code in ("conflict", "unavailable"):
                return {}
            raise
        found: dict[str, dict[str, Any]] = answer.get("settings", {})
        return {jid: {k: found[jid].get(k) for k in UNKNOWN_SETTINGS} for jid in found}

    async def messages(
        self, device_id: object, chat: object, before: object = None, limit: object = 50
    ) -> dict[str, Any]:
        """A chat's messages newest first, those stored before ``before``; the page never
        splits one millisecond, so ``nextBefore`` (the oldest's time) loses nothing."""
        row = await self.lookup.row(device_id)
        peer = chat_jid(chat)
        count = page_limit(limit, CHAT_MESSAGES_MAX)
        until = moment(before)

        def page_of(q: Queries) -> dict[str, Any]:
            items = q.chat_messages(row.device_id, peer, until, count + 1)
            if len(items) <= count:
                return {"chat": peer, "messages": items, "nextBefore": None}
            page = items[:count]
            boundary = page[-1]["createdAt"]
            if items[count]["createdAt"] == boundary:
                same = q.chat_messages(row.device_id, peer, boundary, CHAT_MESSAGES_MAX, at=True)
                page = [m for m in page if m["createdAt"] != boundary] + same
            return {"chat": peer, "messages": page, "nextBefore": boundary}

        return await self.store.read(page_of)
