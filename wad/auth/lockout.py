"""Lock-outs of client addresses that keep presenting wrong credentials.

The rule (README, "Security"):

- a failed credential is a token (a bearer token, the dashboard sign-in's
  token) that no authenticator accepts; it counts against the client's address
  (an IPv6 client's /64, which one user usually holds whole);
- every ``threshold`` failures lock the address: the first time for ``first``
  seconds, each next time twice as long as the last, up to ``cap``; an address
  is forgotten ``forget`` seconds after its last failure or lock-out ended;
- while an address is locked, a request from it that presents a token is
  refused (429 with ``Retry-After``) without the token being checked, the right
  one too: were the right one let in, a guesser would tell its hit from its
  misses, and the lock-out would not slow guessing at all;
- a success never resets the count (a key holder could otherwise interleave
  its own key with guesses at the admin token); other addresses are never
  affected, and a dashboard already signed in (its cookie is no token, and no
  guess) keeps working.

Each lock-out is logged once, when it begins. Only counts and times are
kept, in memory, for at most ``most`` addresses.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

log = logging.getLogger(__name__)

THRESHOLD = 10
FIRST = 1.0
CAP = 15 * 60.0
FORGET = 60 * 60.0
MOST = 65_536


@dataclass(slots=True)
class _Record:
    failures: int = 0  # since the last lock-out
    total: int = 0
    locks: int = 0
    locked_until: float = 0.0
    last: float = 0.0  # the last failure

    def expires(self, forget: float) -> float:
        return max(self.last, self.locked_until) + forget


@lru_cache(maxsize=4096)  # asked on every request; parsing an address is most of a check
def address_key(address: str) -> str:
    """What one client is: its IPv4 address, or its IPv6 /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a test client, a Unix socket): itself
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class Lockout:
    def __init__(
        self,
        threshold: int = THRESHOLD,
        first: float = FIRST,
        cap: float = CAP,
        forget: float = FORGET,
        most: int = MOST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.first = first
        self.cap = cap
        self.forget = forget
        self.most = most
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self.lockouts = 0  # lock-outs begun since start (a metric)

    def locked_for(self, address: str) -> float:
        """Seconds until ``address`` may present a token again (0: now)."""
        if not self._records:  # nobody failed lately: nothing to look up
            return 0.0
        record = self._records.get(address_key(address))
        if record is None:
            return 0.0
        return max(0.0, record.locked_until - self._clock())

    def failed(self, address: str) -> float:
        """Count a failed credential; the lock-out it began, in seconds (0: none)."""
        now = self._clock()
        key = address_key(address)
        record = self._records.get(key)
        if record is None or record.expires(self.forget) <= now:
            self._records.pop(key, None)  # re-inserted last: the newest
            record = self._records[key] = _Record(last=now)
            self._bound(now)
        if record.locked_until > now:
            return 0.0  # refused unchecked while locked: nothing to count
        record.failures += 1
        record.total += 1
        record.last = now
        if record.failures < self.threshold:
            return 0.0
        duration = min(self.cap, self.first * 2.0**record.locks)
        record.failures = 0
        record.locks += 1
        record.locked_until = now + duration
        self.lockouts += 1
        log.warning(
            "locked out %s for %g s after %d failed credentials (lock-out %d)",
            key,
            duration,
            record.total,
            record.locks,
        )
        return duration

    def statistics(self) -> dict[str, int]:
        now = self._clock()
        locked = sum(1 for r in self._records.values() if r.locked_until > now)
        return {"tracked": len(self._records), "locked": locked, "lockouts": self.lockouts}

    def _bound(self, now: float) -> None:
        if len(self._records) <= self.most:
            return
        for key in [k for k, r in self._records.items() if r.expires(self.forget) <= now]:
            del self._records[key]
        while len(self._records) > self.most:  # the oldest record goes first
            del self._records[next(iter(self._records))]
