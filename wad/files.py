"""Private files: readable and writable by wad's user alone (0600), whatever the umask;
private folders (0700).

The daemon also sets its umask to 077 at start (:mod:`wad.cli`), so that what it
and its libraries create without asking (SQLite's WAL, whatsmeow's store) is
private too; these helpers hold whatever the umask, and tighten what already
exists.

Standard library only: the neonize worker writes media through it without loading trio.
"""

import logging
import os
import stat
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

PRIVATE = 0o600
PRIVATE_DIR = 0o700


def open_private(path: Path) -> IO[bytes]:
    """Create (or truncate) ``path`` as a private file and open it for writing, for
    content written in parts (a media file streamed in)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE), "wb")


def write_private(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to a private file, atomically: a reader sees the old
    file or the new one, never a part (it is written beside ``path``, then renamed)."""
    temp = path.with_name(f".{path.name}.tmp")
    try:
        with open_private(temp) as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def private_dir(path: Path) -> None:
    """Create the folder ``path`` for wad's user alone (0700), or tighten it when it
    exists open to others (logged: another user may have read it already)."""
    path.mkdir(parents=True, mode=PRIVATE_DIR, exist_ok=True)
    _tighten(path, PRIVATE_DIR)


def private_file(path: Path, *, create: bool = False) -> None:
    """Make the file ``path`` private (0600), tightening an existing one (logged);
    with ``create``, create it empty when missing (SQLite gives a new database's WAL
    and shared-memory files the database file's mode)."""
    if create:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE))
    if path.exists():
        _tighten(path, PRIVATE)


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode & 0o777:
        os.chmod(path, current & mode)
        log.warning(
            "%s was open to other users (mode %04o): now %04o; what it held may have been read",
            path,
            current,
            current & mode,
        )
