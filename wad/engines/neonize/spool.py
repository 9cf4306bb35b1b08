"""The worker's inbox spool: every received message on disk before it goes to the daemon.

whatsmeow acknowledges a message to WhatsApp before neonize's Python handler has it
(see the README's Reliability section): from then on WhatsApp will not send it again,
and only this process holds it. So the worker's first act with a message is to append
it to ``inbox.spool`` in the session's folder, one JSON line ``{"seq", "data"}``, with
a plain ``write()``: once it returns, the line is in the kernel's page cache, which
outlives this process and the daemon (``kill -9``, a Go panic, an OOM kill); only a
crash of the whole machine can lose the last lines (no ``fsync`` per message, which
would cost milliseconds each on a busy disk).

The daemon confirms what it has stored (``stored`` with ``upTo``, the last sequence
number it handled); once everything spooled is confirmed the file is emptied, and a
file that keeps unconfirmed lines is cut down to them when it grows past
:data:`COMPACT_BYTES`. A new worker starts by reading what an earlier one left
(messages the daemon never confirmed) and sends it again, marked ``recovered``; the
daemon stores a message once by its WhatsApp id, so a line sent twice costs nothing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from wad.files import PRIVATE

log = logging.getLogger(__name__)

SPOOL = "inbox.spool"
#: A spool this large with lines still unconfirmed is rewritten with only those.
COMPACT_BYTES = 4 * 1024 * 1024


class Spool:
    def __init__(self, folder: Path) -> None:
        self.path = folder / SPOOL
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._seq = 0
        self._confirmed = 0
        self._size = 0

    def recover(self) -> list[tuple[int, dict[str, Any]]]:
        """Take over what an earlier worker left: the spool rewritten with those lines
        numbered anew (from 1), and them with their new numbers, to send again."""
        with self._lock:
            found = self.leftovers()
            if not found and not self.path.exists():
                return []
            numbered = list(enumerate(found, start=1))
            aside = self.path.with_suffix(".tmp")
            lines = [json.dumps({"seq": n, "data": d}, default=str) + "\n" for n, d in numbered]
            aside.write_text("".join(lines))
            os.chmod(aside, PRIVATE)
            os.replace(aside, self.path)  # the old lines stay until the new ones are there
            self._seq = len(numbered)
            self._size = sum(len(line.encode()) for line in lines)
            return numbered

    def leftovers(self) -> list[dict[str, Any]]:
        """What an earlier worker spooled and the daemon never confirmed (its ``data``,
        in order); a line torn by a crash mid-write is skipped (it was never sent)."""
        try:
            text = self.path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        found: dict[Any, dict[str, Any]] = {}  # by number: a later line replaces an earlier
        for line in text.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and isinstance(item.get("data"), dict):
                found[item.get("seq")] = item["data"]
        return list(found.values())

    def append(self, data: dict[str, Any], seq: int | None = None) -> int:
        """Spool one message; its sequence number. With ``seq`` (a number this spool gave
        before), the line replaces that one's (the message spooled before its media
        were downloaded, now complete). A spool that cannot be written (a full disk) is
        logged, and the message still goes on: as safe as neonize alone makes it."""
        with self._lock:
            if seq is None or not 0 < seq <= self._seq:
                self._seq += 1
                seq = self._seq
            line = (json.dumps({"seq": seq, "data": data}, default=str) + "\n").encode()
            try:
                self._write(line)
            except OSError as exc:
                log.warning("could not spool message %s: %s", str(data.get("id"))[:64], exc)
            return seq

    def confirm(self, up_to: int) -> None:
        """The daemon has handled everything up to ``up_to``."""
        with self._lock:
            self._confirmed = max(self._confirmed, min(up_to, self._seq))
            try:
                if self._confirmed == self._seq:
                    if self._size:
                        os.ftruncate(self._open(), 0)
                        self._size = 0
                elif self._size > COMPACT_BYTES:
                    self._compact()
            except OSError as exc:
                log.warning("could not trim %s: %s", self.path, exc)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE)
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def _write(self, line: bytes) -> None:
        fd = self._open()
        view = memoryview(line)
        while view:  # one write for a line this size; the loop covers a short write
            view = view[os.write(fd, view) :]
        self._size += len(line)

    def _compact(self) -> None:
        """Keep only the unconfirmed lines (written aside, then renamed over)."""
        kept = []
        for line in self.path.read_bytes().splitlines(keepends=True):
            try:
                if json.loads(line)["seq"] > self._confirmed:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                continue
        aside = self.path.with_suffix(".tmp")
        aside.write_bytes(b"".join(kept))
        os.chmod(aside, PRIVATE)
        os.replace(aside, self.path)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._open()
