"""Who may send next: the global pool of delivery slots shared fairly between endpoints.

Measured before this existed: four endpoints on a receiver that never answers held
all 64 slots (16 each), and a healthy endpoint's deliveries waited 39.5 s instead
of 0.05 s. The rules, each cheap to check before every start:

- **A fair share.** An endpoint may have at most ``max(1, total // (active + 1))``
  deliveries in flight, ``active`` being the endpoints with work queued or in
  flight. The ``+ 1`` keeps one share free for an endpoint that is not active
  yet, so a newcomer finds a slot at once, whatever the others do.
- **Fewer for those that time out.** Each endpoint has its own allowance (at most
  ``per_endpoint``): a timeout halves it, an answer (any status) adds one back.
  A dead endpoint is down to one slot after a few timeouts.
- **Slow endpoints share half.** Endpoints whose last attempt timed out hold at
  most half of the pool together, so there are always slots for those that
  answer, even with more dead endpoints than slots.
- **Round robin.** :class:`DueQueues` starts one delivery per endpoint in turn.

Pure bookkeeping (no I/O, no clock), driven by :mod:`.delivery`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, KeysView

from .outbox import Due


class Slots:
    def __init__(self, total: int, per_endpoint: int) -> None:
        self.total = total
        self.per_endpoint = per_endpoint
        self.in_flight = 0
        self._sending: Counter[str] = Counter()
        self._allowance: dict[str, int] = {}  # endpoints below per_endpoint
        self._slow: set[str] = set()
        self._slow_in_flight = 0

    def resize(self, total: int, per_endpoint: int) -> None:
        """New settings (a reload): allowances above the new bound come down to it."""
        self.total, self.per_endpoint = total, per_endpoint
        self._allowance = {e: n for e, n in self._allowance.items() if n < per_endpoint}

    def sending(self, endpoint_id: str) -> int:
        return self._sending[endpoint_id]

    def busy_endpoints(self) -> KeysView[str]:
        return self._sending.keys()

    def allowance(self, endpoint_id: str) -> int:
        """The endpoint's own bound (timeouts bring it down), before the fair share."""
        return self._allowance.get(endpoint_id, self.per_endpoint)

    def room(self, endpoint_id: str, active: int) -> int:
        """How many more of the endpoint's deliveries may start now."""
        share = max(1, self.total // (active + 1))
        bound = min(self.allowance(endpoint_id), share)
        room = min(bound - self._sending[endpoint_id], self.total - self.in_flight)
        if endpoint_id in self._slow:
            room = min(room, max(1, self.total // 2) - self._slow_in_flight)
        return max(room, 0)

    def start(self, endpoint_id: str) -> None:
        self._sending[endpoint_id] += 1
        self.in_flight += 1
        if endpoint_id in self._slow:
            self._slow_in_flight += 1

    def finish(self, endpoint_id: str, *, answered: bool, timed_out: bool) -> None:
        """One attempt ended: its slot is free, and the endpoint's allowance follows how
        it went (halved on a timeout, one more on an answer)."""
        if endpoint_id in self._slow:
            self._slow_in_flight -= 1
        self._sending[endpoint_id] -= 1
        if not self._sending[endpoint_id]:
            del self._sending[endpoint_id]
        self.in_flight -= 1
        allowance = self.allowance(endpoint_id)
        if timed_out:
            self._set_slow(endpoint_id, True)
            self._set_allowance(endpoint_id, max(1, allowance // 2))
        elif answered:
            self._set_slow(endpoint_id, False)
            self._set_allowance(endpoint_id, allowance + 1)

    def forget(self, endpoint_id: str) -> None:
        """Deleted, disabled or enabled again: it starts afresh (what is in flight ends
        through :meth:`finish` as usual)."""
        self._set_slow(endpoint_id, False)
        self._allowance.pop(endpoint_id, None)

    def statistics(self) -> dict[str, int]:
        return {
            "inFlight": self.in_flight,
            "slowEndpoints": len(self._slow),
            "slowInFlight": self._slow_in_flight,
            "reducedEndpoints": len(self._allowance),
        }

    def _set_allowance(self, endpoint_id: str, allowance: int) -> None:
        if allowance >= self.per_endpoint:
            self._allowance.pop(endpoint_id, None)
        else:
            self._allowance[endpoint_id] = allowance

    def _set_slow(self, endpoint_id: str, slow: bool) -> None:
        if slow and endpoint_id not in self._slow:
            self._slow.add(endpoint_id)
            self._slow_in_flight += self._sending[endpoint_id]
        elif not slow and endpoint_id in self._slow:
            self._slow.discard(endpoint_id)
            self._slow_in_flight -= self._sending[endpoint_id]


class DueQueues:
    """Due deliveries fetched ahead, a queue per endpoint, served in turn."""

    def __init__(self) -> None:
        # Insertion order is the turn: an endpoint served goes to the back.
        self._queues: dict[str, deque[Due]] = {}

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def __contains__(self, endpoint_id: str) -> bool:
        return endpoint_id in self._queues

    def endpoints(self) -> KeysView[str]:
        return self._queues.keys()

    def extend(self, endpoint_id: str, rows: list[Due]) -> None:
        if rows:
            self._queues.setdefault(endpoint_id, deque()).extend(rows)

    def forget(self, endpoint_id: str) -> None:
        self._queues.pop(endpoint_id, None)

    def discard(self, endpoint_id: str, ids: Iterable[int]) -> None:
        queue = self._queues.get(endpoint_id)
        if queue is None:
            return
        gone = set(ids)
        kept = deque(due for due in queue if due.id not in gone)
        if kept:
            self._queues[endpoint_id] = kept
        else:
            del self._queues[endpoint_id]

    def take(self, room: Callable[[str], int]) -> Iterator[Due]:
        """Yield queued deliveries one endpoint at a time, in turn, while ``room(e)``
        (asked again before each) lets endpoint ``e`` start one more."""
        progress = True
        while progress and self._queues:
            progress = False
            for endpoint_id in list(self._queues):
                if room(endpoint_id) <= 0:
                    continue
                queue = self._queues.pop(endpoint_id)
                due = queue.popleft()
                if queue:
                    self._queues[endpoint_id] = queue  # to the back of the turn
                progress = True
                yield due
