"""Acting on a message that was sent or received: react, edit, revoke, mark as read;
and showing presence (typing, recording) in a chat.

Like a send, each action that WhatsApp shows as a message (reaction, edit, revoke)
gets its own row with an id fixed before the engine is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wad import validation
from wad.errors import bad_request, conflict
from wad.services import calls, outbound
from wad.services.lookup import Lookup
from wad.store import Queries, Store

__all__ = ["Actions"]


class Actions:
    def __init__(self, lookup: Lookup, store: Store) -> None:
        self.lookup = lookup
        self.store = store

    async def _act(
        self,
        device_id: object,
        message_id: object,
        type_: str,
        command: str,
        params: dict[str, Any],
        own: bool | None = None,
        then: Callable[[Queries, str], object] | None = None,
    ) -> dict[str, Any]:
        """``then(q, target id)``: the target's own change, committed with the action's."""
        row = await self.lookup.row(device_id)
        session = self.lookup.live(row.device_id)
        target = await self.lookup.message(row.device_id, message_id)
        if own is True and target["direction"] != "out":
            raise bad_request(f"only your own messages can get a {type_}")
        if own is False and target["direction"] != "in":
            raise bad_request(f"{type_} applies to received messages")
        if session.state != "connected":
            raise conflict("Session not connected")
        action_id = calls.new_message_id()
        fields = {"targetId": target["id"], **params}
        body = params.get("text") or params.get("emoji")
        await self.store.run(
            lambda q: q.insert_outgoing(
                action_id, row.device_id, target["peer"], type_, body, fields
            )
        )
        full = {
            "id": action_id,
            "chat": target["peer"],
            "targetId": target["waId"],
            "fromMe": target["direction"] == "out",
            "sender": target["fields"].get("from") or target["peer"],
            **params,
        }
        result = await calls.call(self.store, session, command, full, action_id)
        wa_id, target_id = str(result.get("id") or action_id), target["id"]

        def sent(q: Queries) -> None:
            q.mark_sent(action_id, wa_id)
            if then is not None:
                then(q, target_id)

        await self.store.run(sent)
        return {"status": "sent", "id": action_id, "target": target["id"], "type": type_}

    async def react(self, device_id: object, message_id: object, emoji: object) -> dict[str, Any]:
        if not isinstance(emoji, str) or len(emoji) > 16:
            raise bad_request("emoji must be a short string (empty removes the reaction)")
        return await self._act(device_id, message_id, "reaction", "react", {"emoji": emoji})

    async def edit(self, device_id: object, message_id: object, text: object) -> dict[str, Any]:
        valid = validation.message_text(text, "text")
        return await self._act(
            device_id,
            message_id,
            "edit",
            "edit",
            {"text": valid},
            own=True,
            then=lambda q, target: q.edit_body(target, valid),
        )

    async def revoke(self, device_id: object, message_id: object) -> dict[str, Any]:
        return await self._act(
            device_id,
            message_id,
            "revoke",
            "revoke",
            {},
            own=True,
            then=lambda q, target: q.set_status(target, "revoked"),
        )

    async def mark_read(self, device_id: object, message_id: object) -> dict[str, Any]:
        row = await self.lookup.row(device_id)
        session = self.lookup.live(row.device_id)
        target = await self.lookup.message(row.device_id, message_id)
        if target["direction"] != "in":
            raise bad_request("only received messages can be marked as read")
        await calls.call(
            self.store,
            session,
            "mark_read",
            {
                "chat": target["peer"],
                "sender": target["fields"].get("from") or target["peer"],
                "ids": [target["waId"]],
            },
        )
        await self.store.run(lambda q: q.set_status(target["id"], "read"))
        return {"status": "read", "id": target["id"]}

    async def presence(self, device_id: object, to: object, state: object) -> dict[str, Any]:
        if state not in ("typing", "recording", "paused"):
            raise bad_request("state must be typing, recording or paused")
        jid = outbound.recipient(to)
        session = await self.lookup.session(device_id)
        await calls.call(self.store, session, "presence", {"to": jid, "state": state})
        return {"to": jid, "state": state}
