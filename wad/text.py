"""Text and JSON as the doors accept them: valid Unicode, bounded nesting.

Decided once, for every door (HTTP bodies, the control socket): a string that holds
a lone surrogate (``"\\ud800"`` is valid JSON but no character) is refused, and so
is JSON nested deeper than :data:`MAX_JSON_DEPTH`. Refusing at the door keeps such
values out of the store and the engines, where they would fail much later, as a
``UnicodeEncodeError`` on the way to SQLite or to a socket, far from the request.
Python's ``json`` accepts both (its bytes decoder even uses ``surrogatepass``), and
its recursion on ``[[[[...`` ends in ``RecursionError``.
"""

from __future__ import annotations

import re
from typing import Any

#: Deepest nesting of arrays and objects a JSON body or control request may have.
#: wad's own bodies need three levels; the limit leaves room for plugins' bodies.
MAX_JSON_DEPTH = 32

_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON string, unrolled (no alternation per character), so that a string of
# several MiB (base64 media) is skipped in one step of the C regex engine.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def has_lone_surrogate(value: Any) -> bool:
    """Whether any string in a decoded JSON value (keys too) holds a lone surrogate.

    Iterative, so a deep value cannot exhaust the stack."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects deeper than ``limit``.

    Checked before parsing. A body with no more brackets than the limit cannot be
    too deep (nearly every body: two byte counts, no scan); otherwise strings are
    cut out, so that brackets inside them do not count, and the rest is scanned,
    stopping at the first level too deep."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub(b'""', raw)):
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
