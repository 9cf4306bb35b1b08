"""``Store``: the database wad keeps its state in, and every table's queries.

``Queries`` composes the per-table query modules over one connection's handle.
``Store`` is the embedded SQLite one (apsw on ``wad.db``): it runs a caller's
function of the queries inline on the trio thread, in one transaction for
:meth:`Store.run`, without one for :meth:`Store.read` (a single statement is
atomic by itself). Another backend (PostgreSQL) offers the same two calls and runs
the function on a pooled connection in a thread.
"""

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from wad.store.base import Caches, Dialect
from wad.store.chats import ChatQueries
from wad.store.connection import Connection
from wad.store.contacts import ContactQueries
from wad.store.events import EventQueries
from wad.store.history import HistoryQueries
from wad.store.idempotency import IdempotencyQueries
from wad.store.messages import MessageQueries
from wad.store.polls import PollQueries
from wad.store.retention import RetentionQueries
from wad.store.sessions import SessionQueries
from wad.store.settings import SettingQueries

T = TypeVar("T")


class Queries(
    SessionQueries,
    SettingQueries,
    ChatQueries,
    MessageQueries,
    HistoryQueries,
    IdempotencyQueries,
    EventQueries,
    RetentionQueries,
    PollQueries,
    ContactQueries,
):
    """Every table's queries on one connection's handle, one module a table."""


class Store:
    """The embedded store: one apsw connection to ``wad.db`` (``wad.store.connection``).

    Callers hand it a function of the queries (:meth:`run`, :meth:`read`); it holds
    no query of its own. ``connection`` is SQLite's alone (its pragmas, VACUUM, the
    online backup): touch it only where ``dialect == "sqlite"``."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.connection = Connection(path)
        self.path = path
        self._queries = Queries(self.connection.db, Caches(), "sqlite")

    async def run(self, fn: Callable[[Queries], T]) -> T:
        """``fn(queries)`` in one transaction: all its writes commit, or none."""
        with self.connection.db:
            result = fn(self._queries)
        return result

    async def read(self, fn: Callable[[Queries], T]) -> T:
        """``fn(queries)`` without a transaction of its own (reads, single statements)."""
        return fn(self._queries)

    @property
    def full(self) -> bool:
        """The last write found the disk full, and none has committed since."""
        return self.connection.full

    def close(self) -> None:
        self.connection.close()

    def migrate_plugin(
        self, name: str, migrations: list[str], *, postgresql: list[str] | None = None
    ) -> int:
        """Apply a plugin's own numbered migrations; see ``Connection.migrate_plugin``
        (``postgresql``, the same numbered for a PostgreSQL store, is not used here)."""
        return self.connection.migrate_plugin(name, migrations)
