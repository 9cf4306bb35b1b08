"""sd_notify(3) in pure Python: state notices to the service manager.

systemd names a datagram socket in ``$NOTIFY_SOCKET`` (a file system path, or an
abstract name written with a leading ``@``); each notice is one datagram of
``NAME=value`` lines. ``$WATCHDOG_USEC`` asks for a ``WATCHDOG=1`` notice at
least that often, and ``$WATCHDOG_PID``, when set, says which process it means.

The variables are taken out of the environment when read: the daemon's worker
processes must not talk to systemd in its name.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import MutableMapping

log = logging.getLogger(__name__)

VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
#: How long one notice may wait for room in the manager's queue.
SEND_TIMEOUT = 1.0


def socket_address(value: str) -> str | None:
    """The address to send to: a path, or an abstract name (``@name`` -> ``\\0name``).
    None for what this module cannot reach (systemd's ``vsock:`` addresses)."""
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def watchdog_usec(env: MutableMapping[str, str], pid: int) -> int | None:
    """The watchdog period in microseconds, or None when there is none for ``pid``."""
    raw = env.get("WATCHDOG_USEC", "")
    owner = env.get("WATCHDOG_PID", "")
    if owner and owner != str(pid):
        return None
    if not raw.isdigit() or int(raw) == 0:
        if raw:
            log.warning("ignoring WATCHDOG_USEC=%r: not a positive number", raw)
        return None
    return int(raw)


class Notifier:
    """Sends notices to systemd; does nothing when not started by it."""

    def __init__(self, notify_socket: str | None, watchdog_usec: int | None = None) -> None:
        """``notify_socket`` as systemd writes it in ``$NOTIFY_SOCKET``."""
        self.address = socket_address(notify_socket) if notify_socket else None
        if notify_socket and self.address is None:
            log.warning(
                "NOTIFY_SOCKET=%r: unsupported address, not notifying systemd", notify_socket
            )
        self.watchdog_usec = watchdog_usec if self.address else None
        self._sock: socket.socket | None = None
        self._failed = False

    @classmethod
    def from_environ(
        cls, env: MutableMapping[str, str] = os.environ, pid: int | None = None
    ) -> Notifier:
        """Read and remove the ``NOTIFY_SOCKET`` and ``WATCHDOG_*`` variables."""
        pid = os.getpid() if pid is None else pid
        raw = env.get("NOTIFY_SOCKET") or None
        usec = watchdog_usec(env, pid)
        for name in VARIABLES:
            env.pop(name, None)
        return cls(raw, usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between two pings: half the period, as systemd recommends."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2_000_000

    def notify(self, *lines: str) -> bool:
        """Send one notice; True when it left. Failures are logged once, never raised:
        losing the manager must not stop the daemon."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.settimeout(SEND_TIMEOUT)
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._failed:
                log.warning("cannot notify systemd at %r: %s", self.address, exc)
            self._failed = True
            return False
        if self._failed:
            log.info("notifying systemd again")
        self._failed = False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *_status(status))

    def reloading(self) -> bool:
        # systemd 253+ (Type=notify-reload) wants the monotonic time of the request.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *_status(status))

    def status(self, text: str) -> bool:
        return self.notify(*_status(text))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status(text: str | None) -> list[str]:
    # One notice is lines of NAME=value: a status may not span lines.
    return [] if text is None else ["STATUS=" + " ".join(text.split())]
