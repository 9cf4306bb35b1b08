"""The control server: the Unix socket, each connection's conversation, the event stream.

``serve_control`` binds the socket (or takes one from systemd), and serves it
with ``trio.serve_listeners`` until cancelled. Each connection is checked with
``SO_PEERCRED`` first; then requests are answered one after the other, through
the sans-IO :mod:`.protocol`. No connection can take the daemon down: whatever
goes wrong in one is logged and closes that one only.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any

import trio

from wad import validation
from wad.control import methods as method_table
from wad.control import peercred
from wad.control.protocol import (
    ControlError,
    Method,
    Request,
    RequestDecoder,
    dispatch,
    error_line,
    result_line,
)
from wad.control.socketfile import ControlSocketError, bind_unix, remove_if_ours
from wad.engines.wire import encode
from wad.errors import WadError
from wad.sessions.event_types import EVENT_TYPES, LIVE_TYPES
from wad.sessions.events import EventLog
from wad.store import StoredEvent

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI

log = logging.getLogger(__name__)

__all__ = ["ControlServer", "ControlSocketError", "serve_control"]

RECEIVE_SIZE = 64 * 1024


class ControlServer:
    def __init__(
        self,
        methods: dict[str, Method],
        events: EventLog,
        group: str | None,
        *,
        max_connections: int = 64,
        idle_timeout: float = 300.0,
        send_timeout: float = 30.0,
    ) -> None:
        self.methods = methods
        self.events = events
        self.group = group
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.send_timeout = send_timeout
        self.active = 0
        self.refused = 0

    def statistics(self) -> dict[str, int]:
        return {"connections": self.active, "refused": self.refused}

    async def handle(self, stream: trio.SocketStream) -> None:
        """One accepted connection, from the credential check to the close."""
        try:
            peer = peercred.peer_of(stream.socket)  # type: ignore[arg-type]
            if not peercred.allowed(peer, self.group):
                self.refused += 1
                log.warning(
                    "control socket: refused pid %d uid %d gid %d", peer.pid, peer.uid, peer.gid
                )
                await self._send(
                    stream,
                    error_line(
                        "refused",
                        f"uid {peer.uid} may not use this socket (root, the daemon's "
                        f"user or group {self.group!r} may)",
                    ),
                )
                return
            if self.active >= self.max_connections:
                await self._send(
                    stream,
                    error_line(
                        "busy", f"too many control connections (limit {self.max_connections})"
                    ),
                )
                return
            self.active += 1
            try:
                await self.converse(stream)
            finally:
                self.active -= 1
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
            pass  # the client left, or stopped reading: nothing to tell it
        except Exception:
            log.exception("control connection failed")
        finally:
            await stream.aclose()

    async def converse(self, stream: trio.abc.Stream) -> None:
        """Requests in, answers out, in order, until EOF or the idle timeout."""
        decoder = RequestDecoder()
        while True:
            data: bytes | bytearray | None = None
            with trio.move_on_after(self.idle_timeout):
                data = await stream.receive_some(RECEIVE_SIZE)
            if data is None:
                await self._send(
                    stream,
                    error_line("idle_timeout", f"no request for {self.idle_timeout:g} s; closing"),
                )
                return
            if not data:
                return
            for item in decoder.feed(data):
                if isinstance(item, bytes):
                    await self._send(stream, item)
                elif item.method == method_table.SUBSCRIBE:
                    try:
                        await self.subscribe(stream, item)
                        return
                    except ControlError as exc:
                        await self._send(stream, error_line(exc.code, exc.message, item.id))
                else:
                    await self._send(stream, await dispatch(self.methods, item))

    async def subscribe(self, stream: trio.abc.Stream, request: Request) -> None:
        """Stream ``{"event": ...}`` lines until the client leaves; the connection
        carries nothing else from then on."""
        wanted = _event_filter(request.params)
        with self.events.subscribe() as channel:
            await self._send(stream, result_line(request.id, {"subscribed": True}))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_wait_gone, stream, nursery.cancel_scope)
                async for event in channel:
                    if wanted(event):
                        await self._send(stream, encode({"event": event.to_json()}))
                # The event log cut this subscriber off: it did not keep up.
                await self._send(
                    stream,
                    error_line("unavailable", "event stream cut off: the client did not keep up"),
                )
                nursery.cancel_scope.cancel()

    async def _send(self, stream: trio.abc.Stream, line: bytes) -> None:
        # A client that never reads would hold its handler forever: give it a deadline.
        with trio.fail_after(self.send_timeout):
            await stream.send_all(line)


def _event_filter(params: dict[str, Any]) -> Any:
    unknown = set(params) - set(method_table.SUBSCRIBE_PARAMS)
    if unknown:
        raise ControlError("bad_request", f"unknown param(s): {', '.join(sorted(unknown))}")
    device = params.get("deviceId")
    if device is not None:
        try:
            device = validation.device_id(device)
        except WadError as exc:
            raise ControlError("bad_request", exc.message) from None
    types = params.get("events")
    if types is not None and (
        not isinstance(types, list) or not set(types) <= set(EVENT_TYPES + LIVE_TYPES)
    ):
        raise ControlError(
            "bad_request", f"events must be a list of: {', '.join(EVENT_TYPES + LIVE_TYPES)}"
        )

    def wanted(event: StoredEvent) -> bool:
        return (device is None or event.device_id == device) and (
            types is None or event.type in types
        )

    return wanted


async def _wait_gone(stream: trio.abc.Stream, scope: trio.CancelScope) -> None:
    """Read (and ignore) until the subscriber hangs up, then end its stream."""
    try:
        while await stream.receive_some(RECEIVE_SIZE):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    scope.cancel()


async def serve_control(
    daemon: DaemonAPI,
    *,
    sock: socket.socket | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the control socket until cancelled; ``task_status`` gets its path.

    ``sock``: an already listening socket (systemd socket activation); it is used
    as given and not removed on exit. Otherwise the configured path is bound
    (mode 0660, the control group's) and removed on exit.
    """
    config = daemon.config
    owned: tuple[str, int] | None = None
    if sock is None:
        path = config.control_socket_path()
        sock, inode = await bind_unix(path, config.control_group)
        owned = (str(path), inode)
        where = str(path)
    else:
        where = str(sock.getsockname())
    table = method_table.build(daemon)
    relay = None
    if config.database_url is not None:  # a cluster: other nodes' sessions too
        from wad.control.relay import Relay, relaying  # psycopg: only a cluster needs it

        relay = Relay(daemon, config.database_url)
        table = relaying(table, relay)
    try:
        server = ControlServer(table, daemon.events, config.control_group or None)
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, server.handle, [listener])
            daemon.services.status.control_bound = where
            log.info("control socket on %s", where)
            task_status.started(where)
    finally:
        if relay is not None:
            with trio.CancelScope(shield=True):
                await relay.close()
        daemon.services.status.control_bound = None
        if owned is not None:
            remove_if_ours(*owned)
        sock.close()
