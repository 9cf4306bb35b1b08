"""The store's one apsw connection to ``<state-dir>/wad.db``.

Statements are short and run on the trio thread (an autocommit write costs
~20 µs; a hop to a worker thread costs ~230 µs). WAL with synchronous=NORMAL.
The per-table queries (``wad.store.sessions`` and its siblings) run on it;
``wad.store.database.Store`` composes them.

A full disk is mapped here, once for every caller (the core's queries and the
plugins', which share the connection): SQLite's ``SQLITE_FULL`` becomes
:class:`wad.errors.StorageFull`, which every door answers as ``storage_full``
(HTTP 507). The failed statement or transaction left nothing behind; the next
write that commits shows space is back.
"""

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import apsw

from wad.errors import StorageFull
from wad.files import private_file
from wad.store.migrations import migrate

log = logging.getLogger(__name__)


class Database(apsw.Connection):
    """apsw's connection, with ``SQLITE_FULL`` raised as :class:`StorageFull` and the
    state of the disk followed: :attr:`full` from a write that found no room until
    one commits again, each change logged once (not once a failed write)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.full = False
        self._changes_when_full = 0

    def execute(self, statements: str, bindings: Any = None, **kw: Any) -> apsw.Cursor:
        try:
            cursor = super().execute(statements, bindings, **kw)
        except apsw.FullError as exc:
            raise self._no_room() from exc
        if self.full:
            self._maybe_room()
        return cursor

    def executemany(
        self, statements: str, sequenceofbindings: Iterable[Any], **kw: Any
    ) -> apsw.Cursor:
        try:
            cursor = super().executemany(statements, sequenceofbindings, **kw)
        except apsw.FullError as exc:
            raise self._no_room() from exc
        if self.full:
            self._maybe_room()
        return cursor

    def __exit__(
        self,
        etype: type[BaseException] | None,
        evalue: BaseException | None,
        etraceback: TracebackType | None,
    ) -> bool:
        try:
            handled = super().__exit__(etype, evalue, etraceback)
        except apsw.FullError as exc:  # the commit found no room; it was rolled back
            raise self._no_room() from exc
        if self.full and etype is None:
            self._maybe_room()
        return handled

    def _no_room(self) -> StorageFull:
        # SQLite counts the rows of a statement that completed even when its transaction
        # then failed to commit: the count is taken again at every failure.
        self._changes_when_full = self.total_changes()
        if not self.full:
            self.full = True
            log.error("storage full: writes to %s fail until space is freed", self.filename)
        return StorageFull()

    def _maybe_room(self) -> None:
        # A write that committed (outside any transaction, so it is on disk) proves
        # there is room again; a read proves nothing.
        if not self.in_transaction and self.total_changes() != self._changes_when_full:
            self.full = False
            log.warning("storage writable again: %s", self.filename)


class Connection:
    def __init__(self, path: Path) -> None:
        self.path = path
        # wad.db holds webhook secrets and session data: wad's user alone reads it.
        for suffix in ("", "-wal", "-shm"):
            private_file(path.with_name(path.name + suffix), create=not suffix)
        self.db = Database(str(path))
        self.db.setbusytimeout(5000)
        self.db.pragma("journal_mode", "wal")
        self.db.pragma("synchronous", "normal")
        self.db.pragma("foreign_keys", True)
        migrate(self.db)

    def close(self) -> None:
        self.db.close()

    @property
    def full(self) -> bool:
        """The last write found the disk full, and none has committed since."""
        return self.db.full

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.db:
            yield

    def migrate_plugin(self, name: str, migrations: list[str]) -> int:
        """Apply a plugin's own numbered migrations (its version kept in ``plugin_schema``);
        return the version reached. A plugin's tables live in wad.db beside the core's."""
        with self.db:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS plugin_schema"
                " (name TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT"
            )
        version: int = self._one("SELECT version FROM plugin_schema WHERE name = ?", (name,)) or 0
        for number, script in enumerate(migrations[version:], start=version + 1):
            with self.db:
                self.db.execute(script)
                self.db.execute(
                    "INSERT INTO plugin_schema (name, version) VALUES (?, ?) ON CONFLICT (name)"
                    " DO UPDATE SET version = excluded.version",
                    (name, number),
                )
        return max(version, len(migrations))

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        """The first column of the first row, or None."""
        row = self.db.execute(sql, args).fetchone()
        return None if row is None else row[0]
