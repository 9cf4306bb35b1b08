"""The owner's side of the lease, on its own monotonic clock.

A heartbeat counts from when it was *sent*: the server stamped ``seen_at`` after
that moment, so the other nodes' view of the lease (``seen_at`` + lease, on the
server's clock) ends at least ``lease / 2`` after this one (sent + lease / 2).
"""

from __future__ import annotations

import math


class Lease:
    def __init__(self, fence_after: float) -> None:
        self._fence_after = fence_after
        self._sent = -math.inf

    def renew(self, sent: float) -> None:
        """A heartbeat sent at ``sent`` succeeded (a late answer never moves it back)."""
        self._sent = max(self._sent, sent)

    @property
    def sent(self) -> float:
        """When the last successful heartbeat was sent (-inf: none yet)."""
        return self._sent

    @property
    def deadline(self) -> float:
        """When the owner must have fenced, unless a heartbeat succeeds first."""
        return self._sent + self._fence_after

    def expired(self, now: float) -> bool:
        return now >= self.deadline
