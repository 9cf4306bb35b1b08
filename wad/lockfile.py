"""An exclusive lock on a folder: ``flock(2)`` on a lock file in it, for as long as the
process holds it open.

The daemon locks its state folder (one daemon per ``wad.db``); a neonize worker locks
its session's folder (one client per set of WhatsApp credentials). The kernel drops a
flock with the last descriptor of its open file, so the lock of a process that died,
``kill -9`` included, is gone with it: a lock is never stale, and a process that gets it
knows no other one is using the folder. The holder writes its PID into the file, for the
message of the one refused; the refused one only reads it.

Standard library only, for the neonize worker, which takes its lock before its client
opens the session's whatsmeow database.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class FolderLocked(Exception):
    """Another process holds the lock; ``pid`` is the one it wrote (None if unreadable)."""

    def __init__(self, path: Path, pid: int | None, what: str) -> None:
        holder = f"pid {pid}" if pid is not None else "a process whose pid is unknown"
        super().__init__(f"{what} is in use by another process ({holder}; lock file {path})")
        self.path = path
        self.pid = pid


class FolderLock:
    """A held lock; :meth:`release` (or the end of the process) lets it go."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def take(cls, path: Path, what: str) -> FolderLock:
        """Lock ``path`` (created if need be) at once, or raise :class:`FolderLocked`
        naming the holder: it never waits. ``what`` names the folder for that message."""
        # O_CLOEXEC (Python's default): a worker started later never inherits the lock.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise FolderLocked(path, pid, what) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the last descriptor drops the flock


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
