"""Retention: messages, events and idempotency keys older than ``retention_days`` are
deleted in the background, with the media files of the messages, in batches of
:data:`BATCH` rows with a checkpoint between (the event loop serves requests in
between: a batch is one short transaction, ~1 ms). A pass runs soon after start, then
every :data:`INTERVAL` seconds. ``retention_days = 0`` keeps everything.

A pass that fails (the disk is full: a delete needs room in SQLite's log too) is
counted (``wad_faults_total{cause="retention"}``) and tried again at the next period.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from wad.services import media
from wad.sessions.faults import Faults
from wad.store import Queries, Store
from wad.store.clock import iso_at
from wad.store.retention import PRUNED, Batch

log = logging.getLogger(__name__)

BATCH = 500
INTERVAL = 3600.0
FIRST_PASS_AFTER = 60.0  # not in the way of the sessions' start
DAY = 86400.0


@dataclass
class Pruned:
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PRUNED, 0))
    files: int = 0
    batches: int = 0


async def prune_once(store: Store, now: float, days: float, batch: int = BATCH) -> Pruned:
    """Delete what is older than ``days`` before ``now`` (Unix time), batch by batch."""
    cutoff = iso_at(now - days * DAY)
    pruned = Pruned()
    for table in PRUNED:
        while True:
            done = await store.run(functools.partial(_prune_batch, table, cutoff, batch))
            pruned.batches += 1
            pruned.rows[table] += done.deleted
            if done.files:
                await trio.to_thread.run_sync(_remove, done.files)
                pruned.files += len(done.files)
            await trio.lowlevel.checkpoint()  # let the daemon's other work in
            if not done.more:
                break
    return pruned


def _prune_batch(table: str, cutoff: str, batch: int, q: Queries) -> Batch:
    return q.prune_batch(table, cutoff, batch)


def _remove(paths: list[str]) -> None:
    for path in paths:
        media.discard(path)


async def prune_forever(
    store: Store,
    days: float,
    faults: Faults,
    *,
    clock: Callable[[], float] = time.time,
    interval: float = INTERVAL,
    first_after: float = FIRST_PASS_AFTER,
    after_pass: Callable[[Pruned], object] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Prune every ``interval`` seconds, for ever (nothing when ``days`` is 0);
    ``after_pass`` is told what each pass deleted."""
    task_status.started()
    if days <= 0:
        return
    await trio.sleep(first_after)
    while True:
        try:
            pruned = await prune_once(store, clock(), days)
        except Exception as exc:
            faults.record(None, "retention", "a pruning pass failed; it runs again later", exc)
        else:
            if any(pruned.rows.values()):
                log.info(
                    "retention (%g days): deleted %s and %d media file(s)",
                    days,
                    ", ".join(f"{n} {table}" for table, n in pruned.rows.items()),
                    pruned.files,
                )
            if after_pass is not None:
                after_pass(pruned)
        await trio.sleep(interval)
