"""Socket activation (sd_listen_fds(3)) in pure Python.

systemd passes listening sockets as descriptors 3, 4, ... and says so in
``$LISTEN_FDS`` (how many), ``$LISTEN_PID`` (for which process: a child that
inherited the variables must not take them) and ``$LISTEN_FDNAMES`` (the
``FileDescriptorName=`` of each, colon-separated). wad knows two names: ``http``
(a TCP or Unix stream socket for the HTTP server) and ``control`` (the Unix
socket for wadctl). A descriptor that comes without a name is recognised by its
family: a Unix socket is taken for ``control``, an IP one for ``http``.

The variables are taken out of the environment when read, and the descriptors
are made close-on-exec, so worker processes inherit neither.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger(__name__)

VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
FIRST_FD = 3
NAMES = ("http", "control")


def passed_fds(
    env: MutableMapping[str, str] = os.environ, pid: int | None = None
) -> list[tuple[int, str]]:
    """The descriptors systemd passed to this process, each with its name ("" when
    unnamed); the variables are removed from ``env`` either way."""
    pid = os.getpid() if pid is None else pid
    owner, count, names = (env.pop(name, "") for name in VARIABLES)
    if not count:
        return []
    if owner != str(pid):
        log.warning("ignoring LISTEN_FDS: they were meant for process %s", owner or "?")
        return []
    if not count.isdigit():
        log.error("ignoring LISTEN_FDS=%r: not a number", count)
        return []
    fds = range(FIRST_FD, FIRST_FD + int(count))
    labels = (names.split(":") if names else [])[: len(fds)]
    labels += [""] * (len(fds) - len(labels))
    for fd in fds:
        os.set_inheritable(fd, False)
    pairs = zip(fds, labels, strict=True)
    return [(fd, "" if label == "unknown" else label) for fd, label in pairs]


def listening_sockets(
    env: MutableMapping[str, str] = os.environ, pid: int | None = None
) -> dict[str, socket.socket]:
    """The passed sockets by name (``http``, ``control``). A descriptor that is not a
    listening stream socket, or whose name wad does not know, is closed with an error
    logged: serving on it would fail later and less clearly."""
    found: dict[str, socket.socket] = {}
    for fd, label in passed_fds(env, pid):
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            log.error("passed descriptor %d is not a socket: %s", fd, exc)
            continue
        name = label or ("control" if sock.family == socket.AF_UNIX else "http")
        problem = _unusable(sock, name)
        if problem is None and name in found:
            problem = f"a second {name!r} socket"
        if problem is not None:
            log.error("passed descriptor %d (%s): %s; closing it", fd, label or "unnamed", problem)
            sock.close()
            continue
        found[name] = sock
        log.info("socket activation: %s on %s", name, _describe(sock))
    return found


def _unusable(sock: socket.socket, name: str) -> str | None:
    if name not in NAMES:
        return f"unknown name {name!r} (wad knows {', '.join(NAMES)})"
    if sock.type != socket.SOCK_STREAM:
        return "not a stream socket"
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        return "not listening"
    if name == "control" and sock.family != socket.AF_UNIX:
        return "the control socket must be a Unix socket"
    return None


def _describe(sock: socket.socket) -> str:
    address = sock.getsockname()
    if isinstance(address, tuple):
        return f"{address[0]}:{address[1]}"
    return str(address) or "an unnamed socket"
