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

Exit status: 0 after ``stop`` or the daemon going away, 1 when neonize failed or
another worker holds the session's folder (the reason was sent as an ``error`` event
first). A worker locks its session's folder (``worker.lock``, :mod:`wad.lockfile`)
before its client opens the whatsmeow database: two clients on one set of WhatsApp
credentials would take the connection from each other.

Plain threads, no event loop. neonize is blocking through and through: ``connect()``
holds a thread until ``stop()``, every call blocks, and its callbacks arrive on its own
threads. So the worker is four threads around one output queue: the main thread writes
what is queued to the daemon, one reads the daemon's requests, one runs them against
neonize one at a time (its Go maps are not safe for concurrent use), and one sits in
``connect()``. An event loop here only shuttled between those threads, and trio (with
attrs, outcome and sortedcontainers) was 3.7 MiB of PSS in each worker, most of what a
worker adds to a bare neonize process; see the footprint notes in the README.

Memory (``contrib/bench/neonize_footprint.py``): a worker waiting on the network is
neonize's own cost (its import, and the Go code and heap of a dial) plus well under
1 MiB of its own. The worker runs with the daemon's environment and sets no memory
knob: ``MALLOC_ARENA_MAX=2``, ``GOGC=50``, ``GOMAXPROCS=1``, smaller thread stacks
(each of its stacks touches 8-20 KiB), ``gc.freeze()`` and ``malloc_trim(0)`` were
each measured and changed the PSS by less than the noise (~0.3 MiB), or raised it.
Keep wad's bytecode compiled (a regular install does): compiling this module and the
two neonize ones from source at each start costs about 1 MiB more heap.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import queue
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neonize.client import NewClient, ProxySettings
from neonize.exc import NeonizeError

from wad.engines.contract import EngineError, EngineEvent
from wad.engines.neonize import commands as neonize_send
from wad.engines.neonize import golock
from wad.engines.neonize.bridge import Bridge
from wad.engines.neonize.commands import Commands
from wad.engines.wire import LineDecoder, WireError, encode
from wad.lockfile import FolderLock, FolderLocked

log = logging.getLogger(__name__)

#: The proxy URL (``http://...`` or ``socks5://...``) for WhatsApp's servers. Passed in
#: the environment, not the command line, which any local user can read.
PROXY_ENV = "WAD_WORKER_PROXY"
#: How long a worker whose daemon has gone tries to disconnect politely: neonize's
#: ``stop()`` can block for a minute while a dial is in progress.
ORPHAN_STOP_TIMEOUT = 2.0
#: The lock file a worker holds in its session's folder.
WORKER_LOCK = "worker.lock"

Result = dict[str, Any]
#: A command for the neonize thread: its request number, its name, the blocking call,
#: and an event set when it is done (for the orphan stop, which waits a while).
Job = tuple[Any, str, Callable[[], Result], threading.Event]


class Worker:
    """One session's neonize client, driven by the daemon's commands over ``sock``."""

    def __init__(
        self,
        client: NewClient,
        sock: socket.socket,
        proxy: str | None = None,
        media_dir: Path | None = None,
    ) -> None:
        self.client = client
        self.sock = sock
        self.proxy = proxy
        # What goes to the daemon, in order; None (after _finish) ends the writer.
        self._out: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._status: int | None = None
        self._stopping = threading.Event()
        self.bridge = Bridge(client, self._send_event, media_dir)
        self.commands = Commands(client, self.bridge)

    def run(self) -> int:
        """Connect and serve until stopped; return the exit status."""
        for target in (self._connect, self._serve_commands, self._run_jobs):
            # Daemon threads: connect() and neonize calls may never return, and the
            # process ends with os._exit() anyway.
            threading.Thread(target=target, name=target.__name__.strip("_"), daemon=True).start()
        self._write_out()
        assert self._status is not None
        return self._status

    def _write_out(self) -> None:
        """Send what is queued to the daemon, in order, until :meth:`_finish`. An item that
        cannot be encoded (a bug: ``encode`` replaces what JSON cannot hold) is logged and
        dropped alone; the worker and its session go on."""
        while (obj := self._out.get()) is not None:
            try:
                line = encode(obj)  # it replaces what JSON cannot hold; a bug costs one item
            except Exception:
                log.exception("could not encode a %s for the daemon; it was dropped", _kind(obj))
                continue
            try:
                self.sock.sendall(line)
            except OSError:
                self._finish(0)  # the daemon is gone: nobody is left to tell
                break

    def _put(self, obj: dict[str, Any]) -> None:
        with self._lock:
            if self._status is None:
                self._out.put(obj)

    def _send_event(self, event: EngineEvent) -> None:
        self._put(event.to_wire())

    def _finish(self, status: int) -> None:
        """End the worker; what is already queued still goes out."""
        with self._lock:
            if self._status is None:
                self._status = status
                self._out.put(None)

    def _connect(self) -> None:
        settings = ProxySettings(proxy_address=self.proxy) if self.proxy else None
        try:
            # connect() blocks until stop(); offline it raises within milliseconds.
            self.client.connect(settings)
        except NeonizeError as exc:
            if self._stopping.is_set():  # the dial failed while we were stopping it
                self._finish(0)
                return
            self._send_event(EngineEvent("error", {"message": str(exc)}))
            self._finish(1)
        else:
            self._send_event(EngineEvent("disconnected", {"reason": "the neonize client stopped"}))
            self._finish(0)

    def _serve_commands(self) -> None:
        decoder = LineDecoder()
        try:
            while chunk := self.sock.recv(65536):
                for request in decoder.feed(chunk):
                    self._take(request)
            log.info("the daemon closed the socket: stopping")
        except WireError as exc:
            log.error("the daemon sent a bad line, stopping: %s", exc)
        except OSError:
            log.info("the daemon is gone: stopping")
        done = threading.Event()
        self._jobs.put((None, "stop", self._stop_client, done))
        done.wait(ORPHAN_STOP_TIMEOUT)
        self._finish(0)

    def _take(self, request: dict[str, Any]) -> None:
        """Check a request here (a bad one is answered at once); queue it for neonize."""
        number = request.get("id")
        command, params = request.get("command"), request.get("params", {})
        try:
            if not isinstance(command, str) or not isinstance(params, dict):
                raise EngineError("a request needs a command and params", "bad_request")
            call = (
                self._stop_client if command == "stop" else self.commands.prepare(command, params)
            )
        except EngineError as exc:
            self._put({"reply": number, "error": {"code": exc.code, "message": str(exc)}})
            return
        except Exception as exc:  # a bug here must not take the session down
            log.exception("command %s failed", command)
            self._put({"reply": number, "error": {"code": "failed", "message": str(exc)}})
            return
        self._jobs.put((number, command, call, threading.Event()))

    def _run_jobs(self) -> None:
        """Run the queued commands one at a time: neonize's Go maps are not thread-safe."""
        while True:
            number, command, call, done = self._jobs.get()
            try:
                reply: dict[str, Any] = {"reply": number, "result": neonize_send.run(call)}
            except EngineError as exc:
                reply = {"reply": number, "error": {"code": exc.code, "message": str(exc)}}
            except Exception as exc:  # a bug here must not take the session down
                log.exception("command %s failed", command)
                reply = {"reply": number, "error": {"code": "failed", "message": str(exc)}}
            done.set()
            if number is not None:
                self._put(reply)
                if command == "stop":
                    self._finish(0)

    def _stop_client(self) -> Result:
        # stop() blocks for up to a minute while a dial is in progress; the daemon
        # kills a worker that does not stop within its grace period.
        self._stopping.set()
        self.client.stop()
        return {}


def _kind(obj: dict[str, Any]) -> str:
    return str(obj.get("event") or ("reply" if "reply" in obj else "line"))[:32]


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


def _serve(sock: socket.socket, device_id: str, db: str, media_dir: Path) -> int:
    golock.install()  # every call into Go from here on goes through its discipline
    # The whatsmeow store is the SQLite file ``name``; uuid keys the client in Go.
    client = NewClient(name=db, uuid=device_id)
    # Stopped explicitly, never by the garbage collector on whatever thread it runs.
    client._stop_finalizer.detach()
    proxy = os.environ.get(PROXY_ENV) or None
    return Worker(client, sock, proxy, media_dir).run()


def _refuse(sock: socket.socket, reason: str) -> None:
    """Tell the daemon why this worker cannot run (an ``error`` event), then end."""
    log.error("%s", reason)
    with contextlib.suppress(OSError):  # the daemon is gone: nobody is left to tell
        sock.sendall(encode(EngineEvent("error", {"message": reason}).to_wire()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m wad.worker", description="Run one neonize session for the wad daemon."
    )
    parser.add_argument("--device-id", required=True)
    parser.add_argument("--db", required=True, help="the session's whatsmeow SQLite file")
    parser.add_argument("--fd", type=int, required=True, help="the socket to the daemon")
    parser.add_argument(
        "--media-dir",
        type=Path,
        default=None,
        help="where received media go (default: media/ beside --db)",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    media_dir = args.media_dir or Path(args.db).parent / "media"
    _setup_logging(args.log_level)
    _die_with_parent()
    status = 1
    try:
        sock = socket.socket(fileno=args.fd)
        folder = Path(args.db).parent
        try:
            lock = FolderLock.take(folder / WORKER_LOCK, f"the session folder {folder}")
        except FolderLocked as exc:
            _refuse(sock, f"{exc}: another neonize worker holds this session's credentials")
        else:
            status = _serve(sock, args.device_id, args.db, media_dir)
            lock.release()
    except BaseException:
        log.exception("the worker crashed")
    finally:
        logging.shutdown()
        sys.stdout.flush()
        # Not sys.exit(): the connect thread may still be blocked in Go, and finalizing
        # the interpreter under a thread inside a foreign call can hang or crash.
        os._exit(status)


if __name__ == "__main__":
    main()
