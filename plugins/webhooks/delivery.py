"""The delivery worker: sends due deliveries, records how each went, schedules retries.

One task dispatches: it takes due deliveries from a queue in memory and
starts a send for each within the concurrency bounds (all endpoints together,
and each endpoint alone, so one slow receiver cannot hold up the others), then
waits for a wake-up (a new event was stored, a send finished) or for the next
retry to fall due. The queue is filled from the store a batch at a time (one
query), and only when something new may be due: deliveries were committed,
retries were scheduled, or the next retry's time came; not on every finished
send. An endpoint deleted or disabled loses its queued deliveries. Attempts
are written back in batches, one transaction per batch. A delivery counts as
done only once that write commits: if the daemon stops first, it is sent again
at the next start (at least once, same ``webhook-id``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections import Counter, deque
from dataclasses import dataclass

import trio

from wad import __version__
from wad.errors import StorageFull
from wad.net.guard import Guard

from . import signing
from .client import DeliveryError, PostClient
from .db import Due, Outcome, WebhookDb
from .settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = f"wad/{__version__} (webhooks)"
SNIPPET = 200  # characters of a failed answer's body kept in the log
LONGEST_WAIT = 60.0  # look again at least this often (the wall clock may jump)
FETCH = 512  # due deliveries asked for at once


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    key: bytes


class DeliveryWorker:
    def __init__(
        self, db: WebhookDb, settings: Settings, guard: Guard, rng: random.Random | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.guard = guard
        self.rng = rng or random.Random()
        self._wake = trio.Event()
        self._results_ready = trio.Event()
        self._results: list[Outcome] = []
        self._busy: set[int] = set()  # being sent, or sent and not yet recorded
        self._sending: Counter[str] = Counter()
        self._in_flight = 0
        self._targets: dict[str, Target] = {}
        self._finished: Counter[str] = Counter()
        self._recorded = trio.Event()
        self._queue: deque[Due] = deque()  # due, not yet started, oldest first
        self._stale = True  # the store may hold due deliveries that are not queued
        self._next_at: float | None = None  # the next retry's time, as last asked
        self.sent = 0

    # -- from the plugin -------------------------------------------------------------

    def wake(self) -> None:
        """New deliveries were committed: look now, not at the next timer."""
        self._stale = True
        self._wake.set()

    def forget(self, endpoint_id: str) -> None:
        """An endpoint was deleted or disabled: nothing queued of it is sent."""
        self._targets.pop(endpoint_id, None)
        if any(due.endpoint_id == endpoint_id for due in self._queue):
            self._queue = deque(d for d in self._queue if d.endpoint_id != endpoint_id)

    async def wait_recorded(self) -> None:
        """Wait until the next batch of attempts has been written."""
        await self._recorded.wait()

    def statistics(self) -> dict[str, int]:
        return {
            "inFlight": self._in_flight,
            "unrecorded": len(self._results),
            "attempts": self.sent,
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
            self._record()  # what finished before the stop is not sent twice

    async def _dispatch(self, nursery: trio.Nursery, client: PostClient) -> None:
        while True:
            self._wake = trio.Event()
            now = time.time()
            next_at = self._start_due(nursery, client, now)
            deadline = math.inf
            if next_at is not None:
                deadline = trio.current_time() + min(max(next_at - time.time(), 0), LONGEST_WAIT)
            with trio.move_on_at(deadline):
                await self._wake.wait()
            if next_at is not None and time.time() >= next_at:
                self._stale = True  # a retry fell due

    def _start_due(self, nursery: trio.Nursery, client: PostClient, now: float) -> float | None:
        """Start what is due and may start; return when to look again (None: on a wake-up)."""
        free = self.settings.concurrency - self._in_flight
        if free <= 0:
            return None
        started, blocked = self._start_queued(nursery, client, free)
        if started < free and self._stale:
            self._stale = False
            s = self.settings
            full = [e for e, n in self._sending.items() if n >= s.endpoint_concurrency]
            queued = [due.id for due in self._queue]
            rows = self.db.due(now, [*self._busy, *queued], full, FETCH)
            self._queue.extend(rows)
            if len(rows) == FETCH:
                self._stale = True  # more is due: asked for again when these are started
            self._next_at = self.db.next_due(now)
            more, blocked = self._start_queued(nursery, client, free - started)
            started += more
        if self._queue and not blocked:
            return None  # more is due: a finished send wakes us
        if self._stale:
            return now  # look again at once
        return self._next_at

    def _start_queued(
        self, nursery: trio.Nursery, client: PostClient, free: int
    ) -> tuple[int, bool]:
        """Start up to ``free`` queued deliveries whose endpoint has room; return how many
        started and whether all that stay queued wait for their endpoint's room."""
        limit = self.settings.endpoint_concurrency
        waiting: list[Due] = []
        started = 0
        queue = self._queue
        while queue and started < free:
            due = queue.popleft()
            if self._sending[due.endpoint_id] >= limit:
                waiting.append(due)
                continue
            target = self._target(due.endpoint_id)
            if target is None:
                continue
            self._busy.add(due.id)
            self._sending[due.endpoint_id] += 1
            self._in_flight += 1
            nursery.start_soon(self._attempt, client, due, target)
            started += 1
        blocked = bool(waiting) and not queue
        queue.extendleft(reversed(waiting))
        return started, blocked

    def _target(self, endpoint_id: str) -> Target | None:
        target = self._targets.get(endpoint_id)
        if target is None:
            row = self.db.signing_target(endpoint_id)
            if row is None:
                return None
            target = self._targets[endpoint_id] = Target(row[0], signing.secret_key(row[1]))
        return target

    async def _attempt(self, client: PostClient, due: Due, target: Target) -> None:
        try:
            outcome = await self._post(client, due, target)
        except Exception as exc:  # a bug here must not stop every other delivery
            log.exception("webhooks: delivery %d failed unexpectedly", due.id)
            outcome = self._failure(due, None, f"internal error: {type(exc).__name__}")
        finally:
            self._sending[due.endpoint_id] -= 1
            if not self._sending[due.endpoint_id]:
                del self._sending[due.endpoint_id]
            self._in_flight -= 1
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
            return self._failure(due, None, f"no complete answer within {timeout:g} s")
        except DeliveryError as exc:
            return self._failure(due, None, str(exc)[:300])
        status = answer.status
        if 200 <= status < 300:
            return Outcome(due.id, due.endpoint_id, True, status, None)
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error += f": redirects are not followed (Location: {answer.location})"
        else:
            snippet = " ".join(answer.body.decode("utf-8", "replace").split())[:SNIPPET]
            if snippet:
                error += f": {snippet}"
        return self._failure(due, status, error[:300], gone=status == 410)

    def _failure(self, due: Due, status: int | None, error: str, gone: bool = False) -> Outcome:
        """A failed attempt: retried on the schedule (with ±10 % jitter) until it runs out."""
        schedule = self.settings.retry_schedule
        attempt = due.attempts + 1
        retry_at = None
        if not gone and attempt <= len(schedule):
            retry_at = time.time() + schedule[attempt - 1] * self.rng.uniform(0.9, 1.1)
        return Outcome(due.id, due.endpoint_id, False, status, error, retry_at, gone)

    # -- recording ---------------------------------------------------------------------

    async def _record_loop(self) -> None:
        while True:
            await self._results_ready.wait()
            self._results_ready = trio.Event()
            self._record()
            self._wake.set()

    def _record(self) -> None:
        batch, self._results = self._results, []
        if not batch:
            return
        try:
            disabled = self.db.record(batch, self.settings.disable_after)
        except StorageFull:  # logged once by the store; no traceback for each batch
            disabled = []
        except Exception:
            log.exception(
                "webhooks: could not record %d attempts; they will be sent again", len(batch)
            )
            disabled = []
        self._recorded.set()
        self._recorded = trio.Event()
        for outcome in batch:
            self._busy.discard(outcome.delivery_id)
            if outcome.retry_at is not None:
                self._stale = True  # its retry is a new due time
            if outcome.ok or outcome.retry_at is None:
                self._finished[outcome.endpoint_id] += 1
        for endpoint_id in disabled:
            log.warning("webhook %s disabled", endpoint_id)
            self.forget(endpoint_id)
        every = max(100, self.settings.log_keep // 10)
        for endpoint_id, count in list(self._finished.items()):
            if count >= every:
                with contextlib.suppress(StorageFull):  # pruned at the next count
                    self.db.prune(endpoint_id, self.settings.log_keep)
                    del self._finished[endpoint_id]
