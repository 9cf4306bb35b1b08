"""The trio side of the engine contract: a :class:`Link` (one connection attempt of
one session) and an :class:`Engine` that opens links. Events, errors and commands are
in :mod:`wad.engines.contract`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

import trio

from wad.engines.contract import EngineEvent


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

    def open_link(
        self, device_id: str, folder: Path, options: Mapping[str, Any] | None = None
    ) -> AbstractAsyncContextManager[Link]:
        """Start connecting ``device_id`` with its files in ``folder``; ``options`` are
        the session's settings for its engine (``proxy``: a URL or None, ``history``:
        ``none`` | ``recent`` | ``full``); an engine ignores those it has no use for.

        Leaving the context stops the connection (a worker that does not stop
        within the grace period is killed).
        """
        ...
