"""The event log: numbered, stored, then fanned out to live subscribers.

Every session event (state changes, QR updates, messages, receipts) is stored
in the ``events`` table with a per-session sequence number inside one
transaction, together with whatever listeners add to that transaction (the
webhook plugin writes its deliveries there). After the commit it is handed to the
``after_commit`` listeners (plugins, metrics: this node's events) and to live
subscribers (SSE, ``wadctl events``, the dashboard).

In a cluster (:meth:`EventLog.follow`) live subscribers get every node's events
instead, from the database's feed (:mod:`wad.store.postgres.notify`), this node's
included: they come back that way once committed, so they are not also handed to
subscribers here (which would deliver them twice, and out of commit order).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import trio

from wad.store import Queries, Store, StoredEvent, new_id, now_iso

log = logging.getLogger(__name__)

# Runs inside the event's transaction, on its queries (``q``): on PostgreSQL in the
# store's worker thread, so a listener only writes through ``q``.
InTransaction = Callable[[Queries, StoredEvent], None]
AfterCommit = Callable[[StoredEvent], None]
# What feeds live subscribers in a cluster (PostgresStore.listen): it calls ``feed``
# with events in commit order, and ``gap`` when it lost some.
Feed = Callable[..., Awaitable[None]]


class EventLog:
    def __init__(self, store: Store, subscriber_buffer: int = 1000) -> None:
        self.store = store
        self.in_transaction: list[InTransaction] = []
        self.after_commit: list[AfterCommit] = []
        self._subscribers: set[trio.MemorySendChannel[StoredEvent]] = set()
        self._buffer = subscriber_buffer
        # Where a committed event goes live: to the subscribers here, or (following a
        # cluster's feed) nowhere, as it comes back through the feed.
        self._live: Callable[[StoredEvent], None] = self._send_to_subscribers

    async def emit(
        self,
        device_id: str,
        type_: str,
        payload: dict[str, Any],
        also: Callable[[Queries], object] | None = None,
    ) -> StoredEvent:
        """Store an event (and run ``also``, a write of the caller's, in the same
        transaction: a change and the event that reports it commit together)."""

        def write(q: Queries) -> StoredEvent:
            if also is not None:
                also(q)
            event = q.append_event(device_id, type_, payload)
            for listener in self.in_transaction:
                listener(q, event)
            return event

        event = await self.store.run(write)
        self._fan_out(event)
        return event

    async def emit_many(
        self,
        device_id: str,
        type_: str,
        writes: list[Callable[[Queries], dict[str, Any] | None]],
        type_of: Callable[[dict[str, Any]], str] | None = None,
    ) -> list[StoredEvent]:
        """Run several changes in ONE transaction (messages that arrived together), each
        ``write`` followed by the event whose payload it returns (none when it returns
        None: nothing changed) and what listeners add, in order; the events are handed
        out after the commit, in the same order. ``type_of`` names an event's type from
        its payload (a received status is a ``status``), else ``type_``."""

        def write_all(q: Queries) -> list[StoredEvent]:
            stored: list[StoredEvent] = []
            for write in writes:
                payload = write(q)
                if payload is None:
                    continue
                named = type_ if type_of is None else type_of(payload)
                event = q.append_event(device_id, named, payload)
                for listener in self.in_transaction:
                    listener(q, event)
                stored.append(event)
            return stored

        stored = await self.store.run(write_all)
        for event in stored:
            self._fan_out(event)
        return stored

    def announce(self, device_id: str, type_: str, payload: dict[str, Any]) -> StoredEvent:
        """A live-only event (``session.deleted``): handed to live subscribers (the
        dashboard's stream, ``events.subscribe``) now (in a cluster, every node's,
        through the feed), not stored, not numbered (seq 0),
        not given to plugins. A stream that resumes from it finds it unknown and starts
        over, as after any lost resume point."""
        event = StoredEvent(new_id("evt"), device_id, 0, type_, payload, now_iso())
        # Following a cluster's feed, a deletion comes back through it (a trigger
        # announces it), to every node's subscribers.
        self._live(event)
        return event

    def _fan_out(self, event: StoredEvent) -> None:
        for listener in self.after_commit:
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed on %s", event.type)
        self._live(event)

    async def follow(
        self, feed: Feed, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Feed live subscribers from the cluster's ``feed`` (every node's events, in
        commit order) instead of this node's commits, until cancelled."""
        self._live = _nowhere
        await feed(self.feed, self.cut_off, task_status=task_status)

    def feed(self, events: list[StoredEvent]) -> None:
        """Hand committed events (any node's) to live subscribers."""
        for event in events:
            self._send_to_subscribers(event)

    def cut_off(self) -> None:
        """End every live stream: the feed lost events it cannot replay. An SSE client
        resumes from its last event id (the table has what it missed, or it is told
        to reload); ``events.subscribe`` is told it was cut off."""
        for channel in list(self._subscribers):
            self._subscribers.discard(channel)
            channel.close()

    def _send_to_subscribers(self, event: StoredEvent) -> None:
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                # A subscriber that cannot keep up is cut off rather than
                # slowing every session down; it sees its stream end.
                log.warning("dropping a slow event subscriber")
                self._subscribers.discard(channel)
                channel.close()
            except trio.BrokenResourceError:
                self._subscribers.discard(channel)

    @contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[StoredEvent]]:
        """Live events from now on, until the ``with`` block ends."""
        send, receive = trio.open_memory_channel[StoredEvent](self._buffer or math.inf)
        self._subscribers.add(send)
        try:
            yield receive
        finally:
            self._subscribers.discard(send)
            send.close()
            receive.close()

    def statistics(self) -> dict[str, int]:
        return {"subscribers": len(self._subscribers)}


def _nowhere(event: StoredEvent) -> None:
    pass
