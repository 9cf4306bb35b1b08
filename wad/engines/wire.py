"""Newline-delimited JSON framing: one JSON object per line, UTF-8.

Sans-IO, so the worker socket and the admin control socket share it, and tests feed
it bytes directly. ``json.dumps`` escapes newlines inside strings, so an encoded
object never contains a raw ``\\n`` and the newline is an unambiguous frame end.
"""

from __future__ import annotations

import json
from typing import Any

from wad.engines.text import sanitized

#: The key naming the session of every line between the daemon and a neonize worker
#: (a worker holds several sessions).
SESSION = "session"

#: The longest line accepted (without its newline): a peer that sends more is broken
#: or hostile, and buffering it without bound would let it exhaust our memory.
MAX_LINE = 1 << 20


class WireError(ValueError):
    """The peer sent a line that is not a JSON object, or is too long.

    The stream is unusable after it: the caller drops the connection.
    """


def encode(obj: dict[str, Any]) -> bytes:
    """One line for ``obj``. Strict JSON (no NaN), valid UTF-8, so peers in any language
    read it. It never fails on text JSON or UTF-8 cannot hold (``bytes``, lone
    surrogates) nor on NaN: those are made valid by :mod:`wad.engines.text`'s rule, so
    one odd value from neonize cannot end a worker or a connection. An object of
    another type is a bug: ``TypeError``, as from ``json``."""
    try:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.encode() + b"\n"
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        text = json.dumps(sanitized(obj), separators=(",", ":"), ensure_ascii=False)
        return text.encode() + b"\n"


class LineDecoder:
    """Turns received bytes, in chunks of any size, into decoded JSON objects.

    Blank lines are skipped, so a person can talk to a socket by hand.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Every object completed by ``data``, in order; raise :class:`WireError` on a bad line."""
        search_from = len(self._buffer)  # the buffered partial line has no newline
        self._buffer += data
        lines = []
        start = 0
        while (end := self._buffer.find(b"\n", search_from)) >= 0:
            lines.append(bytes(self._buffer[start:end]))
            start = search_from = end + 1
        del self._buffer[:start]
        if len(self._buffer) > self.max_line:
            raise WireError(f"line longer than {self.max_line} bytes")
        return [self._decode(line) for line in lines if line.strip()]

    def _decode(self, line: bytes) -> dict[str, Any]:
        if len(line) > self.max_line:
            raise WireError(f"line longer than {self.max_line} bytes")
        try:
            obj = json.loads(line)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError both
            raise WireError(f"invalid JSON line: {exc}") from None
        if not isinstance(obj, dict):
            raise WireError(f"expected a JSON object, got {type(obj).__name__}")
        return obj
