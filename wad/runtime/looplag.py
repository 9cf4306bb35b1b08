"""The event-loop lag monitor: how late the loop wakes a sleeping task.

Every ``interval`` seconds a task asks to be woken; whatever it wakes up later
than asked is time the loop spent on something else (a long synchronous
statement, a busy handler). Each sample goes to the metrics (a gauge of the
latest one and a histogram); a lag past ``warn_after`` is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

log = logging.getLogger(__name__)

INTERVAL = 0.25
WARN_AFTER = 1.0


async def monitor(
    observe: Callable[[float], None],
    interval: float = INTERVAL,
    warn_after: float = WARN_AFTER,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Sample the lag forever; ``observe(seconds)`` gets each sample."""
    task_status.started()
    while True:
        asked = trio.current_time() + interval
        await trio.sleep_until(asked)
        lag = max(0.0, trio.current_time() - asked)
        observe(lag)
        if lag >= warn_after:
            log.warning("the event loop was blocked for %.2f s", lag)
