"""``PostgresStore``: wad's state on a PostgreSQL server, the store of a cluster.

The same surface as the embedded :class:`wad.store.database.Store`: callers hand it
a function of the queries, ``await store.run(fn)`` (one transaction: every write of
``fn`` commits, or none) or ``await store.read(fn)`` (autocommit: each statement by
itself). ``fn`` runs in a worker thread on a pooled connection (:mod:`.pool`), so
it must not touch trio; several changes that commit together go in one ``fn``.

Unlike SQLite, a statement that fails inside :meth:`run` aborts the whole
transaction: ``fn`` cannot catch a constraint error and carry on (a ``with q.db:``
block around the statement is a savepoint that can).

The key owner and settings caches are kept only while :meth:`listen` hears of
every change to their tables, on any node (:mod:`.caches` says how, and how soon a
change elsewhere takes effect here); a store nobody listens for caches nothing.
"""

import select
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import trio
from psycopg import errors

from wad.store.base import Dialect
from wad.store.database import Queries, Store
from wad.store.postgres import signouts
from wad.store.postgres.caches import LiveCaches
from wad.store.postgres.connect import connect
from wad.store.postgres.handle import DiskState, PgDb
from wad.store.postgres.migrations import migrate, migrate_plugin
from wad.store.postgres.notify import Deliver, Listener, SignedOut, install
from wad.store.postgres.pool import Pool

T = TypeVar("T")

#: Connections (and so worker threads) at most: each call holds one for its length.
POOL_SIZE = 8


class NoMigrations(RuntimeError):
    """A plugin with tables of its own has no PostgreSQL migrations."""


class _Lane:
    """One pooled connection and the queries on it."""

    def __init__(self, conn: psycopg.Connection[Any], disk: DiskState, caches: LiveCaches) -> None:
        self.conn = conn
        self.db = PgDb(conn, disk)
        self.queries = Queries(self.db, caches, "postgresql")

    def unusable(self) -> bool:
        """Closed or broken, or the server spoke unasked: an idle connection gets no
        data unless the server ended it (a restart, ``pg_terminate_backend``), so a
        readable socket means the next statement on it would fail (a poll: ~1 µs)."""
        if self.conn.closed or self.conn.broken:
            return True
        readable, _, _ = select.select([self.conn.fileno()], [], [], 0)
        return bool(readable)


# A Store by type: callers are written against the embedded store's surface (run,
# read, full, close, migrate_plugin, path, dialect), which this one offers whole. It
# shares none of SQLite's state (Store.__init__ is not called): ``connection`` is
# SQLite's alone, and callers touch it only where ``dialect == "sqlite"``.
class PostgresStore(Store):
    dialect: Dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        path: Path,
        node: str = "wad",
        pool_size: int = POOL_SIZE,
    ) -> None:
        """Connect (lazily, up to ``pool_size`` connections) and migrate the core tables.

        ``path`` is the node's own ``wad.db`` path, where no database is: callers
        derive the state folder from it (the settings' secret key file beside it)."""
        self.url = url
        self.node = node
        self.path = path
        self.disk = DiskState(f"PostgreSQL (node {node})")
        self.caches = LiveCaches()
        self.listener: Listener | None = None
        self.pool: Pool[_Lane] = Pool(
            lambda: _Lane(connect(url, node), self.disk, self.caches),
            pool_size,
            broken=_Lane.unusable,
            close=lambda lane: lane.conn.close(),
        )
        with self.pool.borrow() as lane:
            self.schema_version = migrate(lane.db)
            install(lane.db)

    async def listen(
        self,
        deliver: Deliver,
        gap: Callable[[], None],
        *,
        signed_out: SignedOut | None = None,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Hand every event committed on any node to ``deliver`` (in commit order, each
        once) and keep the caches, until cancelled (:mod:`.notify`); ``gap`` when a
        reconnect cannot replay what was missed; ``signed_out`` every dashboard
        sign-out (:mod:`.signouts`). Ready once it listens."""
        self.listener = Listener(
            self.url, self.node, deliver, self.caches.state, gap=gap, signed_out=signed_out
        )
        await self.listener.run(task_status=task_status)

    async def end_login(self, digest: str, expires: float) -> None:
        """Tell every node that this dashboard login ended (:mod:`.signouts`)."""
        await self.run(lambda q: signouts.record(q.db, digest, expires))

    async def run(self, fn: Callable[[Queries], T]) -> T:
        """``fn(queries)`` in one transaction: all its writes commit, or none."""
        return await self.pool.call(lambda lane: self._in_transaction(lane, fn))

    def _in_transaction(self, lane: _Lane, fn: Callable[[Queries], T]) -> T:
        lane.db.wrote = False
        try:
            with lane.conn.transaction():
                result = fn(lane.queries)
        except errors.DiskFull as exc:  # the commit found no room; it was rolled back
            raise self.disk.no_room() from exc
        if lane.db.wrote:
            self.disk.room()
        return result

    async def read(self, fn: Callable[[Queries], T]) -> T:
        """``fn(queries)`` without a transaction of its own (reads, single statements)."""
        return await self.pool.call(lambda lane: fn(lane.queries))

    @property
    def full(self) -> bool:
        """The last write found the disk full, and none has committed since."""
        return self.disk.full

    def close(self) -> None:
        self.pool.close()

    def migrate_plugin(
        self, name: str, migrations: list[str], *, postgresql: list[str] | None = None
    ) -> int:
        """Apply a plugin's own numbered PostgreSQL migrations (``postgresql``, numbered
        as its SQLite ``migrations``); return the version reached."""
        if postgresql is None:
            raise NoMigrations(
                f"plugin {name!r} has tables but no PostgreSQL migrations:"
                " it cannot run on a PostgreSQL store (disable it, or give its"
                " migrate_plugin call postgresql=[...])"
            )
        with self.pool.borrow() as lane:
            return migrate_plugin(lane.db, name, postgresql)
