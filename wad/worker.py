"""The neonize worker: one WhatsApp session in a process of its own.

``python -m wad.worker --device-id ID --db PATH --fd N [--media-dir DIR] [--log-level LEVEL]``

neonize keeps its clients in unlocked Go maps and a Go panic takes the whole process
down, so the daemon runs each session here, apart. The worker talks to the daemon
only over the inherited socket ``N``, in JSON lines (:mod:`wad.wire`); stdout is left
to neonize and Go, which print there. Its own logs go to stderr, one record a line
(``LEVEL logger: message``), for the daemon to re-log.

Worker -> daemon: ``{"event": kind, "data": {...}}`` (:meth:`EngineEvent.to_wire`)
and replies ``{"reply": n, "result": {...}}`` or
``{"reply": n, "error": {"code": ..., "message": ...}}``.
Daemon -> worker: ``{"id": n, "command": name, "params": {...}}``; ``stop`` ends the
worker, and so does the end of the socket (the daemon is gone).

Exit status: 0 after ``stop`` or the daemon going away, 1 when neonize failed (the
reason was sent as an ``error`` event first).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import math
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import trio
from neonize.client import NewClient, ProxySettings
from neonize.exc import NeonizeError

from . import neonize_send
from .engine import EngineError, EngineEvent
from .neonize_bridge import Bridge
from .neonize_send import Commands
from .wire import LineDecoder, WireError, encode

log = logging.getLogger(__name__)

#: The proxy URL (``http://...`` or ``socks5://...``) for WhatsApp's servers. Passed in
#: the environment, not the command line, which any local user can read.
PROXY_ENV = "WAD_WORKER_PROXY"
#: How long a worker whose daemon has gone tries to disconnect politely: neonize's
#: ``stop()`` can block for a minute while a dial is in progress.
ORPHAN_STOP_TIMEOUT = 2.0


class Worker:
    """One session's neonize client, driven by the daemon's commands over ``stream``.

    neonize calls run in threads, one at a time (a ``CapacityLimiter(1)``): its Go maps
    are not safe for concurrent use.
    """

    def __init__(self, client: NewClient, stream: trio.abc.Stream,
                 proxy: str | None = None, media_dir: Path | None = None) -> None:
        self.client = client
        self.stream = stream
        self.proxy = proxy
        self._limiter = trio.CapacityLimiter(1)
        self._write_lock = trio.Lock()
        self._event_send, self._event_receive = trio.open_memory_channel[EngineEvent](math.inf)
        self._token = trio.lowlevel.current_trio_token()
        self._status: int | None = None
        self.bridge = Bridge(client, self._emit_from_thread, media_dir)
        self.commands = Commands(client, self.bridge)

    def _emit_from_thread(self, event: EngineEvent) -> None:
        trio.from_thread.run_sync(self._event_send.send_nowait, event, trio_token=self._token)

    def _finish(self, status: int) -> None:
        """End the worker; events already queued still go out."""
        if self._status is None:
            self._status = status
            self._event_send.close()

    async def run(self) -> int:
        """Connect and serve until stopped; return the exit status."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._connect)
            nursery.start_soon(self._serve_commands, nursery)
            await self._forward_events()
            nursery.cancel_scope.cancel()
        assert self._status is not None
        return self._status

    async def _connect(self) -> None:
        settings = ProxySettings(proxy_address=self.proxy) if self.proxy else None
        try:
            # connect() blocks until stop(); offline it raises within milliseconds.
            await trio.to_thread.run_sync(self.client.connect, settings, abandon_on_cancel=True)
        except NeonizeError as exc:
            self._send_event(EngineEvent("error", {"message": str(exc)}))
            self._finish(1)
        else:
            self._send_event(EngineEvent("disconnected", {"reason": "the neonize client stopped"}))
            self._finish(0)

    def _send_event(self, event: EngineEvent) -> None:
        if self._status is None:
            self._event_send.send_nowait(event)

    async def _forward_events(self) -> None:
        """Send events until :meth:`_finish`, then those still queued."""
        try:
            async for event in self._event_receive:
                await self._write(event.to_wire())
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._finish(0)  # the daemon is gone: nobody is left to tell

    async def _write(self, obj: dict[str, Any]) -> None:
        async with self._write_lock:
            await self.stream.send_all(encode(obj))

    async def _serve_commands(self, nursery: trio.Nursery) -> None:
        decoder = LineDecoder()
        try:
            while chunk := await self.stream.receive_some():
                for request in decoder.feed(chunk):
                    nursery.start_soon(self._answer, request)
            log.info("the daemon closed the socket: stopping")
        except WireError as exc:
            log.error("the daemon sent a bad line, stopping: %s", exc)
        except trio.BrokenResourceError:
            log.info("the daemon is gone: stopping")
        with trio.move_on_after(ORPHAN_STOP_TIMEOUT):
            await self._stop_client()
        self._finish(0)

    async def _answer(self, request: dict[str, Any]) -> None:
        number = request.get("id")
        command, params = request.get("command"), request.get("params", {})
        try:
            if not isinstance(command, str) or not isinstance(params, dict):
                raise EngineError("a request needs a command and params", "bad_request")
            reply: dict[str, Any] = {"reply": number, "result": await self.handle(command, params)}
        except EngineError as exc:
            reply = {"reply": number, "error": {"code": exc.code, "message": str(exc)}}
        except Exception as exc:  # a bug here must not take the session down
            log.exception("command %s failed", command)
            reply = {"reply": number, "error": {"code": "failed", "message": str(exc)}}
        try:
            await self._write(reply)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        if command == "stop":
            self._finish(0)

    async def handle(self, command: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one command; raise :class:`EngineError` when it cannot be done."""
        if command == "stop":
            await self._stop_client()
            return {}
        call = self.commands.prepare(command, params)
        return await trio.to_thread.run_sync(neonize_send.run, call, limiter=self._limiter,
                                             abandon_on_cancel=True)

    async def _stop_client(self) -> None:
        # stop() blocks for up to a minute while a dial is in progress; the daemon
        # kills a worker that does not stop within its grace period.
        await trio.to_thread.run_sync(self.client.stop, limiter=self._limiter,
                                      abandon_on_cancel=True)


# -- the process -------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask Linux for SIGTERM when the daemon dies (the socket's end covers the rest)."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _setup_logging(level: str) -> None:
    # Importing neonize ran logging.basicConfig(): replace its handler with plain lines
    # the daemon can re-log (it adds the time and the device id).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # neonize passes this logger's level to Go as whatsmeow's log level.
    logging.getLogger("neonize.utils.log").setLevel(level.upper())
    # connect() warns on every start that ffmpeg is missing; only media needs it.
    logging.getLogger("neonize.utils.ffmpeg").setLevel(logging.ERROR)


async def _serve(sock: socket.socket, device_id: str, db: str, media_dir: Path) -> int:
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    # The whatsmeow store is the SQLite file ``name``; uuid keys the client in Go.
    client = NewClient(name=db, uuid=device_id)
    proxy = os.environ.get(PROXY_ENV) or None
    return await Worker(client, stream, proxy, media_dir).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wad.worker",
                                     description="Run one neonize session for the wad daemon.")
    parser.add_argument("--device-id", required=True)
    parser.add_argument("--db", required=True, help="the session's whatsmeow SQLite file")
    parser.add_argument("--fd", type=int, required=True, help="the socket to the daemon")
    parser.add_argument("--media-dir", type=Path, default=None,
                        help="where received media go (default: media/ beside --db)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    media_dir = args.media_dir or Path(args.db).parent / "media"
    _setup_logging(args.log_level)
    _die_with_parent()
    status = 1
    try:
        status = trio.run(_serve, socket.socket(fileno=args.fd), args.device_id, args.db,
                          media_dir)
    except BaseException:
        log.exception("the worker crashed")
    finally:
        logging.shutdown()
        sys.stdout.flush()
        # Not sys.exit(): neonize's connect thread is not a daemon thread and may still
        # be blocked in Go, and a normal exit would wait for it forever.
        os._exit(status)


if __name__ == "__main__":
    main()
