"""SQLite's checkpoints (and so its fsyncs) run off the trio thread while the
checkpointer runs, on the real store file, watched through a VFS shim that records
which thread syncs and can make the database file full."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest
import trio

from wad.store import Store
from wad.store.checkpoint import Checkpointer


class Disk:
    def __init__(self) -> None:
        self.syncs: list[tuple[int, bool]] = []  # each xSync: its thread, wad.db or not
        self.full = False  # writes to the database file (not its log) find no room


class SpyFile(apsw.VFSFile):
    def __init__(self, disk: Disk, name: apsw.URIFilename | str | None, flags: list[int]) -> None:
        super().__init__("unix", name, flags)
        self.disk = disk
        self.main_db = bool(flags[0] & apsw.SQLITE_OPEN_MAIN_DB)

    def xSync(self, flags: int) -> None:
        self.disk.syncs.append((threading.get_ident(), self.main_db))
        super().xSync(flags)

    def xWrite(self, data: bytes, offset: int) -> None:
        if self.disk.full and self.main_db:
            raise apsw.FullError("disk full (test)")
        super().xWrite(data, offset)


class SpyVFS(apsw.VFS):
    def __init__(self, disk: Disk) -> None:
        self.disk = disk
        super().__init__("wad-test-spy", "unix", makedefault=True)

    def xOpen(self, name: apsw.URIFilename | str | None, flags: list[int]) -> SpyFile:
        return SpyFile(self.disk, name, flags)


@pytest.fixture
def disk() -> Iterator[Disk]:
    disk = Disk()
    vfs = SpyVFS(disk)
    try:
        yield disk
    finally:
        vfs.unregister()
        apsw.set_default_vfs("unix")


def write_pages(store: Store, commits: int) -> None:
    db = store.connection.db
    db.execute("CREATE TABLE IF NOT EXISTS filler (x BLOB)")
    for _ in range(commits):
        with db:
            db.execute("INSERT INTO filler VALUES (zeroblob(8000))")  # two pages and more


def synced_here(disk: Disk, *, main_db: bool) -> int:
    """How many syncs of wad.db (or of its log) ran on this thread."""
    return disk.syncs.count((threading.get_ident(), main_db))


def wal_bytes(path: Path) -> int:
    return path.with_name(path.name + "-wal").stat().st_size


async def test_without_the_checkpointer_the_committing_thread_syncs(
    tmp_path: Path, disk: Disk
) -> None:
    # SQLite's own automatic checkpoint: what the daemon did before (and what this
    # test shows it no longer does).
    store = Store(tmp_path / "wad.db")
    try:
        disk.syncs.clear()
        write_pages(store, 600)
        assert synced_here(disk, main_db=True) >= 2  # a checkpoint copied the log into wad.db
    finally:
        store.close()


async def test_checkpoints_run_in_a_thread_and_the_log_stays_small(
    tmp_path: Path, disk: Disk
) -> None:
    store = Store(tmp_path / "wad.db")
    checkpointer = Checkpointer(store.connection.db, store.path, pages=100)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(checkpointer.run)
            disk.syncs.clear()
            for _ in range(10):
                write_pages(store, 60)  # ~180 pages a round: past the threshold
                await checkpointer.next_pass()
            nursery.cancel_scope.cancel()
        assert checkpointer.done >= 10
        assert len(disk.syncs) >= 2 * 10, "each checkpoint syncs the log and wad.db"
        # The checkpoints' syncs ran in the checkpointer's thread; this one synced only
        # the header of the log each time a commit started it again (SQLite's rule).
        assert synced_here(disk, main_db=True) == 0
        assert synced_here(disk, main_db=False) <= 10
        # 600 commits of ~2 pages each: the log is started again after each
        # checkpoint, so it holds a round or two, not all of them.
        assert wal_bytes(store.path) < 250 * 4096 * 2
        # Stopped, SQLite's own checkpoint is back on the daemon's connection.
        disk.syncs.clear()
        write_pages(store, 600)
        assert synced_here(disk, main_db=True) >= 2
        rows = store.connection.db.execute("SELECT count(*) FROM filler").fetchone()
        assert rows == (1200,)
    finally:
        store.close()


async def test_a_checkpoint_on_a_full_disk_is_logged_once_and_tried_again(
    tmp_path: Path, disk: Disk, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "wad.db")
    checkpointer = Checkpointer(store.connection.db, store.path, pages=100)
    caplog.set_level(logging.WARNING, logger="wad.store.checkpoint")
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(checkpointer.run)
            write_pages(store, 1)
            disk.full = True
            for _ in range(3):
                write_pages(store, 60)  # commits go on: they write the log only
                await checkpointer.next_pass()
            assert checkpointer.done == 0
            failed = [r for r in caplog.records if "failed" in r.getMessage()]
            assert len(failed) == 1
            disk.full = False
            write_pages(store, 60)
            await checkpointer.next_pass()
            assert checkpointer.done == 1
            assert any("works again" in r.getMessage() for r in caplog.records)
            nursery.cancel_scope.cancel()
        rows = store.connection.db.execute("SELECT count(*) FROM filler").fetchone()
        assert rows == (241,)
    finally:
        store.close()
