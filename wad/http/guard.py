"""What every HTTP request goes through on its way to the app (an ASGI middleware).

hypercorn 0.18 with quart-trio gets two things wrong with HTTP/1.1 keep-alive, and
both come from one place. hypercorn does a connection's bookkeeping inside the
app's last ``send`` of an answer (``H11Protocol._maybe_recycle``, protocol/h11.py
l.271: recycle the connection for the next request and arm the keep-alive timer,
or close the socket). Its first step tells the app ``http.disconnect``, on which
quart-trio cancels the request's nursery (quart_trio/asgi.py l.39-40), the very
task running that bookkeeping; the rest is cut at its next checkpoint
(trio/tcp_server.py l.91-98). So:

- a connection that served a request is never closed by the keep-alive timeout
  (the timer is never armed again);
- an answer sent before the request's body arrived (a 401 from a before-request
  hook, a 404, a 413 from the headers alone, a 429) should close the connection,
  as hypercorn cannot recycle it, but the close is cut too: the connection stays
  open, the rest of the body is read, and the next request on it waits forever for
  a recycle that never comes (h11.py l.174-176: ``can_read`` is never set).

:mod:`wad.http.server` arms the timer without an await (:mod:`wad.http.keepalive`)
and shields the close where it runs. Even then, hypercorn closes the connection
after an early answer without saying so, and a pooled client that sends its next
request meanwhile loses it. So :class:`Guard` lets an
early answer wait briefly for a small body to arrive (Quart keeps reading it), so
that hypercorn can recycle the connection; when the rest is too large or too
slow, the answer says ``Connection: close``, and the client opens a new one.

It also carries two of the daemon's own rules: few large bodies at once (a JSON
body is held whole in memory and parsed, see :mod:`wad.http.request`), and the
stop: once the daemon stops, requests still running at the deadline are
cancelled and answered 503, and endless answers (server-sent events) end at once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import trio

from wad.errors import code_for_status

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CLOSE = (b"connection", b"close")
MiB = 1024 * 1024


@dataclass(frozen=True)
class GuardLimits:
    #: An early answer waits for at most this much of the body still to come ...
    drain_limit: int = 256 * 1024
    #: ... for at most this long; beyond either, it closes the connection instead.
    drain_timeout: float = 2.0
    #: A body over this size, other than multipart (which streams to disk), is large:
    large_body: int = 1 * MiB
    #: at most this many are read and parsed at once; another waits this long, then 503.
    large_bodies: int = 4
    large_wait: float = 30.0


class _Exchange:
    """One request and its answer, as far as the guard follows them."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, limits: GuardLimits) -> None:
        self._receive = receive
        self._send = send
        self.limits = limits
        length = None
        self.chunked = self.multipart = False
        for name, value in scope["headers"]:  # one pass, no dict: this runs every request
            name = name.lower()
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                self.chunked = True
            elif name == b"content-type":
                self.multipart = value.lower().startswith(b"multipart/")
        # h11 has checked the header already: digits, one value.
        self.expected = int(length) if length is not None else None
        self.received = 0
        self.body_done = not self.chunked and not self.expected
        self.body_settled = trio.Event()  # the whole body came, or the client left
        if self.body_done:
            self.body_settled.set()
        self.started = False  # the answer's status line went out
        self.finished = False  # and its last byte
        self.endless = False  # a server-sent event stream

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.body_done = True
                self.body_settled.set()
        elif message["type"] == "http.disconnect":
            self.body_settled.set()
        return message

    async def send(self, message: Message) -> None:
        """The app's ``send`` (the bound method itself: no wrapper frame per message)."""
        if message["type"] == "http.response.start":
            if not self.body_done:
                message = await self._early(message)
            self.started = True
            for name, value in message.get("headers", ()):
                if name == b"content-type":
                    self.endless = value.startswith(b"text/event-stream")
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.finished = True
        await self._send(message)

    async def _early(self, message: Message) -> Message:
        """An answer before the whole body came: wait for a small rest, or close.

        An answer that closes the connection already (one that never reads the body,
        such as a refused cluster header) goes at once: nothing will receive a rest,
        and waiting for it would only delay the answer by ``drain_timeout``."""
        if CLOSE in message.get("headers", ()):
            return message
        limits = self.limits
        if self.expected is not None and self.expected - self.received <= limits.drain_limit:
            with trio.move_on_after(limits.drain_timeout):
                await self.body_settled.wait()
        if self.body_done:
            return message
        return {**message, "headers": [*message.get("headers", ()), CLOSE]}

    async def answer(self, status: int, error: str) -> None:
        """The guard's own answer, in the API's error envelope; the connection closes.

        Whatever of the body comes meanwhile is received and dropped, until hypercorn
        says the exchange is over: with nobody receiving, hypercorn's reading task
        would block on the request's full queue, and so would its own closing."""
        await self._alone(self._answer, status, error)

    async def end_stream(self) -> None:
        """End an event stream whose app was cut off: its last, empty chunk, so that
        the client sees a stream that ended (and reconnects later), not a broken one.
        Only for streams: any other answer cut short must look cut short."""
        end = {"type": "http.response.body", "body": b"", "more_body": False}
        await self._alone(self.send, end)

    async def _alone(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """``fn(*args)`` while the request's messages are received (see :meth:`answer`)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._discard_until_disconnect)
            await fn(*args)
            nursery.cancel_scope.deadline = trio.current_time() + self.limits.drain_timeout

    async def _discard_until_disconnect(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass

    async def _answer(self, status: int, error: str) -> None:
        envelope = {"success": False, "error": error, "code": code_for_status(status)}
        body = json.dumps(envelope).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", b"1"),
            CLOSE,
        ]
        self.body_done = True  # nothing to wait for: the connection closes anyway
        start = {"type": "http.response.start", "status": status, "headers": headers}
        await self.send(start)
        await self.send({"type": "http.response.body", "body": body})


class Guard:
    """The ASGI middleware: wrap the app in it (see the module's docstring)."""

    def __init__(
        self, app: ASGIApp, limits: GuardLimits, *, buffered: Callable[[Scope], bool]
    ) -> None:
        """``buffered(scope)``: whether the app reads this request's body whole (its
        declared length is within the path's limit); only those count as large."""
        self.app = app
        self.limits = limits
        self.buffered = buffered
        self._large = trio.Semaphore(limits.large_bodies)
        self._running: dict[trio.CancelScope, _Exchange] = {}
        self._stop_at = math.inf

    def statistics(self) -> dict[str, int]:
        return {
            "requests": len(self._running),
            "large_bodies": self.limits.large_bodies - self._large.value,
        }

    def stop_at(self, deadline: float) -> None:
        """The daemon stops: requests running at ``deadline`` are answered 503, and
        so are those that start after; streams of events end now."""
        self._stop_at = deadline
        for scope, exchange in self._running.items():
            if exchange.endless:
                scope.cancel()
            else:
                scope.deadline = min(scope.deadline, deadline)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, receive, send, self.limits)
        if not self._is_large(exchange, scope):
            await self._run(scope, exchange)
            return
        # The wait, too, ends at the stop's deadline (registered like a request).
        deadline = min(trio.current_time() + self.limits.large_wait, self._stop_at)
        with trio.CancelScope(deadline=deadline) as waited:
            self._running[waited] = exchange
            try:
                await self._large.acquire()
            finally:
                del self._running[waited]
        if waited.cancelled_caught:
            stopping = self._stop_at < math.inf
            await exchange.answer(
                503,
                "The daemon is stopping; try again shortly"
                if stopping
                else "Too many large requests at once; try again shortly",
            )
            return
        try:
            await self._run(scope, exchange)
        finally:
            self._large.release()

    def _is_large(self, exchange: _Exchange, scope: Scope) -> bool:
        if exchange.multipart or exchange.body_done:
            return False
        if exchange.expected is None:  # chunked: no length to judge by
            return True
        return exchange.expected > self.limits.large_body and self.buffered(scope)

    async def _run(self, scope: Scope, exchange: _Exchange) -> None:
        with trio.CancelScope(deadline=self._stop_at) as cancel_scope:
            self._running[cancel_scope] = exchange
            try:
                await self.app(scope, exchange.receive, exchange.send)
            finally:
                del self._running[cancel_scope]
        if not cancel_scope.cancelled_caught:
            return
        if not exchange.started:
            await exchange.answer(503, "The daemon is stopping; try again shortly")
        elif exchange.endless and not exchange.finished:
            await exchange.end_stream()
