"""Store calls that must complete although their task was cancelled.

A cleanup (a failed send's claim released, its file's row forgotten) often runs in
an ``except BaseException`` or ``finally`` reached by a cancellation: a client gone,
the daemon stopping. On SQLite a store call there runs inline, with no checkpoint,
so it completes. On PostgreSQL it is a thread hop (``trio.to_thread``), a checkpoint:
in a cancelled scope it raises ``Cancelled`` before it starts, and the cleanup is
lost (a claim left open, held by this process, answers "still being sent" until the
daemon restarts). Such calls go in :func:`shielded`: shielded from the cancellation,
but bounded, so a cleanup never holds up a stop for long.

The bound covers the wait for a pooled connection; a statement already running in
its thread runs to its end (the pool never abandons a transaction half-way).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio

#: Seconds a cleanup's store calls may take after a cancellation.
CLEANUP_BOUND = 5.0


@contextmanager
def shielded(bound: float = CLEANUP_BOUND) -> Iterator[trio.CancelScope]:
    """Run the block despite a cancellation around it, for at most ``bound`` seconds;
    the scope yielded says whether the bound cut it short (``cancelled_caught``)."""
    with trio.CancelScope(shield=True), trio.move_on_after(bound) as scope:
        yield scope
