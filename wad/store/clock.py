"""wad's one timestamp form: ISO 8601, UTC, milliseconds, ``Z`` (the seed's)."""

import time
from datetime import UTC, datetime
from typing import Literal

_second: tuple[int, str] = (-1, "")  # the last whole second seen, and its text


def now_iso() -> str:
    """Now, in wad's timestamp form (a send stamps three: the seconds' text is
    formatted once a second)."""
    global _second
    t = time.time()
    whole = int(t)
    if whole != _second[0]:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((t - whole) * 1000):03d}Z"


def iso_at(epoch: float, timespec: Literal["milliseconds", "seconds"] = "milliseconds") -> str:
    """A Unix time in wad's timestamp form (``seconds`` drops the milliseconds)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def seconds_until(iso: str) -> float:
    """How long until a time in wad's timestamp form (negative once it is past)."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() - time.time()
