"""wad under systemd: readiness, status lines, reload and stop notices, the watchdog,
and socket activation, tied to the daemon's life.

``serve()`` builds one :class:`Systemd` from the environment before anything else
(so no worker inherits the variables), pings the watchdog from the start, and sends
``READY=1`` only once the store, the restored sessions, the control socket and the
HTTP server are all up. Outside systemd every notice is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import apsw
import trio

from wad.sessions.states import STATES
from wad.systemd.activation import listening_sockets
from wad.systemd.notify import Notifier

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI

log = logging.getLogger(__name__)

#: At most one STATUS= line a second, however fast sessions change.
STATUS_MIN_INTERVAL = 1.0
#: Sessions that go away emit no event: the status is looked at this often anyway.
STATUS_REFRESH = 10.0
#: How long the watchdog's write may wait for the database's write lock. Longer, and
#: the store counts as unwritable: no ping.
PROBE_TIMEOUT_MS = 250
HEARTBEAT_MIGRATIONS = [
    "CREATE TABLE watchdog_heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " beat_at REAL NOT NULL) STRICT",
]


def status_line(counts: Mapping[str, int]) -> str:
    """``3 sessions: 1 waiting_qr, 2 connected`` (states in their lifecycle order)."""
    total = sum(counts.values())
    if total == 0:
        return "no sessions"
    order = {state: i for i, state in enumerate(STATES)}
    parts = [
        f"{counts[s]} {s}" for s in sorted(counts, key=lambda s: order.get(s, 99)) if counts[s]
    ]
    return f"{total} session{'s' if total != 1 else ''}: {', '.join(parts)}"


class StoreProbe:
    """Proves that ``wad.db`` takes a write: a one-row update committed on a connection
    of its own, which gives up after a short wait for the lock (the daemon's own
    connection waits much longer). Runs on the trio thread: a commit in WAL mode
    costs tens of microseconds."""

    def __init__(self, path: Path, timeout_ms: int = PROBE_TIMEOUT_MS) -> None:
        self.db = apsw.Connection(str(path))
        self.db.setbusytimeout(timeout_ms)
        self._failing = False

    def writable(self) -> bool:
        try:
            with self.db:
                self.db.execute(
                    "INSERT INTO watchdog_heartbeat (id, beat_at) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at",
                    (time.time(),),
                )
        except apsw.FullError:
            # A full disk: the daemon is alive and answers 507 until space is freed; a
            # restart by the watchdog would not free any.
            if not self._failing:
                log.warning("the disk is full: the store takes no write (still alive)")
            self._failing = True
            return True
        except apsw.Error as exc:
            if not self._failing:
                log.error("the store cannot be written (%s): not feeding the watchdog", exc)
            self._failing = True
            return False
        if self._failing:
            log.warning("the store is writable again")
        self._failing = False
        return True

    def close(self) -> None:
        self.db.close()


class Systemd:
    def __init__(self, notifier: Notifier, sockets: dict[str, socket.socket]) -> None:
        self.notifier = notifier
        #: The passed HTTP socket's descriptor (hypercorn opens it as ``fd://N``).
        self.http_fd: int | None = sockets["http"].detach() if "http" in sockets else None
        #: The passed control socket, for the control server.
        self.control_socket: socket.socket | None = sockets.get("control")
        self._status_changed = trio.Event()

    @classmethod
    def from_environ(cls, env: MutableMapping[str, str] = os.environ) -> Systemd:
        """Take every systemd variable out of ``env`` (workers must not see them)."""
        sockets = listening_sockets(env)
        return cls(Notifier.from_environ(env), sockets)

    def http_bind(self, configured: str) -> str:
        """What hypercorn binds: the passed socket, else the configured address."""
        return configured if self.http_fd is None else f"fd://{self.http_fd}"

    # -- watchdog -------------------------------------------------------------------

    async def watchdog(self, daemon: DaemonAPI) -> None:
        """Ping every half ``WATCHDOG_USEC``. The ping is a trio task, so a loop that
        is stuck cannot send it, and it is skipped while the store takes no write:
        either way systemd restarts the daemon."""
        interval = self.notifier.watchdog_interval
        if interval is None:
            return
        if daemon.store.dialect != "sqlite":
            # A cluster's store is a server's: its health is the cluster's heartbeat
            # (a node that cannot write fences); the ping proves the loop runs.
            await ping_while_healthy(self.notifier, lambda: True, interval)
            return
        daemon.store.migrate_plugin("systemd", HEARTBEAT_MIGRATIONS)
        probe = StoreProbe(daemon.store.path)
        try:
            await ping_while_healthy(self.notifier, probe.writable, interval)
        finally:
            probe.close()

    # -- state notices --------------------------------------------------------------

    async def run(
        self, daemon: DaemonAPI, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Tell systemd the daemon is ready, then keep its status line current."""
        last = status_line(daemon.supervisor.counts())
        self.notifier.ready(last)
        task_status.started()
        if not self.notifier.enabled:
            return
        daemon.events.after_commit.append(self._on_event)
        while True:
            await trio.sleep(STATUS_MIN_INTERVAL)
            with trio.move_on_after(STATUS_REFRESH):
                await self._status_changed.wait()
            self._status_changed = trio.Event()
            text = status_line(daemon.supervisor.counts())
            if text != last:
                self.notifier.status(text)
                last = text

    def _on_event(self, event: object) -> None:
        if getattr(event, "type", None) == "session.status":
            self._status_changed.set()

    @contextmanager
    def reloading(self, daemon: DaemonAPI) -> Iterator[None]:
        """``RELOADING=1`` while the body runs, then ``READY=1`` (also after a refused
        reload: the running configuration stays and serves)."""
        self.notifier.reloading()
        try:
            yield
        finally:
            self.notifier.ready(status_line(daemon.supervisor.counts()))

    def stopping(self) -> None:
        self.notifier.stopping("stopping")


async def ping_while_healthy(
    notifier: Notifier, healthy: Callable[[], bool], interval: float
) -> None:
    """``WATCHDOG=1`` now and every ``interval`` seconds while ``healthy()`` holds."""
    while True:
        if healthy():
            notifier.watchdog()
        await trio.sleep(interval)
