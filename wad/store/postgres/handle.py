"""The queries' :class:`~wad.store.base.Db` handle over one psycopg 3 connection.

The queries are written in SQLite's spelling with ``?`` placeholders (``?1``, ``?2``
where one value is used twice); psycopg wants ``%s``, and a literal ``%`` (``LIKE
'%@g.us'``) doubled. Our SQL is our own: no ``?`` or ``%`` hides in a string literal
or a comment, so a plain scan translates it, once a statement (cached).

A full disk is mapped here as SQLite's is in :mod:`wad.store.connection`:
PostgreSQL's ``disk_full`` (SQLSTATE 53100) becomes :class:`wad.errors.StorageFull`,
and :class:`DiskState` follows whether the last write found no room.
"""

import functools
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

import psycopg
from psycopg import errors, pq

from wad.errors import StorageFull

log = logging.getLogger(__name__)

_MARKS = re.compile(r"\?(\d*)|%")
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})


@functools.lru_cache(maxsize=2048)
def translate(sql: str) -> tuple[bytes, tuple[int, ...] | None]:
    """``sql`` in psycopg's spelling, and for numbered placeholders (``?1``) the index
    of the argument each ``%s`` takes (None: the arguments in their order)."""
    order: list[int] = []
    plain = False

    def mark(match: re.Match[str]) -> str:
        nonlocal plain
        if match.group(0) == "%":
            return "%%"
        if match.group(1):
            order.append(int(match.group(1)) - 1)
        else:
            plain = True
        return "%s"

    out = _MARKS.sub(mark, sql)
    if order and plain:
        raise ValueError(f"mixed ? and ?N placeholders: {sql}")
    return out.encode(), tuple(order) if order else None


def _arguments(order: tuple[int, ...] | None, bindings: Sequence[Any]) -> Sequence[Any]:
    return bindings if order is None else [bindings[i] for i in order]


class DiskState:
    """Whether the last write found the disk full, until a write commits again (each
    change logged once, not once a failed write). One per store, shared by its
    connections."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.full = False

    def no_room(self) -> StorageFull:
        if not self.full:
            self.full = True
            log.error("storage full: writes to %s fail until space is freed", self.label)
        return StorageFull()

    def room(self) -> None:
        if self.full:
            self.full = False
            log.warning("storage writable again: %s", self.label)


class _NoRows:
    """The rows of a statement that returns none (an UPDATE without RETURNING): apsw
    gives an empty cursor there, psycopg an error on fetch."""

    def fetchone(self) -> Any:
        return None

    def fetchall(self) -> list[Any]:
        return []

    def __iter__(self) -> Iterator[Any]:
        return iter(())


_NO_ROWS = _NoRows()


class PgDb:
    """One psycopg connection (autocommit: each statement is its own transaction unless
    a ``with`` block or the store's :meth:`run` opened one), as the queries use it."""

    def __init__(self, conn: psycopg.Connection[Any], disk: DiskState) -> None:
        self.conn = conn
        self.disk = disk
        self._blocks: list[AbstractContextManager[Any]] = []
        #: A statement changed rows since the store's transaction began (so its commit
        #: proves there is room again).
        self.wrote = False

    def execute(self, statements: str, bindings: Any = None) -> Any:
        cursor = self.conn.cursor()
        try:
            if bindings is None:
                # No arguments: sent as it is (a migration's several statements).
                cursor.execute(statements.encode())
            else:
                sql, order = translate(statements)
                cursor.execute(sql, _arguments(order, tuple(bindings)))
        except errors.DiskFull as exc:
            raise self.disk.no_room() from exc
        self._note(cursor)
        return cursor if cursor.description is not None else _NO_ROWS

    def executemany(self, statements: str, sequenceofbindings: Iterable[Sequence[Any]]) -> Any:
        sql, order = translate(statements)
        cursor = self.conn.cursor()
        try:
            cursor.executemany(sql, [_arguments(order, b) for b in sequenceofbindings])
        except errors.DiskFull as exc:
            raise self.disk.no_room() from exc
        self._note(cursor)
        return _NO_ROWS

    def _note(self, cursor: psycopg.Cursor[Any]) -> None:
        if not self.disk.full or self.wrote:
            return
        status = (cursor.statusmessage or "").split(" ", 1)[0]
        if status in _WRITES and cursor.rowcount > 0:
            self.wrote = True
            if not self.in_transaction:  # autocommit: that write is on disk
                self.disk.room()

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != pq.TransactionStatus.IDLE

    # ``with db:``: a transaction, or a savepoint inside the caller's.
    def __enter__(self) -> "PgDb":
        block = self.conn.transaction()
        block.__enter__()
        self._blocks.append(block)
        return self

    def __exit__(
        self,
        etype: type[BaseException] | None,
        evalue: BaseException | None,
        etraceback: TracebackType | None,
    ) -> bool:
        block = self._blocks.pop()
        try:
            handled = bool(block.__exit__(etype, evalue, etraceback))
        except errors.DiskFull as exc:  # the commit found no room; it was rolled back
            raise self.disk.no_room() from exc
        if etype is None and not self.in_transaction and self.wrote:
            self.wrote = False
            self.disk.room()
        return handled
