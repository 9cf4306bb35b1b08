"""wad.store.backup on real SQLite files: a database whose last commits are still only
in its WAL (as a running worker's whatsmeow.db, or wad.db between checkpoints) is
copied whole, as one file; what must not be copied is not; bad destinations are
refused before anything is written."""

from __future__ import annotations

import os
import tarfile
import threading
from pathlib import Path

import apsw
import pytest

from wad.store.backup import BackupError, backup_state, is_sqlite


def wal_db(path: Path, rows: int) -> apsw.Connection:
    """A database in WAL mode whose rows are all in the WAL: never checkpointed."""
    db = apsw.Connection(str(path))
    db.pragma("journal_mode", "wal")
    db.pragma("wal_autocheckpoint", 0)
    db.execute("CREATE TABLE device (n INTEGER, blob BLOB)")
    with db:
        for n in range(rows):
            db.execute("INSERT INTO device VALUES (?, randomblob(200))", (n,))
    return db


def count(path: Path) -> int:
    db = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return int(db.execute("SELECT count(*) FROM device").fetchall()[0][0])
    finally:
        db.close()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    (state / "sessions" / "phone1" / "media").mkdir(parents=True)
    (state / "sessions" / "phone1" / "media" / "a.jpg").write_bytes(b"\xff\xd8jpeg")
    (state / "sessions" / "phone1" / "worker.lock").write_text("")
    (state / "secrets.key").write_bytes(os.urandom(32))
    (state / "wad.lock").write_text("")
    (state / "backups").mkdir()
    (state / "backups" / "old.tar").write_bytes(b"an older backup")
    return state


def test_wal_content_is_copied_and_locks_are_not(state: Path, tmp_path: Path) -> None:
    main = wal_db(state / "wad.db", 50)
    creds = wal_db(state / "sessions" / "phone1" / "whatsmeow.db", 300)
    try:
        wal = state / "sessions" / "phone1" / "whatsmeow.db-wal"
        assert wal.stat().st_size > 60_000  # the rows are in the WAL, not the file
        dest = tmp_path / "copy"
        report = backup_state(state, dest)
    finally:
        main.close()
        creds.close()
    assert count(dest / "wad.db") == 50
    assert count(dest / "sessions" / "phone1" / "whatsmeow.db") == 300
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == [
        "secrets.key",
        "sessions/phone1/media/a.jpg",
        "sessions/phone1/whatsmeow.db",
        "wad.db",
    ]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in dest.rglob("*") if p.is_file())
    assert all(p.stat().st_mode & 0o777 == 0o700 for p in dest.rglob("*") if p.is_dir())
    assert report.databases == ["wad.db", "sessions/phone1/whatsmeow.db"]
    assert report.sessions == ["phone1"] and report.files == 4


def test_a_copy_taken_under_writes_is_one_snapshot(state: Path, tmp_path: Path) -> None:
    """Another connection commits all along (a worker's own process, in life): the copy
    holds a whole number of its transactions, each 10 rows, and is intact."""
    wal_db(state / "wad.db", 10).close()
    stop = threading.Event()

    def writer() -> None:
        db = apsw.Connection(str(state / "wad.db"))
        db.set_busy_timeout(5000)
        while not stop.is_set():
            with db:
                for n in range(10):
                    db.execute("INSERT INTO device VALUES (?, randomblob(500))", (n,))
        db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        copies = [backup_state(state, tmp_path / f"copy{i}.tar") for i in range(3)]
    finally:
        stop.set()
        thread.join()
    for i, report in enumerate(copies):
        out = tmp_path / f"out{i}"
        with tarfile.open(report.path) as tar:
            tar.extractall(out, filter="data")
        assert count(out / "wad.db") % 10 == 0


def test_refused_destinations(state: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    for dest, message in (
        (Path("relative/copy"), "must be absolute"),
        (tmp_path / "taken", "exists already"),
        (tmp_path / "no" / "such" / "copy", "is not a folder"),
        (state / "sessions" / "copy", "goes under"),
        (state, "exists already"),
    ):
        with pytest.raises(BackupError, match=message):
            backup_state(state, dest)
    # Under backups/ inside the state folder it is allowed, and that folder is skipped.
    report = backup_state(state, state / "backups" / "new.tar.gz")
    with tarfile.open(report.path) as tar:
        assert not [n for n in tar.getnames() if n.startswith("backups")]
    assert not [p for p in state.joinpath("backups").iterdir() if p.name.startswith(".")]


def test_is_sqlite(tmp_path: Path) -> None:
    wal_db(tmp_path / "x.db", 1).close()
    (tmp_path / "y.txt").write_text("SQLite format 2")
    assert is_sqlite(tmp_path / "x.db")
    assert not is_sqlite(tmp_path / "y.txt") and not is_sqlite(tmp_path / "missing")
