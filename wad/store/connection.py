"""The store's one apsw connection to ``<state-dir>/wad.db``.

Statements are short and run on the trio thread (an autocommit write costs
~20 µs; a hop to a worker thread costs ~230 µs). WAL with synchronous=NORMAL.
The per-table queries (``wad.store.sessions`` and its siblings) are mixins over
this class; ``wad.store.database.Store`` composes them.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import apsw

from wad.store.migrations import migrate


class Connection:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = apsw.Connection(str(path))
        self.db.setbusytimeout(5000)
        self.db.pragma("journal_mode", "wal")
        self.db.pragma("synchronous", "normal")
        self.db.pragma("foreign_keys", True)
        migrate(self.db)

    def close(self) -> None:
        self.db.close()

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
