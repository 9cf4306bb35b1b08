"""A session's stored messages: listed newest first, their media files, and how many
came and went each hour."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from wad.errors import bad_request, not_found
from wad.services.lookup import Lookup
from wad.store import Store
from wad.store.clock import iso_at

__all__ = ["Messages"]

PAGE_MAX = 200
HOURS_MAX = 168  # a week of hourly counts at most


class Messages:
    def __init__(self, lookup: Lookup, store: Store) -> None:
        self.lookup = lookup
        self.store = store

    async def page(
        self, device_id: object, direction: object = None, before: object = None, limit: object = 50
    ) -> dict[str, Any]:
        """A page of messages in and out, newest first, and where the next page starts."""
        row = await self.lookup.row(device_id)
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
        start = before
        items = await self.store.read(
            lambda q: q.list_messages(row.device_id, which, start, count + 1)
        )
        more = len(items) > count
        items = items[:count]
        return {"messages": items, "nextBefore": items[-1]["id"] if more else None}

    async def media_file(
        self, device_id: object, message_id: object
    ) -> tuple[Path, str, str | None]:
        """A message's media on disk: its path, mimetype and file name."""
        row = await self.lookup.row(device_id)
        target = await self.lookup.message(row.device_id, message_id)
        path = await self.store.read(lambda q: q.media_path(row.device_id, target["id"]))
        if path is None or not Path(path).exists():  # noqa: ASYNC240  # one stat, as before
            raise not_found("This message has no media")
        meta = target["fields"].get("media", {})
        return Path(path), meta.get("mimetype") or "application/octet-stream", meta.get("fileName")

    async def hourly(self, device_id: object, hours: object = 24) -> dict[str, Any]:
        """Messages received and sent per UTC hour, the last ``hours`` of them (the current
        one last, so far), of one session or of all (``device_id`` None or empty)."""
        if isinstance(hours, bool):
            hours = None  # int(True) is 1: a boolean is no number of hours
        try:
            count = int(hours)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            count = 0
        if not 1 <= count <= HOURS_MAX:
            raise bad_request(f"hours must be a number from 1 to {HOURS_MAX}")
        session = None if device_id in (None, "") else (await self.lookup.row(device_id)).device_id
        first = (int(time.time()) // 3600 - count + 1) * 3600
        starts = [iso_at(first + 3600 * n, "seconds") for n in range(count)]
        since = iso_at(first)  # the stored form (milliseconds): "...:00Z" sorts after "...:00.000Z"
        counts = await self.store.read(lambda q: q.hourly_counts(session, since))
        found = {hour: (received, sent) for hour, received, sent in counts}
        buckets = []
        for start in starts:
            received, sent = found.get(start[:13], (0, 0))
            buckets.append({"hour": start, "received": received, "sent": sent})
        return {
            "session": session,
            "hours": count,
            "buckets": buckets,
            "received": sum(b["received"] for b in buckets),
            "sent": sum(b["sent"] for b in buckets),
        }
