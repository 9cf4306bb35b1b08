"""The keep-alive timer of one HTTP connection: one task whose deadline moves.

hypercorn keeps a connection's timer as a task restarted for every request
(``TrioSingleTask``: a lock, a new task started and waited for, the last one
cancelled), through ``Updated`` events that run inside the app's last ``send``,
where they must be shielded (:mod:`wad.http.guard` tells why). Per request that
is a task started and one cancelled, two locks and two shielded scopes (with
two small changes, this took a send from 4.2 to 3.5 M instructions; see
contrib/bench/README.md). Here the timer
is one task for the connection's life, and arming or stopping it sets a
deadline: no checkpoint, so nothing to shield and nothing a cancellation can
cut. It does what hypercorn's does: an idle connection closes
``keep_alive_timeout`` after its last answer (or after it opened), and at once
when the server stops; a busy one finishes its request (hypercorn then closes
it instead of recycling it).

One thing more: when the time is up but the client's next request already
waits unread in the socket (the event loop was behind: under load, the timer
and the reader become ready in the same turn), the connection gets one more
``keep_alive_timeout`` for hypercorn to read it. Closing then would drop a
request the client sent in time (clients see a reset, and a POST is not
retried). Once an idle period: bytes trickled in at each deadline do not keep a
connection open.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio


class Terminated(Protocol):
    """hypercorn's ``WorkerContext.terminated``: set when the server stops."""

    async def wait(self) -> None: ...

    def is_set(self) -> bool: ...


class KeepAlive:
    """Has the interface of hypercorn's ``TrioSingleTask`` for ``TCPServer.run``'s
    first ``restart``; the connection calls :meth:`idle` and :meth:`busy` itself."""

    def __init__(
        self,
        timeout: float,
        terminated: Terminated,
        close: Callable[[], Awaitable[None]],
        unread: Callable[[], bool] = lambda: False,
    ) -> None:
        """``close``: what hypercorn's own timer does when it fires (its
        ``TCPServer._initiate_server_close``); ``unread``: whether bytes from the
        client wait in the socket."""
        self._timeout = timeout
        self._unread = unread
        self._grace = True
        self._terminated = terminated
        self._close = close
        self._deadline = math.inf
        self._scope: trio.CancelScope | None = None
        self._started = False
        self._busy = False
        self._ended = False
        self._idle_again: trio.Event | None = None

    async def restart(self, task_group: Any, action: object) -> None:
        """hypercorn's start of the timer (``action`` is its own; :meth:`run` does it)."""
        if not self._started:
            self._started = True
            task_group.spawn(self.run)
        self.idle()

    async def stop(self) -> None:
        self.busy()

    def idle(self) -> None:
        """The connection waits for its next request: it closes if none comes in time."""
        self._busy = False
        self._grace = True
        self._set_deadline(trio.current_time() + self._timeout)
        if self._idle_again is not None:
            self._idle_again.set()

    def busy(self) -> None:
        """A request came: no time limit while it runs."""
        self._busy = True
        self._set_deadline(math.inf)

    def end(self) -> None:
        """The connection is closed: the timer's task returns."""
        self._ended = True
        if self._scope is not None:
            self._scope.cancel()
        if self._idle_again is not None:
            self._idle_again.set()

    def _set_deadline(self, deadline: float) -> None:
        self._deadline = deadline
        if self._scope is not None:
            self._scope.deadline = deadline

    async def run(self) -> None:
        """The timer's task, in the connection's task group."""
        while True:
            with trio.CancelScope(deadline=self._deadline) as self._scope:
                await self._terminated.wait()
            self._scope = None
            if self._ended:
                return
            if not self._busy:
                if self._grace and not self._terminated.is_set() and self._unread():
                    self._grace = False  # a request came in time: let hypercorn read it
                    self._deadline = trio.current_time() + self._timeout
                    continue
                break  # idle: its time is up, or the server stops
            if not self._terminated.is_set():
                continue  # the deadline passed just as a request came: it runs untimed
            # The server stops during a request: close once it is answered (if
            # hypercorn, which closes such a connection itself, has not by then).
            self._idle_again = trio.Event()
            await self._idle_again.wait()
            self._idle_again = None
            if self._ended:
                return
            break
        with trio.CancelScope(shield=True):
            await self._close()
