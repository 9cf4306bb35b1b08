"""The real engine: one neonize worker process per live session (:mod:`wad.worker`).

neonize cannot hold several clients in one process safely, and a Go panic kills its
host, so every link starts ``python -m wad.worker`` with one end of a socketpair as
an inherited file descriptor. Over it run JSON lines (:mod:`wad.wire`): requests
``{"id": n, "command", "params"}`` out, replies ``{"reply": n, "result" | "error"}``
and events ``{"event", "data"}`` in. The worker's stdout and stderr (its log lines
``LEVEL logger: message`` and whatever Go prints) are re-logged here under the
``wad.worker`` logger with the session's id.

A worker that dies without saying why (``kill -9``, a Go panic) ends its link with an
``error`` event naming its exit status or signal, so only its own session backs off.
"""

from __future__ import annotations

import logging
import math
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from wad.engines.contract import TERMINAL_KINDS, EngineError, EngineEvent
from wad.engines.link import take_ready
from wad.engines.wire import LineDecoder, WireError, encode

log = logging.getLogger(__name__)
worker_log = logging.getLogger("wad.worker")

WHATSMEOW_DB = "whatsmeow.db"
#: Longest line of worker output re-logged whole; the rest of a longer one is cut.
MAX_LOG_LINE = 16 * 1024
_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}


@dataclass
class EngineStatistics:
    """Counters of the neonize engine, for metrics."""

    workers_started: int = 0
    workers_running: int = 0
    #: Workers that ended without being asked to and without saying why (killed, panicked).
    worker_crashes: int = 0
    #: Workers killed because they did not stop within the grace period.
    workers_killed: int = 0


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the neonize worker was killed by {name}"
    return f"the neonize worker exited with status {returncode}"


@dataclass
class _Pending:
    done: trio.Event = field(default_factory=trio.Event)
    reply: dict[str, Any] | None = None


class WorkerLink:
    """One session's worker process, seen as a :class:`wad.engine.Link`."""

    def __init__(
        self,
        device_id: str,
        process: trio.Process,
        stream: trio.SocketStream,
        stats: EngineStatistics,
    ) -> None:
        self.device_id = device_id
        self.process = process
        self.stream = stream
        self.stats = stats
        self.alive = True
        self.stopping = False
        self._ended = False  # a terminal event was delivered
        self._next_id = 0
        self._pending: dict[int, _Pending] = {}
        self._write_lock = trio.Lock()
        self._send, self._receive = trio.open_memory_channel[EngineEvent](math.inf)

    # -- Link ---------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[EngineEvent]:
        async for event in self._receive:
            yield event

    def take_ready(self, limit: int) -> list[EngineEvent]:
        return take_ready(self._receive, limit)

    async def call(self, command: str, params: dict[str, Any]) -> dict[str, Any]:
        if not self.alive:
            raise EngineError("the session's worker is not running", "not_connected")
        self._next_id += 1
        number, pending = self._next_id, _Pending()
        self._pending[number] = pending
        try:
            await self._write({"id": number, "command": command, "params": params})
            await pending.done.wait()
        finally:
            del self._pending[number]
        reply = pending.reply
        if reply is None:
            raise EngineError("the session's worker stopped during the command", "not_connected")
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {}
            raise EngineError(
                str(error.get("message") or "the worker failed"), str(error.get("code") or "failed")
            )
        result = reply.get("result")
        return result if isinstance(result, dict) else {}

    # -- the worker's side ---------------------------------------------------------------

    async def _write(self, obj: dict[str, Any]) -> None:
        try:
            async with self._write_lock:
                await self.stream.send_all(encode(obj))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise EngineError("the session's worker is not running", "not_connected") from None

    def _deliver(self, event: EngineEvent) -> None:
        if self._ended:
            return
        self._send.send_nowait(event)
        if event.kind in TERMINAL_KINDS:
            self._ended = True
            self._send.close()

    async def read(self) -> None:
        """Take events and replies until the worker is gone, then say how it ended."""
        decoder = LineDecoder()
        problem: str | None = None
        try:
            while chunk := await self.stream.receive_some():
                for obj in decoder.feed(chunk):
                    self._take(obj)
        except WireError as exc:
            problem = f"the neonize worker sent a bad line: {exc}"
            log.error("session %s: %s", self.device_id, problem)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        self.alive = False
        for pending in self._pending.values():
            pending.done.set()
        if problem is None:
            returncode = await self.process.wait()
            if not self._ended and not self.stopping:
                self.stats.worker_crashes += 1
                problem = exit_reason(returncode)
                log.warning("session %s: %s", self.device_id, problem)
        if problem is not None:
            self._deliver(EngineEvent("error", {"message": problem}))
        elif not self._ended:
            self._deliver(EngineEvent("disconnected", {"reason": "the neonize worker stopped"}))

    def _take(self, obj: dict[str, Any]) -> None:
        if "reply" in obj:
            pending = self._pending.get(obj["reply"]) if isinstance(obj["reply"], int) else None
            if pending is not None:
                pending.reply = obj
                pending.done.set()
            return
        try:
            event = EngineEvent.from_wire(obj)
        except ValueError:
            log.warning(
                "session %s: ignored a message from the worker: %.200r", self.device_id, obj
            )
            return
        self._deliver(event)

    async def relog(self, pipe: trio.abc.ReceiveStream | None, default: int) -> None:
        """Re-log the worker's output line by line, at the level each line names."""
        if pipe is None:
            return
        buffer = b""
        level = default
        async for chunk in pipe:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            if len(buffer) > MAX_LOG_LINE:
                lines.append(buffer[:MAX_LOG_LINE])
                buffer = b""
            for raw in lines:
                level = self._relog_line(raw.decode(errors="replace").rstrip(), level)
        if buffer:
            self._relog_line(buffer.decode(errors="replace").rstrip(), level)

    def _relog_line(self, line: str, previous: int) -> int:
        """Log one line; return its level, which the lines without one that follow
        (a traceback, a Go panic's goroutine dump) keep."""
        if not line:
            return previous
        word, _, rest = line.partition(" ")
        level = _LEVELS.get(word)
        if level is None:
            level, rest = previous, line
        worker_log.log(level, "session %s: %s", self.device_id, rest)
        return level

    async def shutdown(self, grace: float) -> None:
        """Ask the worker to stop; kill it after ``grace`` seconds; always reap it."""
        self.stopping = True
        if self.process.returncode is None and self.alive:
            self._next_id += 1
            try:
                with trio.move_on_after(grace):
                    await self._write({"id": self._next_id, "command": "stop", "params": {}})
            except EngineError:
                pass
        with trio.move_on_after(grace):
            await self.process.wait()
        if self.process.returncode is None:
            log.warning(
                "session %s: the neonize worker did not stop within %g s: killing it",
                self.device_id,
                grace,
            )
            self.stats.workers_killed += 1
            self.process.kill()
        await self.process.wait()
        await self.stream.aclose()


class NeonizeEngine:
    name = "neonize"

    def __init__(self, grace: float = 5.0, python: str = sys.executable) -> None:
        self.grace = grace
        self.python = python
        self._stats = EngineStatistics()

    def statistics(self) -> EngineStatistics:
        return EngineStatistics(**vars(self._stats))

    def worker_command(self, device_id: str, folder: Path, fd: int) -> list[str]:
        level = logging.getLevelName(logging.getLogger("wad").getEffectiveLevel())
        return [
            self.python,
            "-m",
            "wad.worker",
            "--device-id",
            device_id,
            "--db",
            str(folder / WHATSMEOW_DB),
            "--media-dir",
            str(folder / "media"),
            "--fd",
            str(fd),
            "--log-level",
            str(level),
        ]

    @asynccontextmanager
    async def open_link(self, device_id: str, folder: Path) -> AsyncIterator[WorkerLink]:
        await trio.Path(folder).mkdir(parents=True, mode=0o700, exist_ok=True)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = await trio.lowlevel.open_process(
                self.worker_command(device_id, folder, theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._stats.workers_started += 1
        self._stats.workers_running += 1
        log.debug("session %s: neonize worker started, pid %d", device_id, process.pid)
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
        link = WorkerLink(device_id, process, stream, self._stats)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(link.read)
                nursery.start_soon(link.relog, process.stdout, logging.INFO)
                nursery.start_soon(link.relog, process.stderr, logging.WARNING)
                try:
                    yield link
                finally:
                    with trio.CancelScope(shield=True):
                        await link.shutdown(self.grace)
        finally:
            self._stats.workers_running -= 1
            if process.returncode is None:  # cancelled before shutdown could reap it
                process.kill()
                with trio.CancelScope(shield=True):
                    await process.wait()
