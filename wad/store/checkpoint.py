"""SQLite's checkpoints, moved off the event loop.

In WAL mode with ``synchronous=NORMAL`` a commit writes to the log and does not
sync; the sync is paid at the checkpoint, which copies the log back into
``wad.db``. SQLite runs it inside the commit that pushes the log past 1,000
pages: on the trio thread, where one ``fdatasync`` of this machine's disk was
measured at 40-200 ms (strace, under load) — every request waiting on the loop
waits that long too, which is what the send benchmark's p99 showed.

:class:`Checkpointer` turns SQLite's automatic checkpoint off on the daemon's
connection and runs the same passive checkpoint on a connection of its own in a
worker thread (apsw lets go of the GIL inside SQLite): a commit that pushes the
log past :data:`PAGES` wakes it, nothing waits for it. A passive checkpoint takes
no lock a writer needs; the next commit after a complete one starts the log
again from its beginning, so the log stays as small as before.

Only while :meth:`Checkpointer.run` runs: before it starts and after it stops
(tests, ``wadctl`` tools, the daemon's last commits) SQLite's own automatic
checkpoint is back. A checkpoint that fails (the disk is full: the log's pages
need room in ``wad.db``) is logged once and tried again at the next wake-up; the
log keeps every commit meanwhile.
"""

from __future__ import annotations

import logging
from pathlib import Path

import apsw
import trio

log = logging.getLogger(__name__)

#: Log pages after which a checkpoint runs: SQLite's own default.
PAGES = 1000


class Checkpointer:
    def __init__(self, db: apsw.Connection, path: Path, pages: int = PAGES) -> None:
        self.db = db
        self.path = path
        self.pages = pages
        self.done = 0  # checkpoints completed
        self._due = trio.Event()
        self._passed = trio.Event()  # set after each attempt, then replaced
        self._failing = False

    def _wal_hook(self, _db: apsw.Connection, _name: str, pages: int) -> int:
        # Called by SQLite after each commit, on the committing (trio) thread.
        if pages >= self.pages:
            self._due.set()
        return apsw.SQLITE_OK

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        own = await trio.to_thread.run_sync(self._open)
        self.db.wal_autocheckpoint(0)
        self.db.set_wal_hook(self._wal_hook)
        try:
            task_status.started()
            while True:
                await self._due.wait()
                self._due = trio.Event()
                await trio.to_thread.run_sync(self._checkpoint, own)
                self._passed.set()
                self._passed = trio.Event()
        finally:
            self.db.set_wal_hook(None)
            self.db.wal_autocheckpoint(PAGES)
            own.close()

    async def next_pass(self) -> None:
        """Wait until the next checkpoint attempt has finished, successful or not."""
        await self._passed.wait()

    def _open(self) -> apsw.Connection:
        own = apsw.Connection(str(self.path))
        own.setbusytimeout(5000)
        # A connection learns the file is in WAL mode when it first reads it; until then
        # a checkpoint does nothing (SQLite answers -1 frames).
        own.pragma("journal_mode")
        own.pragma("synchronous", "normal")
        return own

    def _checkpoint(self, own: apsw.Connection) -> None:
        try:
            frames, _copied = own.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
        except apsw.Error as exc:
            if not self._failing:
                log.error("checkpoint of %s failed (tried again later): %s", self.path, exc)
            self._failing = True
            return
        if self._failing:
            log.warning("checkpoint of %s works again", self.path)
        self._failing = False
        if frames >= 0:
            self.done += 1
