"""WhatsApp channels (newsletters) a session's account follows: list, follow, unfollow,
read their messages, and post a text to one it owns or administers.

A post is stored as a sent message (peer: the channel) and reported by
``message.sent``, as any send. neonize 0.5 posts text only: its send never hands
whatsmeow the media handle a channel's media needs.
"""

from __future__ import annotations

import re
import time
from typing import Any

from wad import validation
from wad.errors import bad_request, conflict
from wad.services import calls
from wad.services.contacts import page_limit
from wad.services.lookup import Lookup
from wad.sessions.events import EventLog
from wad.store import Store

__all__ = ["CHANNEL_MESSAGES_MAX", "Channels", "channel_id"]

CHANNEL_MESSAGES_MAX = 100
_CHANNEL = re.compile(r"^[0-9]{5,30}@newsletter$")


def channel_id(value: object) -> str:
    if not isinstance(value, str) or not _CHANNEL.fullmatch(value):
        raise bad_request("channelId must be a channel's id (digits@newsletter)")
    return value


class Channels:
    def __init__(self, lookup: Lookup, store: Store, events: EventLog) -> None:
        self.lookup = lookup
        self.store = store
        self.events = events

    async def _call(self, device_id: object, command: str, **params: Any) -> dict[str, Any]:
        return await calls.call(self.store, await self.lookup.session(device_id), command, params)

    async def followed(self, device_id: object) -> list[dict[str, Any]]:
        return list((await self._call(device_id, "channels")).get("channels", []))

    async def follow(self, device_id: object, channel: object) -> dict[str, Any]:
        jid = channel_id(channel)
        await self._call(device_id, "channel_follow", id=jid)
        return {"id": jid, "following": True}

    async def unfollow(self, device_id: object, channel: object) -> dict[str, Any]:
        jid = channel_id(channel)
        await self._call(device_id, "channel_unfollow", id=jid)
        return {"id": jid, "following": False}

    async def messages(
        self, device_id: object, channel: object, before: object = None, limit: object = 50
    ) -> dict[str, Any]:
        """A channel's messages newest first, from WhatsApp (not stored); ``before`` a
        message's serverId, ``nextBefore`` the one to pass for older ones."""
        jid = channel_id(channel)
        count = page_limit(limit, CHANNEL_MESSAGES_MAX)
        start: int | None = None
        if before not in (None, ""):
            try:
                start = int(str(before))
            except ValueError:
                raise bad_request("before must be a message's serverId") from None
        found = await self._call(device_id, "channel_messages", id=jid, count=count, before=start)
        items = list(found.get("messages", []))
        more = len(items) >= count and bool(items)
        return {
            "channel": jid,
            "messages": items,
            "nextBefore": items[-1]["serverId"] if more else None,
        }

    async def post(self, device_id: object, channel: object, text: object) -> dict[str, Any]:
        """Post a text to a channel the account owns or administers."""
        jid = channel_id(channel)
        body = validation.message_text(text, "text")
        session = await self.lookup.session(device_id)
        if session.state != "connected":
            raise conflict("Session not connected")
        message_id = calls.new_message_id()
        sid = session.device_id
        await self.store.run(lambda q: q.insert_outgoing(message_id, sid, jid, "text", body))
        params = {"id": message_id, "to": jid, "type": "text", "text": body}
        result = await calls.call(self.store, session, "send", params, message_id)
        wa_id = str(result.get("id") or message_id)
        await self.events.emit(
            session.device_id,
            "message.sent",
            {"id": message_id, "waId": wa_id, "to": jid, "type": "text"},
            also=lambda q: q.mark_sent(message_id, wa_id),
        )
        timestamp = int(result.get("timestamp") or time.time())
        return {
            "status": "sent",
            "id": message_id,
            "to": jid,
            "type": "text",
            "timestamp": timestamp,
        }
