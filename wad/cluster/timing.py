"""The cluster's clocks: how long a lease lasts and how often a node acts.

Every figure is in seconds. The lease is judged twice, on two clocks: the owner
counts it on its own monotonic clock (it fences after ``lease / 2`` without a
successful heartbeat), the other nodes count it on the PostgreSQL server's clock
(a session's owner is dead once its ``seen_at`` is older than ``lease``). The half
left between the two covers clock rates, the time a fence takes and a heartbeat's
flight.
"""

from __future__ import annotations

from dataclasses import dataclass

#: How long a node's heartbeat keeps its sessions its own (issue 20: 5 s).
LEASE = 5.0


@dataclass(frozen=True)
class Timing:
    lease: float = LEASE
    #: A heartbeat through the lock connection this often.
    heartbeat: float = 1.0
    #: How often a node looks for work when nothing woke it: free sessions to place,
    #: sessions targeted at it to claim, moves asked of it.
    placement: float = 1.0
    #: A node above the average hands over at most one session this often.
    rebalance: float = 3.0
    #: The first pause before reconnecting a lost lock connection (doubles, capped).
    reconnect: float = 0.5
    reconnect_cap: float = 5.0

    def __post_init__(self) -> None:
        # A heartbeat must be able to succeed inside the owner's bound, or the node
        # would fence between two heartbeats that both succeed.
        if not 0 < self.heartbeat < self.fence_after:
            raise ValueError("Timing: the heartbeat must be shorter than lease / 2")

    @property
    def fence_after(self) -> float:
        """The owner's own bound: no successful heartbeat for this long and it fences."""
        return self.lease / 2
