"""The contract between a session and the engine that talks to WhatsApp for it.

An engine opens *links*: one live connection attempt of one session. A link
yields :class:`EngineEvent` objects and answers commands. Both engines (the real
``neonize`` one, with a worker process per session, and the in-process
``simulator``) implement exactly this, and one contract test suite runs on both.

Events (``kind`` and the keys of ``data``):

- ``qr``: ``code`` (the raw ``2@...`` string to render as a QR code)
- ``pair_code``: ``code`` (8 characters to type on the phone)
- ``connected``: ``phoneNumber``, ``jid``
- ``disconnected``: ``reason``; the link ends after it
- ``logged_out``: ``reason``; the device was unlinked, credentials are gone
- ``message``: ``id``, ``chat``, ``from``, ``type``, ``text``, ``timestamp``, ...
- ``receipt``: ``ids``, ``chat``, ``status`` (``delivered`` | ``read`` | ``played``)
- ``error``: ``message``; the link ends after it

Commands (``Link.call(name, params)``):

- ``send_text``: ``id`` (a message id chosen by the daemon before the call),
  ``to`` (a JID), ``text`` -> ``{"id": <WhatsApp message id>, "timestamp": <unix s>}``
- ``logout`` -> ``{}``
- ``pair_phone``: ``phoneNumber`` -> ``{"code": "ABCD-EFGH"}``
- ``check_numbers``: ``numbers`` -> ``{"results": [{"number", "exists", "jid"}]}``
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import trio

EVENT_KINDS = frozenset(
    {"qr", "pair_code", "connected", "disconnected", "logged_out", "message", "receipt", "error"}
)
# After one of these a link delivers nothing more.
TERMINAL_KINDS = frozenset({"disconnected", "logged_out", "error"})


@dataclass(frozen=True, slots=True)
class EngineEvent:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"event": self.kind, "data": self.data}

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> EngineEvent:
        kind = obj.get("event")
        data = obj.get("data", {})
        if kind not in EVENT_KINDS or not isinstance(data, dict):
            raise ValueError(f"not an engine event: {obj!r}")
        return cls(kind, data)


class EngineError(Exception):
    """A command failed on the engine's side (not connected, refused, ...).

    ``code`` is a short stable word (``not_connected``, ``not_on_whatsapp``,
    ``failed``, ``unsupported``, ``bad_request``) the API maps to a status.
    """

    def __init__(self, message: str, code: str = "failed") -> None:
        super().__init__(message)
        self.code = code


class Link(Protocol):
    """One connection attempt of one session."""

    def events(self) -> AsyncIterator[EngineEvent]:
        """Every event until the link ends (worker gone, disconnected, error)."""
        ...

    async def call(self, command: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run a command; raise :class:`EngineError` when it fails."""
        ...

    def take_ready(self, limit: int) -> list[EngineEvent]:
        """Up to ``limit`` further events that have already arrived, without waiting
        (none when nothing is ready). Mixed with :meth:`events`, order is kept: a
        session that got one event drains what came with it and stores it together."""
        ...


def take_ready(channel: trio.MemoryReceiveChannel[EngineEvent], limit: int) -> list[EngineEvent]:
    """What a link's event channel already holds, up to ``limit``, without waiting."""
    ready: list[EngineEvent] = []
    while len(ready) < limit:
        try:
            ready.append(channel.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            break
    return ready


class Engine(Protocol):
    name: str

    def open_link(self, device_id: str, folder: Path) -> AbstractAsyncContextManager[Link]:
        """Start connecting ``device_id`` with its files in ``folder``.

        Leaving the context stops the connection (a worker that does not stop
        within the grace period is killed).
        """
        ...
