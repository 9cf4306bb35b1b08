"""The delivery worker: sends due deliveries, records how each went, schedules retries.

One task dispatches. It keeps, per endpoint, a queue in memory of due
deliveries fetched ahead, and starts sends from those queues in turn, within the
slots :class:`~.fairness.Slots` allows (a fair share of the global pool, fewer for
an endpoint that keeps timing out), so one slow or dead endpoint never holds up
another's deliveries. Then it waits for a wake-up (deliveries were committed, a
send finished) or for the next retry to fall due.

An endpoint is asked for its due deliveries (one indexed query) only when it
may have some that are not queued: deliveries were committed for it, its
retries fell due (one query finds whose, since the last look), its queue ran dry
after a full fetch, or it is looked at afresh (at start, or when the wall clock
went back). Attempts are written back in batches, one transaction per batch. A
delivery counts as done only once that write commits: if the daemon stops first,
it is sent again at the next start (at least once, same ``webhook-id``).

On PostgreSQL the nodes of a cluster share the outbox, and each runs a worker:
it claims each delivery before attempting it and polls for deliveries it was not
told of (:mod:`.claims`).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import trio

from wad import __version__
from wad.errors import StorageFull
from wad.net.guard import Guard

from . import signing
from .claims import POLL, Claims
from .client import DeliveryError, PostClient
from .db import WebhookDb
from .fairness import DueQueues, Slots
from .outbox import Disabled, Due, Limits, Outcome
from .overflow import Overflow
from .sealing import SecretBox, Unreadable
from .settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = f"wad/{__version__} (webhooks)"
SNIPPET = 200  # characters of a failed answer's body kept in the log
LONGEST_WAIT = 60.0  # look again at least this often (the wall clock may jump)
FETCH = 512  # due deliveries asked for at once, at most


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    key: bytes


class DeliveryWorker:
    def __init__(
        self,
        db: WebhookDb,
        box: SecretBox,
        settings: Settings,
        guard: Guard,
        rng: random.Random | None = None,
        *,
        node: str = "wad",
    ) -> None:
        self.db = db
        # PostgreSQL: other nodes' workers share the outbox (claims, polls).
        self.claims = Claims(db, node) if db.store.dialect == "postgresql" else None
        self.poll = POLL
        self.box = box
        self.settings = settings
        self.guard = guard
        self.rng = rng or random.Random()
        self.slots = Slots(settings.concurrency, settings.endpoint_concurrency)
        self.queues = DueQueues()
        self.overflow = Overflow()
        self._wake = trio.Event()
        self._results_ready = trio.Event()
        self._results: list[Outcome] = []
        self._busy: dict[str, set[int]] = {}  # being sent, or sent and not yet recorded
        self._targets: dict[str, Target] = {}
        self._finished: Counter[str] = Counter()  # finished since the endpoint's last prune
        self._to_prune: set[str] = set()
        self._prune_waits = False  # a prune found the disk full: again at the next count
        self._recorded = trio.Event()
        self._polled = trio.Event()
        self._dirty: set[str] = set()  # endpoints that may have due deliveries not queued
        self._look_all = True
        self._checked_until = 0.0  # retries due by this time are noted
        self._next_poll = -math.inf  # PostgreSQL: trio time of the next due poll
        self._unreadable: set[str] = set()  # PostgreSQL: endpoints left to the other nodes
        self.sent = 0

    # -- from the plugin -------------------------------------------------------------

    def wake(self, endpoint_ids: Iterable[str] = ()) -> None:
        """Deliveries were committed (for these endpoints; none named: for any): look now,
        not at the next timer."""
        if endpoint_ids:
            self._dirty.update(endpoint_ids)
        else:
            self._look_all = True
        self._wake.set()

    def reconfigure(self, settings: Settings) -> None:
        self.settings = settings
        self.slots.resize(settings.concurrency, settings.endpoint_concurrency)
        self.wake()

    def forget(self, endpoint_id: str) -> None:
        """An endpoint was deleted, disabled or enabled again: nothing queued of it is
        sent, and it starts afresh."""
        self._targets.pop(endpoint_id, None)
        self.queues.forget(endpoint_id)
        self.slots.forget(endpoint_id)
        self._dirty.discard(endpoint_id)
        self.overflow.end(endpoint_id, "was disabled, enabled or deleted")

    def dropped(self, endpoint_id: str, ids: list[int], cap: int) -> None:
        """Deliveries of an endpoint were dropped (over its cap): none of them is started."""
        self.queues.discard(endpoint_id, ids)
        self.overflow.dropped(endpoint_id, len(ids), cap)
        self._count_finished(endpoint_id, len(ids))

    async def wait_recorded(self) -> None:
        """Wait until the next batch of attempts has been written."""
        await self._recorded.wait()

    async def wait_polled(self) -> None:
        """PostgreSQL: wait until the next poll for due deliveries has been answered."""
        await self._polled.wait()

    def statistics(self) -> dict[str, int]:
        return {
            **self.slots.statistics(),
            "queued": len(self.queues),
            "unrecorded": len(self._results),
            "attempts": self.sent,
            "dropped": self.overflow.dropped_total,
        }

    # -- the task --------------------------------------------------------------------

    async def run(self) -> None:
        try:
            client = PostClient(
                self.guard,
                user_agent=USER_AGENT,
                idle_per_origin=self.settings.endpoint_concurrency,
            )
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._record_loop)
                    await self._dispatch(nursery, client)
            finally:
                await client.aclose()
        finally:
            with trio.CancelScope(shield=True):  # what finished before the stop is not
                await self._record()  # sent twice
                if self.claims is not None:  # what was cut short goes on elsewhere now
                    await self.claims.release()

    async def _dispatch(self, nursery: trio.Nursery, client: PostClient) -> None:
        while True:
            self._wake = trio.Event()
            now = time.time()
            await self._note_due(now)
            await self._fetch(now)
            await self._start_queued(nursery, client)
            await self._prune()
            next_at = await self._next_due(now)
            deadline = math.inf
            if next_at is not None:
                deadline = trio.current_time() + min(max(next_at - time.time(), 0), LONGEST_WAIT)
            if self.claims is not None:
                deadline = min(deadline, self._next_poll)
            with trio.move_on_at(deadline):
                await self._wake.wait()

    async def _note_due(self, now: float) -> None:
        """Mark the endpoints whose retries fell due since the last look."""
        if self._look_all or now < self._checked_until:  # at start, or the clock went back
            self._look_all = False
            self._dirty |= await self.db.read(lambda w: w.with_pending())
        elif now > self._checked_until:
            after = self._checked_until
            self._dirty |= await self.db.read(lambda w: w.fell_due(after, now))
        self._checked_until = now
        if self.claims is not None and trio.current_time() >= self._next_poll:
            self._next_poll = trio.current_time() + self.poll
            self._dirty |= await self.db.read(lambda w: w.due_unclaimed(now))
            self._polled.set()
            self._polled = trio.Event()

    def _active(self) -> int:
        return len(self.queues.endpoints() | self.slots.busy_endpoints())

    async def _fetch(self, now: float) -> None:
        """Queue the due deliveries of each marked endpoint that may start one now; an
        endpoint with a queue is asked again once the queue is empty."""
        active = self._active()
        for endpoint_id in list(self._dirty):
            if endpoint_id in self._unreadable:
                self._dirty.discard(endpoint_id)
                continue
            if endpoint_id in self.queues or self.slots.room(endpoint_id, active) <= 0:
                continue  # still marked: asked once its queue is empty, or a send of it ends
            limit = min(FETCH, max(16, 8 * self.slots.allowance(endpoint_id)))
            # A copy: the query may run in the store's thread while sends finish.
            busy = tuple(self._busy.get(endpoint_id, ()))
            rows = await self._due_for(endpoint_id, now, busy, limit)
            self.queues.extend(endpoint_id, rows)
            if len(rows) < limit:
                self._dirty.discard(endpoint_id)
            if rows and endpoint_id not in self.slots.busy_endpoints():
                active += 1

    async def _start_queued(self, nursery: trio.Nursery, client: PostClient) -> None:
        active = self._active()
        starting: list[tuple[Due, Target]] = []
        for due in self.queues.take(lambda endpoint_id: self.slots.room(endpoint_id, active)):
            target = await self._target(due.endpoint_id)
            if target is None:
                self.forget(due.endpoint_id)
                continue
            self.slots.start(due.endpoint_id)  # held from here: room() counts it
            starting.append((due, target))
        if self.claims is not None and starting:
            starting = await self._claim(self.claims, starting)
        for due, target in starting:
            self._busy.setdefault(due.endpoint_id, set()).add(due.id)
            nursery.start_soon(self._attempt, client, due, target)

    async def _claim(
        self, claims: Claims, starting: list[tuple[Due, Target]]
    ) -> list[tuple[Due, Target]]:
        """PostgreSQL: claim what is about to start; the rest gives its slot back."""
        targets = {due.id: target for due, target in starting}
        kept = await claims.take([due for due, _ in starting], self.settings.timeout)
        taken = {due.id for due in kept}
        stale: set[str] = set()
        for due, _ in starting:
            if due.id not in taken:  # another node has it (or it is not due any more)
                self.slots.finish(due.endpoint_id, answered=False, timed_out=False)
                stale.add(due.endpoint_id)
        for endpoint_id in stale:  # what is queued of it may be another's too: ask again
            self.queues.forget(endpoint_id)
            self._dirty.add(endpoint_id)
        if stale:  # at once, not at the next poll: the slots given back are free
            self._wake.set()
        return [(due, targets[due.id]) for due in kept]

    async def _target(self, endpoint_id: str) -> Target | None:
        target = self._targets.get(endpoint_id)
        if target is None:
            row = await self.db.read(lambda w: w.signing_target(endpoint_id))
            if row is None:
                return None
            try:
                secret = self.box.open(endpoint_id, row[1])
            except Unreadable:  # checked at start: only a key swapped while running
                if self.claims is not None:  # this node's key is not the cluster's
                    self._unreadable.add(endpoint_id)
                    log.error(
                        "webhook %s: its signing secret cannot be decrypted with %s; this"
                        " node leaves its deliveries to the others (copy the cluster's key)",
                        endpoint_id,
                        self.box.path,
                    )
                    return None
                reason = "its signing secret cannot be decrypted"
                await self.db.run(lambda w: w.disable(endpoint_id, reason))
                log.error("webhook %s disabled: %s", endpoint_id, reason)
                return None
            target = self._targets[endpoint_id] = Target(row[0], signing.secret_key(secret))
        return target

    async def _attempt(self, client: PostClient, due: Due, target: Target) -> None:
        outcome: Outcome | None = None
        try:
            outcome = await self._post(client, due, target)
        except Exception as exc:  # a bug here must not stop every other delivery
            log.exception("webhooks: delivery %d failed unexpectedly", due.id)
            outcome = self._failure(due, None, f"internal error: {type(exc).__name__}")
        finally:
            self.slots.finish(
                due.endpoint_id,
                answered=outcome is not None and outcome.status_code is not None,
                timed_out=outcome is not None and outcome.timed_out,
            )
        self.sent += 1
        self._results.append(outcome)
        self._results_ready.set()
        self._wake.set()

    async def _post(self, client: PostClient, due: Due, target: Target) -> Outcome:
        body = due.body.encode()
        headers = signing.headers(target.key, due.event_id, int(time.time()), body)
        timeout = self.settings.timeout
        try:
            with trio.fail_after(timeout):  # the whole exchange, not each read
                answer = await client.post(target.url, body, list(headers.items()))
        except trio.TooSlowError:
            error = f"no complete answer within {timeout:g} s"
            return self._failure(due, None, error, timed_out=True)
        except DeliveryError as exc:
            return self._failure(due, None, str(exc)[:300])
        status = answer.status
        if 200 <= status < 300:
            return Outcome(due.id, due.endpoint_id, True, status, None, claim=due.claim)
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error += f": redirects are not followed (Location: {answer.location})"
        else:
            snippet = " ".join(answer.body.decode("utf-8", "replace").split())[:SNIPPET]
            if snippet:
                error += f": {snippet}"
        return self._failure(due, status, error[:300], gone=status == 410)

    def _failure(
        self,
        due: Due,
        status: int | None,
        error: str,
        gone: bool = False,
        timed_out: bool = False,
    ) -> Outcome:
        """A failed attempt: retried on the schedule (with ±10 % jitter) until it runs out."""
        schedule = self.settings.retry_schedule
        attempt = due.attempts + 1
        retry_at = None
        if not gone and attempt <= len(schedule):
            retry_at = time.time() + schedule[attempt - 1] * self.rng.uniform(0.9, 1.1)
        return Outcome(
            due.id, due.endpoint_id, False, status, error, retry_at, gone, timed_out, due.claim
        )

    # -- recording ---------------------------------------------------------------------

    async def _record_loop(self) -> None:
        while True:
            await self._results_ready.wait()
            self._results_ready = trio.Event()
            await self._record()
            self._wake.set()

    async def _record(self) -> None:
        batch, self._results = self._results, []
        if not batch:
            return
        s = self.settings
        try:
            limits, now = Limits(s.disable_after, s.disable_after_time), time.time()
            disabled = await self.db.run(lambda w: w.record(batch, limits, now))
        except StorageFull:  # logged once by the store; no traceback for each batch
            disabled = []
        except Exception:
            log.exception(
                "webhooks: could not record %d attempts; they will be sent again", len(batch)
            )
            disabled = []
        self._recorded.set()
        self._recorded = trio.Event()
        delivered: set[str] = set()
        for outcome in batch:
            endpoint_id = outcome.endpoint_id
            if self.claims is not None:
                self.claims.ended(outcome.delivery_id)
            busy = self._busy.get(endpoint_id)
            if busy is not None:
                busy.discard(outcome.delivery_id)
                if not busy:
                    del self._busy[endpoint_id]
            if outcome.retry_at is not None and outcome.retry_at <= self._checked_until:
                self._dirty.add(endpoint_id)  # due already: no later look would see it
            if outcome.ok or outcome.retry_at is None:
                self._count_finished(endpoint_id, 1)
            if outcome.ok:
                delivered.add(endpoint_id)
        for gone in disabled:
            self._disabled(gone)
        for endpoint_id in delivered & self.overflow.dropping():
            self.overflow.check(endpoint_id, await self._pending(endpoint_id), s.max_pending)
        await self._prune()

    def _count_finished(self, endpoint_id: str, count: int) -> None:
        self._finished[endpoint_id] += count
        if self._finished[endpoint_id] >= max(100, self.settings.log_keep // 10):
            self._to_prune.add(endpoint_id)
            self._prune_waits = False

    async def _prune(self) -> None:
        """Trim the logs of the endpoints that finished (or dropped) enough since their
        last trim: a tenth of ``log_keep`` at a time, not a statement per delivery."""
        if self._prune_waits:
            return
        for endpoint_id in list(self._to_prune):
            try:
                await self._prune_log(endpoint_id, self.settings.log_keep)
            except StorageFull:  # logged once by the store; tried again at the next count
                self._prune_waits = True
                return
            self._to_prune.discard(endpoint_id)
            self._finished.pop(endpoint_id, None)

    # -- one query each (what a loop asks, bound to its values) ---------------------------

    async def _next_due(self, after: float) -> float | None:
        return await self.db.read(lambda w: w.next_due(after))

    async def _due_for(
        self, endpoint_id: str, now: float, busy: tuple[int, ...], limit: int
    ) -> list[Due]:
        return await self.db.read(lambda w: w.due_for(endpoint_id, now, busy, limit))

    async def _pending(self, endpoint_id: str) -> int:
        return await self.db.read(lambda w: w.pending(endpoint_id))

    async def _prune_log(self, endpoint_id: str, keep: int) -> None:
        await self.db.run(lambda w: w.prune(endpoint_id, keep))

    def _disabled(self, disabled: Disabled) -> None:
        log.warning(
            "webhook %s of session %s disabled: %s",
            disabled.endpoint_id,
            disabled.device_id,
            disabled.reason,
        )
        self.forget(disabled.endpoint_id)
