"""The one rule for what arrives from WhatsApp: an engine event's data is made valid
Unicode (and valid JSON) here, at the engine-event edge, before anything stores,
logs or forwards it.

- ``bytes`` (protobuf-python hands back ``bytes`` for a string field whose content
  is not valid UTF-8) are decoded as UTF-8, each invalid sequence becoming U+FFFD;
- a ``str`` holding lone surrogates (what a JSON ``\\ud800`` escape decodes to) gets
  U+FFFD for each of them;
- the original of every value so replaced is kept under ``raw`` in the data: the
  base64 of its bytes (a ``str``'s as UTF-8 with its surrogates written out,
  ``surrogatepass``), keyed by the field's path (``text``, ``media.fileName``,
  ``ids.0``);
- numbers JSON cannot hold (NaN, infinities) become ``None``; tuples become lists;
  any other object (only an in-process engine could hand one over) becomes its ``str``.

Received content is never refused for its text: a contact's message is stored and
delivered with the replacement characters, and nothing of it is lost. (Text that
reaches wad through its own API is refused with 400 instead: a client can fix it.)

Standard library only: the neonize worker applies it as well, where the original
bytes can still be seen.
"""

from __future__ import annotations

import base64
import math
from typing import Any

RAW = "raw"
REPLACEMENT = "\ufffd"


def valid(text: str) -> bool:
    """True when ``text`` can be written as UTF-8 (it holds no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def repaired(value: str | bytes) -> str:
    """``value`` as valid text, each invalid part replaced by U+FFFD."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if valid(value):
        return value
    # One U+FFFD for each lone surrogate (decoding its surrogatepass bytes would give
    # one for each of its three bytes).
    return "".join(REPLACEMENT if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)


def original_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode(errors="surrogatepass")


def clean(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with valid text everywhere (see the module's rule); ``data`` itself,
    uncopied, when nothing needed replacing (the common case)."""
    originals: dict[str, str] = {}
    cleaned = _value(data, "", originals)
    if not originals:
        return cleaned  # type: ignore[no-any-return]
    raw = cleaned.get(RAW)
    kept = dict(raw) if isinstance(raw, dict) else {}
    for path, encoded in originals.items():
        kept.setdefault(path, encoded)
    return {**cleaned, RAW: kept}


def sanitized(value: Any, *, objects: bool = False) -> Any:
    """``value`` made valid by the same rule, without keeping the originals (for a frame
    on the wire, whose content was cleaned where it was made). An object of another
    type raises ``TypeError`` (a bug to report, not text to repair) unless ``objects``."""
    return _value(value, "", {}, objects)


def _value(value: Any, path: str, originals: dict[str, str], objects: bool = True) -> Any:
    if isinstance(value, str):
        if valid(value):
            return value
        originals[path] = base64.b64encode(original_bytes(value)).decode()
        return repaired(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            originals[path] = base64.b64encode(value).decode()
            return repaired(value)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        changed = False
        for key, item in value.items():
            name = key if isinstance(key, str) and valid(key) else _key(key)
            new = _value(item, f"{path}.{name}" if path else name, originals, objects)
            changed = changed or new is not item or name is not key
            out[name] = new
        return out if changed else value
    if isinstance(value, list | tuple):
        items = [
            _value(item, f"{path}.{i}" if path else str(i), originals, objects)
            for i, item in enumerate(value)
        ]
        if isinstance(value, list) and all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items
    if not objects:
        raise TypeError(f"{type(value).__name__} is not JSON")
    return _value(str(value), path, originals)


def _key(key: Any) -> str:
    if isinstance(key, str | bytes):
        return repaired(key)
    return repaired(str(key))
