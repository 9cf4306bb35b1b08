"""A node's claims on the outbox it shares with the other nodes of a cluster (PostgreSQL).

On PostgreSQL every node runs a delivery worker (:mod:`.delivery`) on the same
tables; this is what keeps them from sending a delivery twice at once:

- **Claims.** The deliveries about to start are claimed in one statement
  (:meth:`.outbox.Outbox.claim`, ``FOR UPDATE SKIP LOCKED``), after their slots are
  taken and before their requests: only those claimed start, so one node at a time
  attempts a delivery. Claiming at the start, not when a queue is filled, keeps the
  lease to what it must cover, one attempt and its write (``timeout`` +
  :data:`MARGIN`), however long a delivery waited for a slot. When another node took
  some of what was queued, the endpoint's queue is stale: the worker drops it and
  asks again.
- **A node that dies** leaves its claims to lapse; the others' polls see those
  deliveries due again and one of them takes each (at least once, same
  ``webhook-id``). A node that stops releases the claims of the attempts it cut
  short (:meth:`Claims.release`), so they go on at once elsewhere.
- **Fencing.** An outcome is written only under the delivery's latest claim
  (:meth:`.outbox.Outbox.current`): a late answer to a node whose claim lapsed and
  was taken over is dropped.
- **Wake-ups.** Only the node that wrote an event is woken after its commit; the
  others learn of its deliveries (and of retries due, and of lapsed claims) by
  asking which endpoints have due, unclaimed deliveries every :data:`POLL` seconds
  (:meth:`.outbox.Outbox.due_unclaimed`). The seam for LISTEN/NOTIFY
  (:mod:`wad.store.postgres.notify`): a notification of deliveries committed
  elsewhere calls :meth:`.delivery.DeliveryWorker.wake` with their endpoints, as
  the writer's own commit does; the poll then has only lapsed claims to find and
  may be slower.
- **Slots are per node**: with N nodes an endpoint may have up to N times
  ``endpoint_concurrency`` requests in flight.

Why not a row lock held for the attempt: see :mod:`.outbox`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from wad.errors import StorageFull

from .db import WebhookDb
from .outbox import Due

log = logging.getLogger(__name__)

# How often a node asks which endpoints have due deliveries it was not told of
# (written by another node, retries another scheduled, lapsed claims).
POLL = 1.0
# A claim lasts the attempt's timeout and this much more, for the write of its outcome
# (a batch, one transaction) to land before another node may take the delivery.
MARGIN = 5.0


class Claims:
    """The claims one node's worker holds: taken before attempts, ended by their write."""

    def __init__(self, db: WebhookDb, node: str) -> None:
        self.db = db
        self.node = node  # the name its claims carry
        self.margin = MARGIN
        self.held: dict[int, int] = {}  # delivery id -> claim number, attempt unwritten
        self.lost = 0  # deliveries about to start that another node had claimed first

    async def take(self, dues: list[Due], attempt_time: float) -> list[Due]:
        """Claim ``dues`` for attempts of up to ``attempt_time`` seconds; returns those
        this node now holds, with their claim and their attempts so far."""
        ids = [due.id for due in dues]
        node, lease, now = self.node, attempt_time + self.margin, time.time()
        try:
            claimed = await self.db.run(lambda w: w.claim(ids, node, lease, now))
        except StorageFull:  # logged once by the store
            claimed = {}
        except Exception:
            log.exception("webhooks: could not claim %d deliveries; asking again", len(ids))
            claimed = {}
        kept = []
        for due in dues:
            got = claimed.get(due.id)
            if got is not None:
                self.held[due.id] = got[0]
                kept.append(replace(due, claim=got[0], attempts=got[1]))
        self.lost += len(dues) - len(kept)
        return kept

    def ended(self, delivery_id: int) -> None:
        """The attempt's outcome was written (or given up): the claim is not ours."""
        self.held.pop(delivery_id, None)

    async def release(self) -> None:
        """At a stop: end the claims of the attempts that were cut short."""
        if not self.held:
            return
        claims, self.held = list(self.held.items()), {}
        try:
            await self.db.run(lambda w: w.release(claims))
        except Exception:  # they lapse by themselves
            log.warning("webhooks: %d claims not released; they lapse", len(claims))
