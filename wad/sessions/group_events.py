"""What a session makes of the engine's group and poll events
(:mod:`wad.engines.group_events`): the stored events ``group.participants``,
``group.update`` and ``poll.vote``; a vote is also kept on its poll, the latest of
each voter winning, so the tally can be read (``GET .../messages/{id}/poll``)."""

from __future__ import annotations

import hashlib
from typing import Any

from wad.engines.contract import EngineEvent
from wad.engines.group_events import GROUP_EVENT_KINDS
from wad.sessions.events import EventLog
from wad.store import Queries, Store

__all__ = ["KINDS", "handle"]

KINDS = frozenset(GROUP_EVENT_KINDS)
_TYPES = {"group_participants": "group.participants", "group_update": "group.update"}


async def handle(store: Store, events: EventLog, device_id: str, event: EngineEvent) -> None:
    if event.kind == "poll_vote":
        await _vote(store, events, device_id, event.data)
    else:
        await events.emit(device_id, _TYPES[event.kind], dict(event.data))


async def _vote(store: Store, events: EventLog, device_id: str, data: dict[str, Any]) -> None:
    wa_id = str(data.get("pollId") or "")
    raw_voter = data.get("voter")
    voter: dict[str, Any] = raw_voter if isinstance(raw_voter, dict) else {}
    hashes = [str(h).lower() for h in data.get("selectedHashes") or []]
    timestamp = data.get("timestamp") if isinstance(data.get("timestamp"), int) else 0
    poll = await store.read(lambda q: q.poll_by_wa_id(device_id, wa_id)) if wa_id else None
    options: list[str] = list(((poll or {}).get("fields", {}).get("poll") or {}).get("options", []))
    by_hash = {hashlib.sha256(o.encode()).hexdigest(): o for o in options}
    chosen = [by_hash[h] for h in hashes if h in by_hash]
    payload = {
        "pollId": poll["id"] if poll else None,
        "waPollId": wa_id,
        "chat": str(data.get("chat") or (poll or {}).get("chat") or ""),
        "voter": voter,
        "options": chosen,
        "timestamp": timestamp,
    }
    if len(chosen) < len(hashes):  # a poll this session never stored, or options unknown
        payload["unknownOptions"] = [h for h in hashes if h not in by_hash]
    key = str(voter.get("phone") or voter.get("jid") or "")

    def keep(q: Queries) -> None:
        if poll is not None and key:
            q.record_vote(
                poll["id"], key, {"voter": voter, "options": chosen, "timestamp": timestamp}
            )

    await events.emit(device_id, "poll.vote", payload, also=keep)
