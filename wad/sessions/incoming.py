"""What a session stores of a received message, and what it sends again after a restart."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from wad.engines import text
from wad.engines.group_events import STATUS_JID
from wad.store import Queries

# The fields a reduced message keeps (the rest goes, as JSON, into its raw payload).
_KEPT = ("id", "chat", "from", "type", "timestamp", "text", "caption")


def write(device_id: str, data: dict[str, Any]) -> Callable[[Queries], dict[str, Any] | None]:
    """The write of one received message of any type, stored once; its event's payload,
    without file paths (None for a repeat)."""
    peer = str(data.get("chat") or data.get("from") or "")
    type_ = str(data.get("type", "text"))
    media_path = data.get("mediaPath")
    public = {k: v for k, v in data.items() if k != "mediaPath"}
    if media_path:
        public["hasMedia"] = True
    if peer == STATUS_JID:  # someone's status post: stored like a message, flagged
        public["isStatus"] = True
    fields = {
        k: v for k, v in public.items() if k not in ("id", "chat", "type", "text", "timestamp")
    }
    body = data.get("text") or data.get("caption")

    def store_it(q: Queries) -> dict[str, Any] | None:
        stored = q.insert_incoming(
            device_id,
            str(data.get("id", "")),
            peer,
            type_,
            None if body is None else str(body),
            fields,
            None if media_path is None else str(media_path),
        )
        if stored is None:
            return None
        if peer and not data.get("fromMe") and not peer.endswith(("@g.us", "@broadcast")):
            q.note_contact(device_id, peer)  # it wrote: the new-contact cap spares it
        return {**public, "id": stored, "waId": data.get("id")}

    return store_it


def event_type(payload: dict[str, Any]) -> str:
    """A received message's event: ``status`` for a status post, else ``message``."""
    return "status" if payload.get("isStatus") else "message"


def reduced(data: dict[str, Any]) -> dict[str, Any]:
    """A message that could not be stored as it came, reduced to plain text fields; the
    whole of it, as JSON (by the text rule), kept under ``raw.message`` in base64."""
    out: dict[str, Any] = {}
    for key in _KEPT:
        value = data.get(key)
        if value is None:
            continue
        if key == "timestamp":
            out[key] = value if isinstance(value, int) and not isinstance(value, bool) else 0
        elif isinstance(value, str | bytes):
            out[key] = text.repaired(value)
        elif isinstance(value, int | float):
            out[key] = str(value)
        # anything else (a list, an object) is only in the raw payload
    kept: dict[str, Any] = {}
    try:
        raw = data.get(text.RAW)
        if isinstance(raw, dict):
            kept.update(text.sanitized(raw, objects=True))
        whole = json.dumps(text.sanitized(data, objects=True), ensure_ascii=False)
        kept["message"] = base64.b64encode(whole.encode()).decode()
    except (RecursionError, TypeError, ValueError):
        pass  # beyond what JSON can hold (nested too deep): the plain fields are all
    out[text.RAW] = kept
    out["reduced"] = True
    return out


def resend_params(pending: dict[str, Any]) -> dict[str, Any] | None:
    """The engine's ``send`` command for a stored, never acknowledged message."""
    type_ = pending["type"]
    if type_ in ("reaction", "edit", "revoke"):
        return None
    fields = {k: v for k, v in pending["fields"].items() if k != "media"}
    params: dict[str, Any] = {"id": pending["id"], "to": pending["to"], "type": type_, **fields}
    if type_ == "text":
        params["text"] = pending["body"]
    elif pending["body"] is not None and "caption" not in fields:
        params["caption"] = pending["body"]
    if pending["mediaPath"]:
        params["media"] = {**pending["fields"].get("media", {}), "path": pending["mediaPath"]}
    return params
