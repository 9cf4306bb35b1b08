"""Where a neonize session runs: which worker process, and which sessions are kept apart.

Sans-IO (no trio, no processes): the engine asks :class:`Placement` for a worker with
room, tells it what happened (a session placed, gone, a worker crashed), and starts the
processes itself.

- A session goes to the least loaded worker with room (fewer than ``per_worker``
  sessions, stopping ones included), else to a new worker.
- A worker that has taken ``retire_after`` sessions in its life takes no more; it ends
  when its last session leaves. neonize leaks a little on every connect (its Go side
  opens a new SQLite pool per connect and never closes it), so a long-lived worker
  would grow without bound.
- Quarantine: a session present at ``quarantine_after`` crashes of its worker in a row
  (no link of it ending otherwise in between) runs in a worker of its own from then on,
  for the daemon's life, so one poison session cannot keep killing its neighbours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

W = TypeVar("W")


@dataclass(eq=False)
class Slot(Generic[W]):
    """A worker as placement sees it."""

    worker: W
    solo: bool = False  # a quarantined session's own worker
    sessions: set[str] = field(default_factory=set)
    taken: int = 0  # sessions ever placed in it
    alive: bool = True


class Placement(Generic[W]):
    def __init__(self, per_worker: int, quarantine_after: int, retire_after: int = 256) -> None:
        self.per_worker = max(1, per_worker)
        self.quarantine_after = quarantine_after
        self.retire_after = retire_after
        self.slots: list[Slot[W]] = []
        self.crashes: dict[str, int] = {}  # crashes in a row each session was present at
        self.quarantined: set[str] = set()

    def choose(self, device_id: str) -> Slot[W] | None:
        """The worker for ``device_id``, or None: start one and :meth:`add` it."""
        if device_id in self.quarantined:
            return None
        open_ = [
            slot
            for slot in self.slots
            if slot.alive
            and not slot.solo
            and len(slot.sessions) < self.per_worker
            and slot.taken < self.retire_after
            and device_id not in slot.sessions  # still stopping there
        ]
        return min(open_, key=lambda slot: len(slot.sessions), default=None)

    def add(self, worker: W, device_id: str) -> Slot[W]:
        slot = Slot(worker, solo=device_id in self.quarantined or self.per_worker == 1)
        self.slots.append(slot)
        return slot

    def place(self, slot: Slot[W], device_id: str) -> None:
        slot.sessions.add(device_id)
        slot.taken += 1

    def left(self, slot: Slot[W], device_id: str, crashed: bool) -> bool:
        """``device_id`` is gone from ``slot``'s worker; True when the worker is now empty
        and should end."""
        slot.sessions.discard(device_id)
        if not crashed:
            self.crashes.pop(device_id, None)
        return not slot.sessions

    def crashed(self, slot: Slot[W]) -> list[str]:
        """``slot``'s worker died unasked: count it for each session in it; return the
        sessions quarantined by it."""
        slot.alive = False
        newly = []
        for device_id in slot.sessions:
            count = self.crashes.get(device_id, 0) + 1
            self.crashes[device_id] = count
            if (
                self.per_worker > 1  # alone in its worker anyway: nothing to keep it from
                and 0 < self.quarantine_after <= count
                and device_id not in self.quarantined
            ):
                self.quarantined.add(device_id)
                newly.append(device_id)
                log.warning(
                    "session %s: quarantined in a worker of its own, after %d crashes in a"
                    " row of the worker it shared",
                    device_id,
                    count,
                )
        return newly

    def gone(self, slot: Slot[W]) -> None:
        """The worker process ended (its sessions were told)."""
        slot.alive = False
        if slot in self.slots:
            self.slots.remove(slot)

    def forget(self, device_id: str) -> None:
        """The session was deleted: a new one by that name starts afresh."""
        self.crashes.pop(device_id, None)
        self.quarantined.discard(device_id)
