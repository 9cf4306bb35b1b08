"""The HTTP server: hypercorn's HTTP/1.1 connections, a cap on them, and a stop that
lets open requests finish.

Built from hypercorn's own parts (its ``TCPServer`` per connection, its lifespan
handling), in place of ``hypercorn.trio.serve``, for three things it cannot do:

- **A cap on connections.** Each open connection holds a file descriptor; past
  ``max_connections`` a new one is answered ``503`` with ``Connection: close`` at
  once (logged once per burst), instead of the daemon running out of descriptors
  and every request failing.
- **A connection whose client left is let go at once.** hypercorn's connection
  task waits for its keep-alive timer before it ends (trio/tcp_server.py l.60-80:
  the timer runs in the connection's task group), so a closed connection would
  count against the cap for up to ``keep_alive_timeout``. The timer itself is
  :class:`~wad.http.keepalive.KeepAlive`: one task a connection, not one a request.
- **A stop in two steps.** When ``stopping`` returns: stop accepting, close idle
  connections, let open requests finish until ``shutdown_timeout``; then the
  :class:`~wad.http.guard.Guard` answers 503 to those still running, and
  ``CLOSE_GRACE`` later whatever is left is cancelled. ``serve`` returns when the
  last connection is closed, so the daemon stops its sessions and store after it.

Per request, :mod:`wad.http.guard` fixes hypercorn's keep-alive bookkeeping, and an
answer's headers go out in the same write as its body (:func:`_sized_head`).
"""

from __future__ import annotations

import logging
import math
import select
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Event, RawData, Updated
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import AppWrapper, ConnectionState, LifespanState
from hypercorn.utils import repr_socket_addr

from wad.config import Config
from wad.http.guard import ASGIApp, Guard, GuardLimits, Scope
from wad.http.keepalive import KeepAlive

if TYPE_CHECKING:
    from hypercorn.typing import ASGIFramework

log = logging.getLogger(__name__)

#: After the stop deadline, time for the 503 answers to be written before the rest goes.
CLOSE_GRACE = 2.0
#: A refusal (503, then close) takes at most this long.
REFUSAL_TIMEOUT = 1.0
#: Refusals this far apart are separate bursts, each logged once.
BURST_GAP = 10.0
#: hypercorn's closing and timer bookkeeping is shielded for at most this long.
BOOKKEEPING_TIMEOUT = 10.0

_REFUSAL_BODY = (
    b'{"success": false, "error": "Too many connections; try again shortly", "code": "unavailable"}'
)
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\nretry-after: 1\r\nconnection: close\r\n\r\n%s"
    % (len(_REFUSAL_BODY), _REFUSAL_BODY)
)


@dataclass(frozen=True)
class HttpLimits:
    max_connections: int = 1000
    keep_alive_timeout: float = 5.0
    shutdown_timeout: float = 10.0
    guard: GuardLimits = GuardLimits()

    @classmethod
    def from_config(cls, config: Config) -> HttpLimits:
        return cls(
            max_connections=config.max_connections,
            keep_alive_timeout=config.keep_alive_timeout,
            shutdown_timeout=config.shutdown_timeout,
            guard=GuardLimits(large_bodies=config.max_large_bodies),
        )


def _sized_head(data: bytes) -> bool:
    """Whether ``data`` is an answer's status line and headers with a body of a known,
    non-zero length to follow: those wait for the body's first bytes, so that both go
    in one write. (hypercorn writes them apart: two system calls, and on the send's
    own path a lock, a shielded scope and a scheduling round more, for every answer.
    An answer whose length is unknown, a stream of events, goes at once, as does an
    interim 1xx.)"""
    if not (data.startswith(b"HTTP/1.1 ") and data.endswith(b"\r\n\r\n")):
        return False
    if data.startswith(b"HTTP/1.1 1"):
        return False
    lowered = data.lower()
    at = lowered.find(b"\r\ncontent-length:")
    if at < 0:
        return False
    end = lowered.find(b"\r\n", at + 2)
    return lowered[at + len(b"\r\ncontent-length:") : end].strip() not in (b"", b"0")


class _Connection(TCPServer):
    """One accepted connection, handled by hypercorn, with its bookkeeping kept whole."""

    def __init__(
        self,
        app: AppWrapper,
        config: HypercornConfig,
        context: WorkerContext,
        state: LifespanState,
        stream: trio.SSLStream[trio.SocketStream],  # hypercorn's type: any stream serves
    ) -> None:
        super().__init__(app, config, context, state, stream)
        self.keep_alive = KeepAlive(
            self.config.keep_alive_timeout,
            self.context.terminated,
            self._initiate_server_close,
            partial(_unread, stream),
        )
        # TCPServer.run starts its timer through this attribute (see wad.http.keepalive).
        self.idle_task = self.keep_alive  # type: ignore[assignment]
        self._head: bytes | None = None  # an answer's status line and headers, held back

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, RawData):  # hypercorn shields the write itself
            if self._head is not None:
                event = RawData(data=self._head + event.data)
                self._head = None
            elif _sized_head(event.data):
                self._head = event.data
                return
            await super().protocol_send(event)
            return
        if isinstance(event, Updated):  # the keep-alive timer: a deadline, set at once
            if event.idle:
                self.keep_alive.idle()
            else:
                self.keep_alive.busy()
            return
        # Closed (close the socket) also runs in the app's task, which quart-trio
        # may be cancelling: never cut it half-way (wad.http.guard tells the story).
        with trio.CancelScope(shield=True) as shielded:
            shielded.deadline = trio.current_time() + BOOKKEEPING_TIMEOUT
            if self._head is not None:  # what was written before the close goes out
                head, self._head = self._head, None
                await super().protocol_send(RawData(data=head))
            await super().protocol_send(event)

    async def _read_data(self) -> None:
        await super()._read_data()
        # The client is gone (or the connection broke): no timer keeps it open.
        self.keep_alive.end()


class HttpServer:
    def __init__(
        self,
        app: ASGIApp,
        config: HypercornConfig,
        limits: HttpLimits,
        *,
        buffered: Callable[[Scope], bool],
    ) -> None:
        """``config``: hypercorn's, with its binds; ``buffered``: see :class:`Guard`."""
        self.config = config
        self.config.keep_alive_timeout = limits.keep_alive_timeout
        self.limits = limits
        self.guard = Guard(app, limits.guard, buffered=buffered)
        # The guard takes any ASGI message; hypercorn's type lists each kind.
        self._app = ASGIWrapper(cast("ASGIFramework", self.guard))
        self._lifespan_state: LifespanState = {}
        self._context = WorkerContext(None)
        self.accepted = 0
        self.active = 0
        self.refused = 0
        self._last_refusal = -math.inf

    def statistics(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "connections": self.active,
            "refused": self.refused,
            **self.guard.statistics(),
        }

    async def serve(
        self,
        stopping: Callable[[], Awaitable[Any]],
        *,
        task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until ``stopping`` returns, then stop (see the module's docstring);
        ``task_status`` gets the bound addresses (``http://host:port``)."""
        lifespan = Lifespan(self._app, self.config, self._lifespan_state)
        async with trio.open_nursery() as lifespan_nursery:
            await lifespan_nursery.start(lifespan.handle_lifespan)
            await lifespan.wait_for_startup()
            listeners, binds = self._listen()
            async with trio.open_nursery() as connections:
                async with trio.open_nursery() as accepting:
                    accepting.start_soon(
                        partial(
                            trio.serve_listeners,
                            self._handle,
                            listeners,
                            handler_nursery=connections,
                        )
                    )
                    task_status.started(binds)
                    await stopping()
                    accepting.cancel_scope.cancel()  # the listening sockets close
                # Idle connections close now, busy ones after their answer.
                await self._context.terminated.set()
                deadline = trio.current_time() + self.limits.shutdown_timeout
                self.guard.stop_at(deadline)
                connections.cancel_scope.deadline = deadline + CLOSE_GRACE
            await lifespan.wait_for_shutdown()
            lifespan_nursery.cancel_scope.cancel()

    def _listen(self) -> tuple[list[trio.SocketListener], list[str]]:
        sockets = self.config.create_sockets()
        listeners, binds = [], []
        for sock in sockets.insecure_sockets:  # wad binds no TLS: a proxy terminates it
            sock.listen(self.config.backlog)
            listeners.append(trio.SocketListener(trio.socket.from_stdlib_socket(sock)))
            binds.append(f"http://{repr_socket_addr(sock.family, sock.getsockname())}")
        return listeners, binds

    async def _handle(self, stream: trio.SocketStream) -> None:
        self.accepted += 1
        if self.active >= self.limits.max_connections:
            self._note_refusal()
            await _refuse(stream)
            return
        self.active += 1
        try:
            connection = _Connection(
                self._app,
                self.config,
                self._context,
                ConnectionState(self._lifespan_state.copy()),
                stream,  # type: ignore[arg-type]  # hypercorn types it as the TLS stream
            )
            await connection.run()
        finally:
            self.active -= 1

    def _note_refusal(self) -> None:
        self.refused += 1
        now = trio.current_time()
        if now - self._last_refusal >= BURST_GAP:
            log.warning(
                "HTTP: %d connections open, the most allowed (max_connections): "
                "new ones get 503 until some close (%d refused so far)",
                self.active,
                self.refused,
            )
        self._last_refusal = now


def _unread(stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]) -> bool:
    """Whether bytes from the client wait in the socket, not yet read."""
    while isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    try:
        fd = stream.socket.fileno()
    except AttributeError:
        return False
    if fd < 0:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


async def _refuse(stream: trio.SocketStream) -> None:
    """503 and close. What the client sends meanwhile is read and dropped: closing a
    socket with unread data resets the connection, and the client could lose the
    answer before it read it."""
    with trio.move_on_after(REFUSAL_TIMEOUT):
        try:
            await stream.send_all(REFUSAL)
            await stream.send_eof()
            while await stream.receive_some(65536):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
    await stream.aclose()
