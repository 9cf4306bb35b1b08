"""The neonize worker: one or several WhatsApp sessions in a process of their own.

``python -m wad.worker --fd N [--log-level LEVEL]``

A Go panic takes the whole process down, so the daemon runs neonize here, apart, and
holds at most ``sessions_per_worker`` sessions in one worker (the engine places them:
:mod:`wad.engines.neonize.placement`). neonize keeps its clients in unlocked Go maps:
every call into Go goes through one readers-writer discipline
(:mod:`wad.engines.neonize.golock`), installed here before the first client exists,
which is what makes several clients in one process safe.

The worker talks to the daemon only over the inherited socket ``N``, in JSON lines
(:mod:`wad.engines.wire`), and every line names its session (``"session": id``):

- daemon -> worker: ``{"session", "id": n, "command", "params"}``. ``open`` (params
  ``db``: the whatsmeow store, a SQLite file or a ``postgresql://`` URL naming the
  session's schema; ``folder``, ``mediaDir``, ``proxy``, ``history``) starts a session:
  its folder is locked (``worker.lock``, :mod:`wad.lockfile`: one client per set of
  WhatsApp credentials on this machine), then its client connects. ``stop`` stops it;
  ``stored`` (``upTo``, no reply) says what the daemon has stored of its messages
  (:mod:`.spool`); any other command is the session's (:class:`Commands`).
- worker -> daemon: events ``{"session", "event", "data"}`` (a message also with
  ``"seq"``, its number in the session's spool), replies
  ``{"session", "reply": n, "result" | "error"}``, and ``{"session", "closed": status}``
  once a session is gone from the worker (0: stopped or disconnected; 1: neonize failed
  or the folder was locked, its reason sent first as an ``error`` event).

The end of the socket (the daemon is gone, or has no session left here) stops every
session and ends the process with status 0. stdout is left to neonize and Go, which
print there; the worker's own logs go to stderr, one record a line,
``LEVEL [session] logger: message`` (``[session]`` when the record is a session's), for
the daemon to re-log.

Plain threads, no event loop. neonize is blocking through and through: ``connect()``
holds a thread until ``stop()``, every call blocks, and its callbacks arrive on its own
threads. So the main thread writes what is queued to the daemon, one thread reads the
daemon's requests, and each session has two of its own: one sits in ``connect()``, one
runs its commands one at a time (a session's commands keep their order). An event loop
here only shuttled between those threads, and trio (with attrs, outcome and
sortedcontainers) was 3.7 MiB of PSS in each worker.

Memory: see the README's Performance section (``contrib/bench/density.py``). Keep wad's
bytecode compiled (a regular install does): compiling this module and the two neonize
ones from source at each start costs about 1 MiB more heap.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neonize.client import NewClient, ProxySettings
from neonize.exc import NeonizeError

from wad.engines.contract import EngineError, EngineEvent
from wad.engines.neonize import PROXY_ENV, golock, history
from wad.engines.neonize import commands as neonize_send
from wad.engines.neonize.bridge import Bridge
from wad.engines.neonize.commands import Commands
from wad.engines.neonize.spool import Spool
from wad.engines.neonize.storeurl import redact
from wad.engines.wire import SESSION, LineDecoder, WireError, encode
from wad.lockfile import FolderLock, FolderLocked

log = logging.getLogger(__name__)

#: How long a worker whose daemon has gone tries to disconnect politely: neonize's
#: ``stop()`` can block for a minute while a dial is in progress.
ORPHAN_STOP_TIMEOUT = 2.0
#: The lock file a worker holds in each of its sessions' folders.
WORKER_LOCK = "worker.lock"

__all__ = ["PROXY_ENV", "Worker", "main"]
Result = dict[str, Any]
#: A command for a session's command thread: its request number, its name, the
#: blocking call, and an event set when it is done (for the orphan stop, which waits).
Job = tuple[Any, str, Callable[[], Result], threading.Event]
_EARLY = "_spooled"  # the spool number of a message spooled before its media
_current = threading.local()  # the session a thread works for, for its log records


class Worker:
    """The process: its sessions, and the one socket to the daemon they share."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        # What goes to the daemon, in order; None (after _finish) ends the writer.
        self._out: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._status: int | None = None
        self.sessions: dict[str, Session] = {}

    def run(self) -> int:
        """Serve until the daemon goes; return the exit status."""
        threading.Thread(target=self._serve_requests, name="requests", daemon=True).start()
        self._write_out()
        assert self._status is not None
        return self._status

    def _write_out(self) -> None:
        """Send what is queued to the daemon, in order, until :meth:`_finish`. An item that
        cannot be encoded (a bug: ``encode`` replaces what JSON cannot hold) is logged and
        dropped alone; the worker and its sessions go on."""
        while (obj := self._out.get()) is not None:
            try:
                line = encode(obj)
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

    def _finish(self, status: int) -> None:
        """End the worker; what is already queued still goes out."""
        with self._lock:
            if self._status is None:
                self._status = status
                self._out.put(None)

    def _serve_requests(self) -> None:
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
        waits = [session.stop_soon() for session in list(self.sessions.values())]
        deadline = time.monotonic() + ORPHAN_STOP_TIMEOUT
        for done in waits:
            done.wait(max(0.0, deadline - time.monotonic()))
        self._finish(0)

    def _take(self, request: dict[str, Any]) -> None:
        name = request.get(SESSION)
        number, command = request.get("id"), request.get("command")
        params = request.get("params", {})
        if not isinstance(name, str) or not isinstance(params, dict):
            log.warning("ignored a request without a session: %.200r", request)
            return
        session = self.sessions.get(name)
        if command == "open":
            if session is not None:
                self.reply(name, number, EngineError("the session is still stopping", "conflict"))
                return
            self.open(name, number, params)
        elif session is None:
            self.reply(name, number, EngineError("no such session here", "not_connected"))
        else:
            session.take(number, command, params)

    def open(self, name: str, number: Any, params: dict[str, Any]) -> None:
        db = str(params.get("db") or "")
        # The folder: the lock, the spool and media (the SQLite store's, before there
        # was a "folder" parameter).
        folder = Path(str(params.get("folder") or Path(db).parent))
        media_dir = Path(str(params.get("mediaDir") or folder / "media"))
        try:
            lock = FolderLock.take(folder / WORKER_LOCK, f"the session folder {folder}")
        except FolderLocked as exc:
            reason = f"{exc}: another neonize worker holds this session's credentials"
            log.error("%s", reason, extra={golock.SESSION_ATTR: name})
            self.send(name, {"event": "error", "data": {"message": reason}})
            self.reply(name, number, {})
            self.send(name, {"closed": 1})
            return
        try:
            session = Session(
                self,
                name,
                db,
                folder,
                lock,
                params.get("proxy") or None,
                media_dir,
                str(params.get("history") or "none"),
            )
        except Exception as exc:  # a bug, or neonize refusing: this session only
            log.exception("could not start the session", extra={golock.SESSION_ATTR: name})
            lock.release()
            problem = redact(f"neonize failed: {exc}", db)
            self.send(name, {"event": "error", "data": {"message": problem}})
            self.reply(name, number, {})
            self.send(name, {"closed": 1})
            return
        self.sessions[name] = session
        self.reply(name, number, {})
        session.start()

    def send(self, name: str, obj: dict[str, Any]) -> None:
        self._put({SESSION: name, **obj})

    def reply(self, name: str, number: Any, outcome: Result | Exception) -> None:
        if number is None:
            return
        if isinstance(outcome, EngineError):
            self.send(
                name, {"reply": number, "error": {"code": outcome.code, "message": str(outcome)}}
            )
        elif isinstance(outcome, Exception):
            self.send(name, {"reply": number, "error": {"code": "failed", "message": str(outcome)}})
        else:
            self.send(name, {"reply": number, "result": outcome})

    def closed(self, session: Session, status: int) -> None:
        self.sessions.pop(session.name, None)
        self.send(session.name, {"closed": status})


class Session:
    """One session's neonize client in the worker, on two threads of its own."""

    def __init__(
        self,
        worker: Worker,
        name: str,
        db: str,
        folder: Path,
        lock: FolderLock,
        proxy: str | None,
        media_dir: Path,
        history_mode: str = "none",
    ) -> None:
        self.worker, self.name, self.lock, self.proxy = worker, name, lock, proxy
        # The whatsmeow store is neonize's ``name``: the SQLite file, or the PostgreSQL
        # URL of the session's own schema (one device in it either way: neonize takes
        # the first, wad.engines.neonize.pgstore); uuid keys the client in Go. The
        # device properties (history sync) are read by WhatsApp at pairing only.
        self.db = db
        props = history.device_props(history_mode)
        self.client = NewClient(name=db, uuid=name, props=props)
        # Stopped explicitly, never by the garbage collector on whatever thread it runs.
        self.client._stop_finalizer.detach()
        self.spool = Spool(folder)
        self.bridge = Bridge(self.client, self._send_event, media_dir)
        history.attach(self.bridge)
        self.bridge.before_media = self._spool_early
        self.commands = Commands(self.client, self.bridge)
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._ended = threading.Lock()
        self._status: int | None = None

    def start(self) -> None:
        # What an earlier worker received and the daemon never confirmed goes first.
        for seq, data in self.spool.recover():
            log.info(
                "sending again message %s, received before a restart",
                str(data.get("id"))[:64],
                extra={golock.SESSION_ATTR: self.name},
            )
            message = {"event": "message", "data": {**data, "recovered": True}, "seq": seq}
            self.worker.send(self.name, message)
        for target in (self._connect, self._run_jobs):
            # Daemon threads: connect() and neonize calls may never return, and the
            # process ends with os._exit() anyway.
            name = f"{target.__name__.strip('_')}-{self.name}"
            threading.Thread(target=target, name=name, daemon=True).start()

    def _spool_early(self, data: dict[str, Any]) -> None:
        """A message with media, spooled before the download (which may take long): if
        the worker dies meanwhile, it comes back without its file, saying so."""
        missing = "the worker stopped while downloading the media"
        data[_EARLY] = self.spool.append({**data, "mediaError": missing})

    def _send_event(self, event: EngineEvent) -> None:
        if self._status is None:
            obj = event.to_wire()
            if event.kind == "message":
                # On disk before it goes: WhatsApp was told it was delivered already.
                early = event.data.pop(_EARLY, None)
                obj["seq"] = self.spool.append(
                    event.data, early if isinstance(early, int) else None
                )
            self.worker.send(self.name, obj)

    def _end(self, status: int) -> None:
        """The session is gone from this worker: its folder is free for another client."""
        with self._ended:
            if self._status is not None:
                return
            self._status = status
        self.spool.close()
        self.lock.release()
        self._jobs.put(None)
        self.worker.closed(self, status)

    def _connect(self) -> None:
        _current.session = self.name
        settings = ProxySettings(proxy_address=self.proxy) if self.proxy else None
        try:
            # connect() blocks until stop(); offline it raises within milliseconds.
            self.client.connect(settings)
        except NeonizeError as exc:
            if self._stopping.is_set():  # the dial failed while we were stopping it
                return
            # An error from Go's database driver may quote the URL it was given.
            message = redact(str(exc), self.db)
            self._send_event(EngineEvent("error", {"message": message}))
            self._stop_client()  # Go keeps what the failed connect wrote: clean it up
            self._end(1)
        else:
            if not self._stopping.is_set():
                self._send_event(
                    EngineEvent("disconnected", {"reason": "the neonize client stopped"})
                )
                self._end(0)

    def take(self, number: Any, command: Any, params: dict[str, Any]) -> None:
        """Check a request here (a bad one is answered at once); queue it for neonize."""
        if command == "stored":  # the daemon stored our messages up to there: no reply
            up_to = params.get("upTo")
            if isinstance(up_to, int) and not isinstance(up_to, bool):
                self.spool.confirm(up_to)
            return
        try:
            if not isinstance(command, str):
                raise EngineError("a request needs a command and params", "bad_request")
            if command == "ping":  # answered now: a probe measures the worker, not its queue
                self.worker.reply(self.name, number, self.commands.ping())
                return
            call = self._stop if command == "stop" else self.commands.prepare(command, params)
        except Exception as exc:  # a bug here must not take the session down
            if not isinstance(exc, EngineError):
                log.exception("command %s failed", command, extra={golock.SESSION_ATTR: self.name})
            self.worker.reply(self.name, number, exc)
            return
        self._jobs.put((number, str(command), call, threading.Event()))

    def stop_soon(self) -> threading.Event:
        done = threading.Event()
        self._jobs.put((None, "stop", self._stop, done))
        return done

    def _run_jobs(self) -> None:
        """Run the session's commands one at a time, in order."""
        _current.session = self.name
        while (job := self._jobs.get()) is not None:
            number, command, call, done = job
            try:
                outcome: Result | Exception = neonize_send.run(call)
            except Exception as exc:  # a bug here must not take the session down
                if not isinstance(exc, EngineError):
                    log.exception("command %s failed", command)
                outcome = exc
            done.set()
            self.worker.reply(self.name, number, outcome)
            if command == "stop":
                self._end(0)
                return

    def _stop(self) -> Result:
        self._stopping.set()
        self._stop_client()
        return {}

    def _stop_client(self) -> None:
        # Through the Go lock's door: Stop waits for a dial under way to end (holding
        # nothing), then runs alone; the daemon gives up on a session that does not
        # stop within its grace period.
        self.client.stop()


def _kind(obj: dict[str, Any]) -> str:
    return str(obj.get("event") or ("reply" if "reply" in obj else "line"))[:32]


# -- the process -------------------------------------------------------------------------


class _SessionFormatter(logging.Formatter):
    """``LEVEL [session] logger: message``: the session from the record (Go's lines,
    through the door) or from the thread that logged it."""

    def format(self, record: logging.LogRecord) -> str:
        session = getattr(record, golock.SESSION_ATTR, None) or getattr(_current, "session", None)
        line = f"{record.levelname} {record.name}: {record.getMessage()}"
        if session:
            line = f"{record.levelname} [{session}] {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _setup_logging(level: str) -> None:
    # Importing neonize ran logging.basicConfig(): replace its handler with plain lines
    # the daemon can re-log (it adds the time).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SessionFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # neonize passes this logger's level to Go as whatsmeow's log level.
    logging.getLogger("neonize.utils.log").setLevel(level.upper())
    # connect() warns on every start that ffmpeg is missing; only media needs it.
    logging.getLogger("neonize.utils.ffmpeg").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m wad.worker", description="Run neonize sessions for the wad daemon."
    )
    parser.add_argument("--fd", type=int, required=True, help="the socket to the daemon")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    _setup_logging(args.log_level)
    # No PR_SET_PDEATHSIG: Linux sends it when the *thread* that forked us ends, and trio
    # forks in a cached thread that ends when idle, which would end a long-lived worker.
    # The daemon's death closes its end of the socket: that ends the worker.
    with contextlib.suppress(OSError):
        # Out of memory, the kernel should end a worker (its sessions restart) before
        # the daemon (which holds every session). Raising one's own score needs no right.
        Path("/proc/self/oom_score_adj").write_text("500")
    status = 1
    try:
        golock.install()  # every call into Go from here on goes through its discipline
        status = Worker(socket.socket(fileno=args.fd)).run()
    except BaseException:
        log.exception("the worker crashed")
    finally:
        logging.shutdown()
        sys.stdout.flush()
        # Not sys.exit(): connect threads may still be blocked in Go, and finalizing
        # the interpreter under a thread inside a foreign call can hang or crash.
        os._exit(status)


if __name__ == "__main__":
    main()
