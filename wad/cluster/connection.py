"""A node's lock connection: the one PostgreSQL connection that holds its sessions'
advisory locks and carries its heartbeat, so that a heartbeat that succeeded proves
the locks are still held.

psycopg's async API runs on asyncio only, so the connection is psycopg's sync one,
used from worker threads (``trio.to_thread.run_sync``), one operation at a time.

How long a lost connection takes to notice:

- The node does not wait for its socket to tell it: it fences on its own clock
  (``Timing.fence_after``). What the socket settings bound is how long the *server*
  keeps a dead node's backend, and with it the advisory locks that the other nodes
  need before they may claim.
- Over TCP the client sets libpq's keepalives and ``tcp_user_timeout`` (a write
  unacknowledged for ``lease / 2`` fails the connection), and the backend is given
  the same through the server's per-session settings (``tcp_keepalives_*``,
  ``tcp_user_timeout``): a node whose machine vanished is dropped by the server
  after about 1 + 2 x 1 s of silence, inside the lease. Over a Unix socket there is
  no network to lose: the kernel closes the socket when the process dies.
- ``client_connection_check_interval`` makes a backend that is busy (a heartbeat
  stuck behind a lock) notice that its client closed the socket, and
  ``statement_timeout`` keeps a heartbeat from waiting longer than the lease allows.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import psycopg
import trio
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

Conn = psycopg.Connection[TupleRow]
T = TypeVar("T")

#: The server drops an idle node's backend after KEEPALIVE_IDLE + COUNT x INTERVAL s
#: of silence from it.
KEEPALIVE_IDLE = 1
KEEPALIVE_INTERVAL = 1
KEEPALIVE_COUNT = 2


class ConnectionAbandoned(psycopg.OperationalError):
    """The node gave this connection up (it fenced); nothing more runs on it."""


def is_tcp(url: str) -> bool:
    """Whether libpq reaches the server of ``url`` over TCP (else a Unix socket)."""
    params = conninfo_to_dict(url)
    if params.get("hostaddr"):
        return True
    hosts = str(params.get("host") or os.environ.get("PGHOST", ""))
    # No host: libpq's default, the Unix socket. A host starting with "/" (or "@",
    # Linux's abstract namespace) is a socket folder.
    return any(host and host[0] not in "/@" for host in hosts.split(","))


def client_params(url: str, lease: float, name: str) -> dict[str, Any]:
    """libpq's connection parameters for a lock connection."""
    params: dict[str, Any] = {
        "autocommit": True,
        "application_name": name,
        "connect_timeout": max(2, int(lease)),
    }
    if is_tcp(url):
        params |= {
            "keepalives": 1,
            "keepalives_idle": KEEPALIVE_IDLE,
            "keepalives_interval": KEEPALIVE_INTERVAL,
            "keepalives_count": KEEPALIVE_COUNT,
            "tcp_user_timeout": int(lease * 1000 / 2),
        }
    return params


def server_settings(url: str, lease: float) -> dict[str, str]:
    """The backend's own settings for a lock connection (``SET`` after connecting)."""
    settings = {
        "statement_timeout": str(int(lease * 1000 / 2)),
        "client_connection_check_interval": "1000",
    }
    if is_tcp(url):
        settings |= {
            "tcp_keepalives_idle": str(KEEPALIVE_IDLE),
            "tcp_keepalives_interval": str(KEEPALIVE_INTERVAL),
            "tcp_keepalives_count": str(KEEPALIVE_COUNT),
            "tcp_user_timeout": str(int(lease * 1000 / 2)),
        }
    return settings


def connect(url: str, lease: float, name: str) -> Conn:
    """Open a lock connection (blocking: call it in a thread)."""
    conn = psycopg.Connection.connect(url, **client_params(url, lease, name))
    try:
        for setting, value in server_settings(url, lease).items():
            conn.execute("SELECT set_config(%s, %s, false)", (setting, value))
    except BaseException:
        conn.close()
        raise
    return conn


class LockConnection:
    """One lock connection, used from threads one operation at a time."""

    def __init__(self, conn: Conn, backend: tuple[int, datetime]) -> None:
        self._conn = conn
        #: The backend's pid and start: what a reconnecting node terminates if it is
        #: still there (a pid alone may have been reused).
        self.backend = backend
        self._fd = conn.pgconn.socket
        self._turn = trio.Lock()  # one operation at a time, in order
        # Threads of its own: a daemon busy on trio's shared limiter (40 threads)
        # must not hold a heartbeat back. Two: the operation, and one abandoned.
        self._threads = trio.CapacityLimiter(2)
        self._busy = threading.Lock()  # held by the thread running an operation
        self._abandoned = False

    @classmethod
    async def open(cls, url: str, lease: float, name: str) -> LockConnection:
        def opened() -> LockConnection:
            conn = connect(url, lease, name)
            row = conn.execute(
                "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
            ).fetchone()
            assert row is not None
            return cls(conn, (int(row[0]), row[1]))

        return await trio.to_thread.run_sync(opened, abandon_on_cancel=True)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(conn, *args)`` in a worker thread. Cancelling abandons the thread; the
        operation then finishes (or fails) on its own, before the next one starts."""
        async with self._turn:
            return await trio.to_thread.run_sync(
                self._call, fn, args, abandon_on_cancel=True, limiter=self._threads
            )

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._busy:
            if self._abandoned:
                raise ConnectionAbandoned("the lock connection was given up")
            return fn(self._conn, *args)

    def abandon(self) -> None:
        """Give the connection up at once, from the trio thread: shut its socket down
        (which ends a statement blocked in another thread, and tells the server the
        node is gone) and close it once no thread uses it any more."""
        if self._abandoned:
            return
        self._abandoned = True
        try:
            # shutdown() acts on the socket, not the descriptor: a duplicate is
            # enough, and libpq's own descriptor stays valid until close().
            with socket.socket(fileno=os.dup(self._fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the peer
        # libpq must not be freed while a thread is inside it: close after it.
        threading.Thread(target=self._close, name="wad-cluster-close", daemon=True).start()

    def _close(self) -> None:
        with self._busy:
            self._conn.close()

    @property
    def abandoned(self) -> bool:
        return self._abandoned
