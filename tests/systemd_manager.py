"""A stand-in for systemd's side of sd_notify: a datagram socket that records every
notice with the time it arrived (a thread reads it, so the test may block meanwhile)."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Notice:
    at: float
    fields: dict[str, str]

    def __contains__(self, key: str) -> bool:
        return key in self.fields


class FakeManager:
    def __init__(self, path: str | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path is None:  # an abstract name: no file, no path length limit to mind
            name = f"wad-test-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.sock.bind(path)
            self.address = path
        self.sock.settimeout(0.1)
        self.notices: list[Notice] = []
        self._queue: queue.Queue[Notice] = queue.Queue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines())
            notice = Notice(time.monotonic(), fields)
            self.notices.append(notice)
            self._queue.put(notice)

    def wait_for(self, key: str, timeout: float = 30.0) -> Notice:
        """The next notice (from now on) that carries ``key``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {key} notice within {timeout}s; got {self.notices}")
            try:
                notice = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if key in notice:
                return notice

    def between(self, key: str, start: float, end: float) -> list[Notice]:
        return [n for n in list(self.notices) if key in n and start <= n.at <= end]

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self.sock.close()


def reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill a daemon process a test left running (it failed midway) and wait for it."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
