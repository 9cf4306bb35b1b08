"""A consistent copy of a running daemon's state folder, into a folder or a tar file.

Every SQLite file (``wad.db``, each neonize session's ``whatsmeow.db``) is copied with
SQLite's online backup API in one step: one read transaction, so the copy is a single
consistent snapshot while the daemon (and the workers, from their own processes) keep
writing; in WAL mode readers never block them. Other files are copied as they are.
Left out: lock files, sockets, SQLite's ``-wal``/``-shm``/``-journal`` files (their
content is in the copied database) and ``backups/`` at the top of the state folder.

``wad.db`` goes first: received media are written before their row is stored, so
every message row in the copy has its file in the copy too.

Plain synchronous code (the daemon runs it in a thread). Everything is written first
under a temporary name beside the destination, then renamed: a destination that
exists is a whole backup. Files are 0600, folders 0700 (it holds every credential).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import apsw

__all__ = ["BackupError", "BackupReport", "backup_state", "is_sqlite"]

SQLITE_MAGIC = b"SQLite format 3\x00"
#: Files that hold no data of their own, or belong to a running process.
SKIPPED_NAMES = frozenset({"wad.lock", "worker.lock", "wad.sock"})
SIDE_FILES = ("-wal", "-shm", "-journal")
#: A folder of backups kept inside the state folder is never backed up into the next.
SKIPPED_TOP = frozenset({"backups"})
TAR_SUFFIXES = {".tar": False, ".tar.gz": True, ".tgz": True}  # -> compressed
BUSY_TIMEOUT_MS = 10_000  # a worker's write transaction holds a rollback-journal db


class BackupError(Exception):
    """The destination cannot be written (exists, no parent, not absolute)."""


@dataclass
class BackupReport:
    path: str
    files: int = 0
    bytes: int = 0
    databases: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "files": self.files,
            "bytes": self.bytes,
            "databases": self.databases,
            "sessions": self.sessions,
            "seconds": round(self.seconds, 3),
        }


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def tar_mode(dest: Path) -> bool | None:
    """For a destination named like an archive, whether it is compressed; else None
    (a folder)."""
    name = dest.name
    for suffix, compressed in TAR_SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return compressed
    return None


def check_destination(dest: Path) -> None:
    if not dest.is_absolute():
        raise BackupError(f"the backup path must be absolute: {dest}")
    if dest.exists() or dest.is_symlink():
        raise BackupError(f"{dest} exists already: choose a new name")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent} is not a folder")


def backup_state(state_dir: Path, dest: Path) -> BackupReport:
    """Copy ``state_dir`` to ``dest`` (a new folder, or a ``.tar``/``.tar.gz`` file)."""
    started = time.monotonic()
    check_destination(dest)
    state_dir = state_dir.resolve()
    inside = dest.parent.resolve() / dest.name
    if inside.is_relative_to(state_dir) and (
        inside == state_dir or inside.relative_to(state_dir).parts[0] not in SKIPPED_TOP
    ):
        raise BackupError(f"a backup inside the state folder goes under {state_dir}/backups/")
    report = BackupReport(path=str(dest))
    old_umask = os.umask(0o077)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            tree = staging / "state"
            tree.mkdir(mode=0o700)
            _copy_tree(state_dir, tree, report)
            compressed = tar_mode(dest)
            if compressed is None:
                tree.rename(dest)
            else:
                archive = staging / "archive"
                with tarfile.open(archive, "w:gz" if compressed else "w") as tar:
                    # Members relative to the state folder: tar -xf FILE -C <state>.
                    for child in sorted(tree.iterdir()):
                        tar.add(child, arcname=child.name)
                archive.rename(dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        os.umask(old_umask)
    report.seconds = time.monotonic() - started
    return report


def _copy_tree(src: Path, dst: Path, report: BackupReport) -> None:
    main_db = src / "wad.db"
    if main_db.exists():
        _copy_db(main_db, dst / "wad.db", report, "wad.db")
    sessions = src / "sessions"
    if sessions.is_dir():
        report.sessions = sorted(p.name for p in sessions.iterdir() if p.is_dir())
    for folder, dirs, files in os.walk(src):
        here = Path(folder)
        rel = here.relative_to(src)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d not in SKIPPED_TOP]
        dirs.sort()
        target = dst / rel
        target.mkdir(mode=0o700, exist_ok=True)
        databases = {name for name in files if is_sqlite(here / name)}
        for name in sorted(files):
            path = here / name
            if name in SKIPPED_NAMES or path == main_db:
                continue
            if any(name.endswith(s) and name[: -len(s)] in databases for s in SIDE_FILES):
                continue
            try:
                regular = stat.S_ISREG(path.lstat().st_mode)
            except FileNotFoundError:
                continue  # removed meanwhile
            if not regular:
                continue  # sockets, fifos, symlinks: nothing to restore from them
            if name in databases:
                _copy_db(path, target / name, report, str(rel / name))
            else:
                _copy_file(path, target / name, report)


def _copy_db(src: Path, dst: Path, report: BackupReport, label: str) -> None:
    source = apsw.Connection(str(src), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        source.set_busy_timeout(BUSY_TIMEOUT_MS)
        copy = apsw.Connection(str(dst))
        try:
            with copy.backup("main", source, "main") as step:
                step.step(-1)  # every page in one read transaction: one snapshot
            # A copy in rollback-journal mode: a single file, whatever the original's mode.
            copy.pragma("journal_mode", "delete")
        finally:
            copy.close()
    finally:
        source.close()
    os.chmod(dst, 0o600)
    report.databases.append(label)
    report.files += 1
    report.bytes += dst.stat().st_size


def _copy_file(src: Path, dst: Path, report: BackupReport) -> None:
    try:
        shutil.copyfile(src, dst)
    except FileNotFoundError:
        return  # removed meanwhile (retention, a deleted session): not part of the copy
    os.chmod(dst, 0o600)
    report.files += 1
    report.bytes += dst.stat().st_size
