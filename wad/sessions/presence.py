"""A contact's presence, as an engine reports it, made the ``presence`` event's payload:
only the known fields, each of its type (an engine's stray field never reaches a
webhook)."""

from __future__ import annotations

from typing import Any

from wad.engines.directory import PRESENCE_STATES


def payload(data: dict[str, Any]) -> dict[str, Any] | None:
    """The event's payload, or None for a presence that names nobody or no state."""
    jid, state = data.get("jid"), data.get("state")
    if not isinstance(jid, str) or not jid or state not in PRESENCE_STATES:
        return None
    out: dict[str, Any] = {"jid": jid, "state": state}
    last_seen = data.get("lastSeen")
    if isinstance(last_seen, int) and not isinstance(last_seen, bool) and last_seen > 0:
        out["lastSeen"] = last_seen
    chat = data.get("chat")
    if isinstance(chat, str) and chat:
        out["chat"] = chat
    return out
