"""The event types (standard library only: ``wadctl`` imports them)."""

from __future__ import annotations

EVENT_TYPES = (
    "session.status",
    "session.qr",
    "message",
    "message.ack",
    "message.sent",
    "history.batch",
    "presence",
    "group.participants",
    "group.update",
    "poll.vote",
    "status",
    "call.offer",
    "call.ended",
)
#: Live-only events: streamed to who is listening now, never stored (see announce()).
LIVE_TYPES = ("session.deleted",)
