"""The webhook plugin's figures on ``/metrics`` (hook ``wad_metrics``): deliveries in the
log by status with their retries, those dropped over the cap, and the delivery worker's
own figures.

The log is counted on a read-only connection of its own in a worker thread, as
the core counts its messages, so a scrape of a long log never holds up the loop.
"""

from __future__ import annotations

from pathlib import Path

import trio

from wad.metrics import registry
from wad.store import Store
from wad.store.base import Db

Counts = dict[str, tuple[int, int]]  # status -> (deliveries, retries)


def count_deliveries(db_path: Path) -> Counts:
    """Deliveries by status, with their retries (attempts after the first)."""
    db = registry.read_only(db_path)
    try:
        return delivery_counts(db)
    finally:
        db.close()


def delivery_counts(db: Db) -> Counts:
    """The same on any store's handle (PostgreSQL's store counts through its ``read``)."""
    rows = db.execute(
        "SELECT status, count(*),"
        " coalesce(sum(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0)"
        " FROM webhook_deliveries GROUP BY status"
    )
    return {status: (n, retries) for status, n, retries in rows}


async def families(store: Store, worker_figures: dict[str, int]) -> list[str]:
    if store.dialect == "sqlite":  # on a connection of its own, in a thread
        deliveries = await trio.to_thread.run_sync(count_deliveries, store.path)
    else:
        deliveries = await store.read(lambda q: delivery_counts(q.db))
    figures = {k: v for k, v in worker_figures.items() if k != "dropped"}
    return [
        registry.family(
            "wad_webhook_dropped_total",
            "counter",
            "Webhook deliveries dropped since start: the oldest pending beyond an"
            " endpoint's max_pending.",
            [((), worker_figures.get("dropped", 0))],
        ),
        registry.family(
            "wad_webhook_deliveries",
            "gauge",
            "Webhook deliveries in the delivery log, by status.",
            [((("status", s),), n) for s, (n, _) in sorted(deliveries.items())],
        ),
        registry.family(
            "wad_webhook_retries",
            "gauge",
            "Retries (attempts after the first) of the deliveries in the log, by status.",
            [((("status", s),), r) for s, (_, r) in sorted(deliveries.items())],
        ),
        registry.render_numbers(
            "wad_webhook_worker",
            "The webhook delivery worker: attempts since start, sends in flight (of"
            " endpoints that timed out last: slow), endpoints with fewer slots after"
            " timeouts, deliveries queued, attempts not yet recorded.",
            "gauge",
            "figure",
            figures,
        ),
    ]
