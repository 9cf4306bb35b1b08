"""Polls: sending one (a message of type ``poll``, through :class:`Sending`), and its
tally: the votes kept on it, the latest of each voter (:mod:`wad.sessions.group_events`)."""

from __future__ import annotations

from typing import Any

from wad.errors import bad_request
from wad.services.lookup import Lookup
from wad.services.sending import Sending
from wad.store import Store

__all__ = ["Polls"]


class Polls:
    def __init__(self, lookup: Lookup, store: Store, sending: Sending) -> None:
        self.lookup = lookup
        self.store = store
        self.sending = sending

    async def send(
        self, device_id: object, spec: dict[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """``spec``: ``to``, ``question``, ``options``, ``selectableCount`` (0: any)."""
        poll: dict[str, Any] = {k: spec[k] for k in ("question", "options") if k in spec}
        poll["selectableCount"] = spec.get("selectableCount", 1)
        message = {"type": "poll", "to": spec.get("to"), "poll": poll}
        if spec.get("replyTo") is not None:
            message["replyTo"] = spec["replyTo"]
        return await self.sending.send(device_id, message, None, idempotency_key)

    async def tally(self, device_id: object, message_id: object) -> dict[str, Any]:
        row = await self.lookup.row(device_id)
        message = await self.lookup.message(row.device_id, message_id)
        if message["type"] != "poll":
            raise bad_request("that message is not a poll")
        poll = message["fields"].get("poll") or {}
        options: list[str] = list(poll.get("options") or [])
        votes = message["fields"].get("votes") or {}
        counts = dict.fromkeys(options, 0)
        for vote in votes.values():
            for option in vote.get("options", []):
                if option in counts:
                    counts[option] += 1
        return {
            "id": message["id"],
            "chat": message["peer"],
            "question": message["body"],
            "selectableCount": poll.get("selectableCount"),
            "options": [{"name": o, "votes": counts[o]} for o in options],
            "votes": sorted(votes.values(), key=lambda v: v.get("timestamp", 0)),
        }
