"""The control socket's file: bound 0660 without a world-accessible moment, stale ones
replaced, a live daemon's never taken over, removed on exit only if still ours.

The socket is bound inside a fresh 0700 directory next to its final path, given
its mode and group there, and then renamed into place: the process umask (shared
by every thread) is never touched, and no one can reach the socket before its
permissions are final.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
import tempfile
from pathlib import Path

import trio

from wad.control import peercred

log = logging.getLogger(__name__)

MODE = 0o660
BACKLOG = 128
MAX_PATH = 107  # sun_path holds 108 bytes with the final NUL


class ControlSocketError(RuntimeError):
    """The control socket cannot be set up; the message says why."""


async def _answers(path: Path) -> bool:
    """Does a live process accept connections on ``path``?"""
    probe = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with trio.move_on_after(2):
            await probe.connect(str(path))
            return True
        return True  # connect hangs: the backlog is full, someone is there
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    finally:
        probe.close()


def _socket_file(path: Path) -> bool:
    """Is there a socket file at ``path``? Anything else there is refused."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(info.st_mode):
        raise ControlSocketError(f"{path} exists and is not a socket; not replacing it")
    return True


async def clear_stale(path: Path) -> None:
    """Remove a socket file that nobody listens on; refuse a live daemon's."""
    if not _socket_file(path):
        return
    if await _answers(path):
        raise ControlSocketError(f"another daemon is already listening on {path}")
    log.info("control socket: replacing the stale %s", path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


async def bind_unix(path: Path, group: str | None) -> tuple[socket.socket, int]:
    """A listening socket at ``path``, mode 0660, group ``group`` when it exists;
    returns it with the inode of the file, to remove only ours on exit."""
    if len(os.fsencode(path)) > MAX_PATH:
        raise ControlSocketError(f"control socket path too long (over {MAX_PATH} bytes): {path}")
    os.makedirs(path.parent, mode=0o700, exist_ok=True)
    await clear_stale(path)
    return _bind(path, group)


def _bind(path: Path, group: str | None) -> tuple[socket.socket, int]:
    staging = Path(tempfile.mkdtemp(prefix=".w", dir=path.parent))  # mode 0700
    temp = staging / "s"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.bind(str(temp))
        except OSError as exc:
            raise ControlSocketError(f"cannot bind the control socket {path}: {exc}") from None
        os.chmod(temp, MODE)
        gid = peercred.group_id(group) if group else None
        if gid is not None:
            try:
                os.chown(temp, -1, gid)
            except PermissionError:
                log.warning("control socket: cannot give it to group %s (not a member)", group)
        sock.listen(BACKLOG)
        os.rename(temp, path)
    except BaseException:
        sock.close()
        raise
    finally:
        temp.unlink(missing_ok=True)
        try:
            staging.rmdir()
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                log.warning("control socket: cannot remove %s: %s", staging, exc)
    return sock, path.stat().st_ino


def remove_if_ours(path: str, inode: int) -> None:
    """Unlink ``path`` unless another daemon has put its own socket there since."""
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass
