"""Deliveries dropped beyond an endpoint's cap (``max_pending``): counted, and logged once
per burst, not once per row.

A burst starts with an endpoint's first drop and lasts until it catches up: its
pending deliveries are back under nine tenths of the cap (the margin keeps an
endpoint that hovers at the cap from logging a burst per event), or it is
disabled, enabled again or deleted.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class Overflow:
    def __init__(self) -> None:
        self.dropped_total = 0  # since start, for /metrics
        self._bursts: dict[str, int] = {}  # endpoint -> dropped in its current burst

    def dropped(self, endpoint_id: str, count: int, cap: int) -> None:
        self.dropped_total += count
        if endpoint_id not in self._bursts:
            self._bursts[endpoint_id] = 0
            log.warning(
                "webhook %s: more than %d deliveries pending (max_pending); dropping the"
                " oldest until it catches up",
                endpoint_id,
                cap,
            )
        self._bursts[endpoint_id] += count

    def dropping(self) -> set[str]:
        """The endpoints in a burst."""
        return set(self._bursts)

    def check(self, endpoint_id: str, pending: int, cap: int) -> None:
        """Note an endpoint's pending count after some of its deliveries went."""
        if pending <= cap * 9 // 10:
            self.end(endpoint_id, "caught up")

    def end(self, endpoint_id: str, why: str) -> None:
        count = self._bursts.pop(endpoint_id, None)
        if count is not None:
            log.warning("webhook %s %s; %d deliveries were dropped", endpoint_id, why, count)
