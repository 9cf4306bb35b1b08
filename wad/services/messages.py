"""A session's stored messages: listed newest first, and their media files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wad.errors import bad_request, not_found
from wad.services.lookup import Lookup
from wad.store import Store

__all__ = ["Messages"]

PAGE_MAX = 200


class Messages:
    def __init__(self, lookup: Lookup, store: Store) -> None:
        self.lookup = lookup
        self.store = store

    def page(
        self, device_id: object, direction: object = None, before: object = None, limit: object = 50
    ) -> dict[str, Any]:
        """A page of messages in and out, newest first, and where the next page starts."""
        row = self.lookup.row(device_id)
        if direction not in (None, "", "in", "out"):
            raise bad_request("direction must be 'in' or 'out'")
        try:
            count = int(limit)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise bad_request(f"limit must be a number from 1 to {PAGE_MAX}") from None
        if not 1 <= count <= PAGE_MAX:
            raise bad_request(f"limit must be a number from 1 to {PAGE_MAX}")
        if before is not None and not isinstance(before, str):
            raise bad_request("before must be a message id")
        # One more than asked: whether a next page exists, without a count query.
        which = str(direction) if direction else None
        items = self.store.list_messages(row.device_id, which, before, count + 1)
        more = len(items) > count
        items = items[:count]
        return {"messages": items, "nextBefore": items[-1]["id"] if more else None}

    def media_file(self, device_id: object, message_id: object) -> tuple[Path, str, str | None]:
        """A message's media on disk: its path, mimetype and file name."""
        row = self.lookup.row(device_id)
        target = self.lookup.message(row.device_id, message_id)
        path = self.store.media_path(row.device_id, target["id"])
        if path is None or not Path(path).exists():
            raise not_found("This message has no media")
        meta = target["fields"].get("media", {})
        return Path(path), meta.get("mimetype") or "application/octet-stream", meta.get("fileName")
