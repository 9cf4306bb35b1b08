"""The virtual phone's past: the history WhatsApp sends a device after it is paired.

After a pairing, the simulated network sends an initial sync (``INITIAL_BOOTSTRAP``:
the recent messages of the recent chats), and a ``FULL`` sync as well when the
session's ``history`` is ``full``, which repeats the recent messages (the daemon must
not store them twice). WhatsApp sends the initial sync whatever the device asked for;
the simulator sends nothing to a session whose ``history`` is ``none`` (the daemon
would keep nothing of it, and the simulator's other users expect a quiet phone). The newest past
message also arrives live just before the history, as a message that was in flight
while the phone prepared the sync: the daemon stores it once.

Everything is fixed by the device's phone number: the same pairing gives the same
history, so tests know what to expect (:func:`past_messages`).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from wad.engines.contract import EngineEvent
from wad.engines.simulator import contacts

RECENT_CHATS, RECENT_PER_CHAT = 2, 5
FULL_CHATS, FULL_PER_CHAT = 4, 25
PART_SIZE = 40  # messages per history event of the full sync
DAY = 86_400


def _peer(device_phone: str, chat: int) -> str:
    """The chat's other phone: numbers near the device's own, never on the 0000 list."""
    block = int(hashlib.sha256(device_phone.encode()).hexdigest()[:6], 16) % 9000 + 1000
    return f"1555{block:04d}{chat:03d}"


def past_messages(device_phone: str, chats: int, per_chat: int) -> list[dict[str, Any]]:
    """The past messages of the first ``chats`` chats, ``per_chat`` each, newest first
    within each chat; chat 1 is addressed by LID, as WhatsApp does more and more."""
    now = int(time.time())
    out = []
    for chat in range(chats):
        peer = _peer(device_phone, chat)
        for n in range(per_chat):
            digest = hashlib.sha256(f"{device_phone}/{chat}/{n}".encode()).hexdigest()
            from_me = n % 3 == 2
            data: dict[str, Any] = {
                "id": "SIMH" + digest[:16].upper(),
                **contacts.sender_fields(peer, "lid" if chat == 1 else "pn", False),
                "fromMe": from_me,
                "type": "text",
                "text": f"past message {n} with {peer}",
                "timestamp": now - DAY * (chat + 1) - 600 * n,
                "pushName": f"Phone {peer[-4:]}",
            }
            if from_me:
                data["from"] = contacts.phone_jid(device_phone)
                data["fromPhone"] = data["from"]
                data["fromLid"] = contacts.lid_for(device_phone)
            out.append(data)
    return out


def after_pairing(device_phone: str, mode: str) -> list[EngineEvent]:
    """What the network sends a newly paired device: the live message in flight, the
    initial sync, and (``full``) the full one; nothing with ``none``."""
    if mode not in ("recent", "full"):
        return []
    recent = [
        {**m, "history": True} for m in past_messages(device_phone, RECENT_CHATS, RECENT_PER_CHAT)
    ]
    live = {k: v for k, v in recent[0].items() if k != "history"}
    events = [
        EngineEvent("message", live),
        _batch("INITIAL_BOOTSTRAP", 0, 100 if mode != "full" else 10, recent, RECENT_CHATS, 1, 1),
    ]
    if mode == "full":
        every = [
            {**m, "history": True} for m in past_messages(device_phone, FULL_CHATS, FULL_PER_CHAT)
        ]
        parts = [every[i : i + PART_SIZE] for i in range(0, len(every), PART_SIZE)]
        for n, part in enumerate(parts, start=1):
            events.append(_batch("FULL", n, 100 * n // len(parts), part, FULL_CHATS, n, len(parts)))
    return events


def _batch(
    sync_type: str,
    chunk: int,
    progress: int,
    messages: list[dict[str, Any]],
    conversations: int,
    part: int,
    parts: int,
) -> EngineEvent:
    return EngineEvent(
        "history",
        {
            "syncType": sync_type,
            "chunkOrder": chunk,
            "progress": progress,
            "conversations": conversations,
            "part": part,
            "parts": parts,
            "messages": messages,
        },
    )
