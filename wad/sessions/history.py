"""What a session keeps of a ``history`` event: past messages, stored once, and the
``history.batch`` event that reports the batch with its counts.

Nothing is kept when the session's ``history`` setting is ``none`` (the default):
WhatsApp sends an initial sync after every pairing whatever the device asked for, and
a session that did not opt in stores none of it; the batch is still reported, with
``kept: false``, so an operator sees that history came.
"""

from __future__ import annotations

from typing import Any

from wad.sessions.events import EventLog
from wad.store import Queries

#: What a history.batch event tells of its batch, as the engine gave it.
_HEAD = ("syncType", "chunkOrder", "progress", "conversations", "part", "parts")
#: A message's own columns; the rest of its data goes into its fields.
_COLUMNS = ("id", "chat", "type", "text", "timestamp")


def row(data: dict[str, Any]) -> dict[str, Any]:
    """A history message's data as the row :meth:`Queries.insert_history` takes."""
    body = data.get("text") or data.get("caption")
    fields = {k: v for k, v in data.items() if k not in ("id", "chat", "type", "text")}
    fields["history"] = True
    return {
        "waId": str(data.get("id") or ""),
        "peer": str(data.get("chat") or data.get("from") or ""),
        "type": str(data.get("type") or "text"),
        "body": None if body is None else str(body),
        "fields": fields,
    }


async def keep(events: EventLog, device_id: str, mode: str, data: dict[str, Any]) -> None:
    """Store a batch's messages (unless ``mode`` is ``none``) and emit ``history.batch``;
    both commit together."""
    raw = data.get("messages")
    messages = [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []
    kept = mode != "none"
    stamps = [m["timestamp"] for m in messages if isinstance(m.get("timestamp"), int)]
    payload: dict[str, Any] = {k: data[k] for k in _HEAD if k in data}

    def write(q: Queries) -> None:
        # Runs in the event's transaction, before the payload is stored: the counts
        # are those of what this transaction wrote.
        stored = q.insert_history(device_id, [row(m) for m in messages]) if kept else []
        payload.update(_counts(kept, len(messages), len(stored), stamps))

    await events.emit(device_id, "history.batch", payload, also=write)


def _counts(kept: bool, received: int, stored: int, stamps: list[int]) -> dict[str, Any]:
    return {
        "kept": kept,
        "received": received,
        "stored": stored,
        "duplicates": received - stored if kept else 0,
        "oldest": min(stamps) if stamps else None,
        "newest": max(stamps) if stamps else None,
    }
