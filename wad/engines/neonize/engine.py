"""The real engine: neonize worker processes (:mod:`wad.worker`), each holding up to
``sessions_per_worker`` sessions.

A Go panic kills its host, so neonize runs in worker processes, each started as
``python -m wad.worker`` with one end of a socketpair as an inherited file descriptor.
Over it run JSON lines (:mod:`wad.engines.wire`), each naming its session: requests
``{"session", "id": n, "command", "params"}`` out (``open`` first, ``stop`` last);
replies ``{"session", "reply": n, "result" | "error"}``, events
``{"session", "event", "data"}`` and ``{"session", "closed": status}`` in. A link is
one session in one worker; where it goes (the least loaded worker with room, a
quarantined session alone) is :mod:`wad.engines.neonize.placement`'s. A worker with no
session left is ended. The workers' stdout and stderr (log lines
``LEVEL [session] logger: message`` and whatever Go prints) are re-logged here under
the ``wad.worker`` logger, with the session's id when the line has one.

A worker that dies without saying why (``kill -9``, a Go panic) ends the links of its
sessions with an ``error`` event naming its exit status or signal, so only its own
sessions back off; each is counted towards its quarantine.

With ``database_url`` (``postgresql://...``) each session's whatsmeow store is a schema
of its own on that server (:mod:`wad.engines.neonize.pgstore`), not the SQLite file in
its folder; the URL goes to the worker in ``open``, over the socket, never on its
command line or in its environment (which any process it starts inherits).
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from wad.engines.contract import TERMINAL_KINDS, EngineError, EngineEvent
from wad.engines.link import take_ready
from wad.engines.neonize import PROXY_ENV
from wad.engines.neonize.pgstore import ServerStores
from wad.engines.neonize.placement import Placement, Slot
from wad.engines.wire import SESSION, LineDecoder, WireError, encode

log = logging.getLogger(__name__)
worker_log = logging.getLogger("wad.worker")

WHATSMEOW_DB = "whatsmeow.db"
#: ``WAD_SESSIONS_PER_WORKER``'s default: see the README's Performance section.
DEFAULT_SESSIONS_PER_WORKER = 16
PER_WORKER_ENV = "WAD_SESSIONS_PER_WORKER"

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
    #: Sessions running alone after crashes of the workers they shared.
    sessions_quarantined: int = 0
    #: Messages the workers received from WhatsApp and sent on (by their spools'
    #: numbers), those sent again after a restart (``recovered``), numbers that never came.
    messages_received: int = 0
    messages_recovered: int = 0
    messages_missing: int = 0


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
    """One session in one worker process, seen as a :class:`wad.engines.link.Link`."""

    def __init__(
        self, device_id: str, worker: WorkerProcess, stats: EngineStatistics | None = None
    ) -> None:
        self.device_id = device_id
        self.worker = worker
        self.stats = stats or EngineStatistics()
        self.alive = True
        self.stopping = False
        self.crashed = False  # its worker died under it
        self.closed = trio.Event()  # the session is gone from the worker
        self._ended = False  # a terminal event was delivered
        self._send, self._receive = trio.open_memory_channel[EngineEvent](math.inf)
        # The spool number of each event in the channel, in order (None: not spooled),
        # the highest seen, and the highest handed to the session and confirmed.
        self._seqs: deque[int | None] = deque()
        self._last_seq = 0
        self._handed = 0
        self._confirmed = 0

    @property
    def process(self) -> trio.Process:
        """The worker process (shared with the other sessions in it)."""
        return self.worker.process

    # -- Link ---------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[EngineEvent]:
        async for event in self._receive:
            self._hand_out(1)
            yield event
            # Resumed: the session has handled what it took (this event and those
            # take_ready gave it): the worker may forget them (its spool).
            await self._confirm()

    def take_ready(self, limit: int) -> list[EngineEvent]:
        ready = take_ready(self._receive, limit)
        self._hand_out(len(ready))
        return ready

    def _hand_out(self, count: int) -> None:
        for _ in range(min(count, len(self._seqs))):
            seq = self._seqs.popleft()
            if seq is not None:
                self._handed = max(self._handed, seq)

    async def _confirm(self) -> None:
        if self._handed <= self._confirmed or not self.alive:
            return
        self._confirmed = self._handed
        stored = {"upTo": self._handed}
        # A worker that is gone cannot be told; the next one sends the spool again.
        with suppress(EngineError):
            await self.worker.send(
                {SESSION: self.device_id, "id": None, "command": "stored", "params": stored}
            )

    async def call(self, command: str, params: dict[str, Any]) -> dict[str, Any]:
        if not self.alive:
            raise EngineError("the session's worker is not running", "not_connected")
        reply = await self.worker.request(self.device_id, command, params)
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

    def deliver(self, event: EngineEvent, seq: int | None = None) -> None:
        if self._ended:
            return
        self._send.send_nowait(event)
        self._seqs.append(seq)
        if event.kind in TERMINAL_KINDS:
            self._ended = True
            self._send.close()

    def spooled(self, event: EngineEvent, seq: int) -> None:
        """A message the worker spooled, numbered: counted (a number skipped is one the
        worker never sent on), then delivered."""
        if seq > self._last_seq + 1:
            missing = seq - self._last_seq - 1
            self.stats.messages_missing += missing
            log.error(
                "session %s: %d message(s) the worker received never reached the daemon",
                self.device_id,
                missing,
            )
        self._last_seq = max(self._last_seq, seq)
        if event.data.get("recovered"):
            self.stats.messages_recovered += 1
        else:
            self.stats.messages_received += 1
        self.deliver(event, seq)

    def gone(self, problem: str | None) -> None:
        """The session left the worker (``problem``: why, if nothing said it yet)."""
        self.alive = False
        if problem is not None:
            self.deliver(EngineEvent("error", {"message": problem}))
        self.deliver(EngineEvent("disconnected", {"reason": "the neonize worker stopped"}))
        self.closed.set()


class WorkerProcess:
    """One worker process: its socket, its sessions' links, its output re-logged."""

    def __init__(self, process: trio.Process, stream: trio.SocketStream) -> None:
        self.process = process
        self.stream = stream
        self.links: dict[str, WorkerLink] = {}
        self.closing = False  # we asked it to end: its end is no crash
        self.done = trio.Event()  # reaped
        self.slot: Slot[WorkerProcess] | None = None
        self._next_id = 0
        self._pending: dict[int, _Pending] = {}
        self._write_lock = trio.Lock()

    async def send(self, obj: dict[str, Any]) -> None:
        try:
            async with self._write_lock:
                await self.stream.send_all(encode(obj))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise EngineError("the session's worker is not running", "not_connected") from None

    async def request(
        self, session: str, command: str, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        self._next_id += 1
        number, pending = self._next_id, _Pending()
        self._pending[number] = pending
        try:
            await self.send({SESSION: session, "id": number, "command": command, "params": params})
            await pending.done.wait()
        finally:
            del self._pending[number]
        return pending.reply

    async def read(self) -> str | None:
        """Take lines until the worker is gone; return why it ended if it crashed."""
        decoder = LineDecoder()
        problem: str | None = None
        try:
            while chunk := await self.stream.receive_some():
                for obj in decoder.feed(chunk):
                    self._take(obj)
        except WireError as exc:
            problem = f"the neonize worker sent a bad line: {exc}"
            log.error("worker %d: %s", self.process.pid, problem)
            self.process.kill()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        for pending in self._pending.values():
            pending.done.set()
        returncode = await self.process.wait()
        if problem is None and not self.closing:
            problem = exit_reason(returncode)
            log.warning(
                "worker %d (sessions %s): %s",
                self.process.pid,
                ", ".join(sorted(self.links)) or "none",
                problem,
            )
        return problem

    def _take(self, obj: dict[str, Any]) -> None:
        link = self.links.get(obj.get(SESSION))  # type: ignore[arg-type]
        if "reply" in obj:
            pending = self._pending.get(obj["reply"]) if isinstance(obj["reply"], int) else None
            if pending is not None:
                pending.reply = obj
                pending.done.set()
            return
        if link is None:
            return  # a session we gave up on, still reporting
        if "closed" in obj:
            link.gone(None)
            return
        try:
            event = EngineEvent.from_wire(obj)
        except ValueError:
            log.warning(
                "session %s: ignored a message from the worker: %.200r", link.device_id, obj
            )
            return
        seq = obj.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            link.spooled(event, seq)
        else:
            link.deliver(event)

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
        session, bracket, after = rest[1:].partition("] ") if rest[:1] == "[" else ("", "", "")
        if bracket and session:
            worker_log.log(level, "session %s: %s", session, after)
        elif len(self.links) == 1:  # one session: whatever the worker says is its
            worker_log.log(level, "session %s: %s", next(iter(self.links)), rest)
        else:
            worker_log.log(level, "worker %d: %s", self.process.pid, rest)
        return level

    async def close(self, grace: float) -> None:
        """End the worker (the end of its socket tells it); kill it after ``grace``."""
        self.closing = True
        if self.process.returncode is None:
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self.stream.send_eof()
            with trio.move_on_after(grace):
                await self.process.wait()
        if self.process.returncode is None:
            self.process.kill()
        await self.done.wait()


class NeonizeEngine:
    name = "neonize"

    def __init__(
        self,
        grace: float = 5.0,
        python: str = sys.executable,
        sessions_per_worker: int | None = None,
        quarantine_after: int = 3,
        database_url: str | None = None,
    ) -> None:
        self.grace = grace
        self.python = python
        if sessions_per_worker is None:
            sessions_per_worker = int(os.environ.get(PER_WORKER_ENV) or DEFAULT_SESSIONS_PER_WORKER)
        self.sessions_per_worker = sessions_per_worker
        self.stores = ServerStores(database_url) if database_url else None
        retire: dict[str, int] = {}
        if self.stores is not None:
            # neonize opens a new whatsmeow pool at every connect and never closes it;
            # on PostgreSQL each keeps a server connection until its worker ends. A
            # worker that took twice its room retires: at most that many connections.
            retire["retire_after"] = 2 * max(1, sessions_per_worker)
        self.placement: Placement[WorkerProcess] = Placement(
            sessions_per_worker, quarantine_after, **retire
        )
        self._placing = trio.Lock()
        self._stats = EngineStatistics()

    def statistics(self) -> EngineStatistics:
        self._stats.sessions_quarantined = len(self.placement.quarantined)
        return EngineStatistics(**vars(self._stats))

    def is_quarantined(self, device_id: str) -> bool:
        return device_id in self.placement.quarantined

    def forget(self, folder: Path) -> None:
        """A session was deleted (its folder goes): on PostgreSQL its schema goes too.
        Its crash count and quarantine go with it: a new session created under the
        same id is not the poison the old one may have been."""
        self.placement.forget(folder.name)
        if self.stores is not None:
            self.stores.forget(folder.name)

    def sever(self) -> None:
        """Fencing (the daemon's ``SessionRunner.stop_all``): kill every worker now,
        synchronously, which ends each session's WhatsApp connection at once; the
        workers' own tasks then reap them and end their links."""
        for slot in self.placement.slots:
            worker = slot.worker
            worker.closing = True  # asked: no crash to count, no quarantine
            if worker.process.returncode is None:
                with suppress(ProcessLookupError):
                    worker.process.kill()

    def worker_command(self, fd: int) -> list[str]:
        level = logging.getLevelName(logging.getLogger("wad").getEffectiveLevel())
        return [self.python, "-m", "wad.worker", "--fd", str(fd), "--log-level", str(level)]

    async def _spawn(self) -> WorkerProcess:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = await trio.lowlevel.open_process(
                self.worker_command(theirs.fileno()),
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
        log.debug("neonize worker started, pid %d", process.pid)
        worker = WorkerProcess(process, trio.SocketStream(trio.socket.from_stdlib_socket(ours)))
        # The worker outlives the link that started it: its tasks belong to no session.
        trio.lowlevel.spawn_system_task(self._tend, worker)
        return worker

    async def _tend(self, worker: WorkerProcess) -> None:
        """Read, re-log and reap one worker; tell its sessions when it is gone."""
        problem: str | None = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(worker.relog, worker.process.stdout, logging.INFO)
                nursery.start_soon(worker.relog, worker.process.stderr, logging.WARNING)
                problem = await worker.read()
        except BaseException:  # a system task must not raise: cancelled at the run's end
            if worker.process.returncode is None:
                worker.process.kill()
            with trio.CancelScope(shield=True):
                await worker.process.wait()
        finally:
            self._stats.workers_running -= 1
            slot = worker.slot
            if slot is not None:
                if problem is not None and not worker.closing:
                    self._stats.worker_crashes += 1
                    self.placement.crashed(slot)
                self.placement.gone(slot)
            for link in list(worker.links.values()):
                link.crashed = problem is not None and not worker.closing
                link.gone(problem)
            with trio.CancelScope(shield=True):
                await worker.stream.aclose()
            worker.done.set()

    @asynccontextmanager
    async def open_link(
        self, device_id: str, folder: Path, options: Mapping[str, Any] | None = None
    ) -> AsyncIterator[WorkerLink]:
        """``options``: the session's ``proxy`` (over the socket, never on a command
        line; ``WAD_WORKER_PROXY`` when it has none) and ``history``."""
        options = options or {}
        await trio.Path(folder).mkdir(parents=True, mode=0o700, exist_ok=True)
        async with self._placing:
            slot = self.placement.choose(device_id)
            if slot is None:
                worker = await self._spawn()
                slot = worker.slot = self.placement.add(worker, device_id)
            self.placement.place(slot, device_id)
        worker = slot.worker
        link = WorkerLink(device_id, worker, self._stats)
        worker.links[device_id] = link
        params = {
            "db": str(folder / WHATSMEOW_DB),
            "folder": str(folder),
            "mediaDir": str(folder / "media"),
            "proxy": options.get("proxy") or os.environ.get(PROXY_ENV) or None,
            "history": str(options.get("history") or "none"),
        }
        try:
            try:
                if self.stores is not None:
                    params["db"] = await self.stores.prepare(device_id)
                await worker.send(
                    {SESSION: device_id, "id": None, "command": "open", "params": params}
                )
            except EngineError as exc:
                link.gone(str(exc))
            yield link
        finally:
            with trio.CancelScope(shield=True):
                await self._leave(link, slot)

    async def _leave(self, link: WorkerLink, slot: Slot[WorkerProcess]) -> None:
        """Stop the session; a session that does not stop within the grace period is
        given up (its worker finishes stopping it), or its worker killed if it is alone."""
        worker, device_id = link.worker, link.device_id
        link.stopping = True
        if link.alive:
            with trio.move_on_after(self.grace):
                with suppress(EngineError):
                    await worker.request(device_id, "stop", {})
                await link.closed.wait()
        others = slot.sessions - {device_id}
        if not link.closed.is_set():
            if others and slot.alive:
                log.warning(
                    "session %s: did not stop within %g s: left to its worker (pid %d) to end",
                    device_id,
                    self.grace,
                    worker.process.pid,
                )
                trio.lowlevel.spawn_system_task(self._drained, link, slot)
                return
            log.warning(
                "session %s: the neonize worker did not stop within %g s: killing it",
                device_id,
                self.grace,
            )
            self._stats.workers_killed += 1
            worker.closing = True
            worker.process.kill()
            await worker.done.wait()
        await self._left(link, slot)

    async def _drained(self, link: WorkerLink, slot: Slot[WorkerProcess]) -> None:
        await link.closed.wait()
        await self._left(link, slot)

    async def _left(self, link: WorkerLink, slot: Slot[WorkerProcess]) -> None:
        worker = link.worker
        if worker.links.get(link.device_id) is link:
            del worker.links[link.device_id]
        empty = self.placement.left(slot, link.device_id, link.crashed)
        if empty:
            await worker.close(self.grace)
