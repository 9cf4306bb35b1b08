"""What every table's queries stand on, whichever database holds the tables.

A query module (``wad.store.sessions`` and its siblings) is a mixin over
:class:`QueryBase`: plain, synchronous statements on :attr:`QueryBase.db`, one
connection's handle. The store (``wad.store.database``) runs them: the embedded
SQLite store inline on the trio thread (a statement costs ~20 µs, a hop to a thread
~230 µs), the PostgreSQL store on a pooled connection in a worker thread. Callers
hand the store a function of the queries: ``await store.run(lambda q: ...)`` (one
transaction) or ``await store.read(lambda q: ...)``.

SQL is written once, in SQLite's spelling with ``?`` placeholders; the PostgreSQL
handle translates the placeholders. Where the two dialects differ a query asks
:attr:`QueryBase.dialect`.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgresql"]


class Cursor(Protocol):
    """The rows of one statement (apsw's cursor, or the PostgreSQL handle's)."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Db(Protocol):
    """One connection's handle, as the queries use it."""

    def execute(self, statements: str, bindings: Any = None) -> Cursor: ...

    def executemany(self, statements: str, sequenceofbindings: Iterable[Sequence[Any]]) -> Any: ...

    @property
    def in_transaction(self) -> bool: ...

    # ``with db:`` is a transaction, nested in the caller's as a savepoint.
    def __enter__(self) -> Any: ...

    def __exit__(self, etype: Any, evalue: Any, etraceback: Any) -> Any: ...


@dataclass
class Caches:
    """What the queries remember between calls, shared by every connection of one
    store: key hash -> device id (``wad.store.keys``) and device id -> its settings
    (``wad.store.settings``). Each is dropped by the statements that change it."""

    key_owner: dict[str, str] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)


class QueryBase:
    dialect: Dialect = "sqlite"

    def __init__(self, db: Db, caches: Caches, dialect: Dialect = "sqlite") -> None:
        self.db = db
        self.caches = caches
        self.dialect = dialect

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        """The first column of the first row, or None."""
        row = self.db.execute(sql, args).fetchone()
        return None if row is None else row[0]
