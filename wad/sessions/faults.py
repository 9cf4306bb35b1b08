"""Faults contained to one item (one engine event, one incoming message, one pass of a
session's task): each is logged once with its session's id and counted by cause, for
``wad_faults_total{cause}`` in ``/metrics``. The item fails alone; the session, the
other sessions and the daemon go on.

Causes:

- ``invalid_text``: received text that was not valid Unicode, replaced (not a failure:
  the message was kept, its original bytes under ``raw``);
- ``message``: an incoming message could not be stored as it came (it was then stored
  reduced to what could be kept, or, failing that too, dropped: see the log);
- ``event``: handling an engine event failed (the event was skipped);
- ``engine``: the engine reported a failure of its own on one item (a neonize event it
  could not translate);
- ``session``: a session's task failed outside any one item: it starts over after a
  backoff delay;
- ``storage_full``: a write of a session found the disk full: the session waits and
  tries the same write again (logged once by the store, when it fills and when it has
  room again, not here);
- ``retention``: a pruning pass failed (it runs again at the next period).
"""

from __future__ import annotations

import logging
from collections import Counter

log = logging.getLogger(__name__)

CAUSES = ("invalid_text", "message", "event", "engine", "session", "storage_full", "retention")


class Faults:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def record(
        self, device_id: str | None, cause: str, what: str, exc: BaseException | None = None
    ) -> None:
        """Count one fault and log it, once: with its traceback when it is a bug.
        ``device_id`` is None for a fault of no one session (a pruning pass)."""
        self.counts[cause] += 1
        if cause == "storage_full":
            return  # the store logs the disk filling up and freeing, once each
        where = "" if device_id is None else f"session {device_id}: "
        if exc is None:
            log.warning("%s%s", where, what)
        else:
            log.error("%s%s: %r", where, what, exc, exc_info=exc)

    def statistics(self) -> dict[str, int]:
        """Every cause, zero or not, so a scrape shows the series from the start."""
        return {cause: self.counts.get(cause, 0) for cause in CAUSES}
