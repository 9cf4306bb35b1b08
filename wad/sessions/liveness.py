"""Is a connected session's engine still there? The watchdog of one connection.

A session that says ``connected`` may be a zombie: the worker hung in Go, the TCP
connection half-open, WhatsApp's keep-alives failing. Two signs are watched here:

- *silence*: no event for ``interval`` seconds; the engine is then probed (the
  ``ping`` command, a round trip to the worker and whatsmeow's ``IsConnected``), and a
  probe unanswered within ``timeout`` seconds, or answered "not connected", ends
  the connection (cause ``unresponsive``);
- *degradation*: keep-alive timeouts reported by the engine with no keep-alive
  restored for ``degraded_limit`` seconds end it too (cause ``degraded``); whatsmeow
  itself gives up after 3 minutes of failures, so the default is below that.

The session then reconnects with its usual backoff; the cause is logged, stored as
``lastError``, carried by the ``session.status`` event and counted on ``/metrics``.
Every wait is on trio's clock, so the tests drive it with ``autojump_clock``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from wad.engines.contract import EngineError

__all__ = ["LivenessTiming", "Watchdog"]


@dataclass(frozen=True, slots=True)
class LivenessTiming:
    interval: float = 60.0  # quiet this long (no event): probe the engine
    timeout: float = 20.0  # a probe's answer within this, or the connection is dead
    degraded_limit: float = 120.0  # keep-alives failing this long: reconnect


class Watchdog:
    """One connection's signs of life; :meth:`wait_dead` returns once it is dead."""

    def __init__(self, timing: LivenessTiming) -> None:
        self.timing = timing
        self.last_event = trio.current_time()
        self.degraded_since: float | None = None
        self._changed = trio.Event()

    def saw_event(self) -> None:
        self.last_event = trio.current_time()

    def degrade(self) -> bool:
        """Keep-alives fail; True when that is news (the session was not degraded)."""
        if self.degraded_since is not None:
            return False
        self.degraded_since = trio.current_time()
        self._changed.set()
        return True

    def restore(self) -> bool:
        """A keep-alive got through again; True when the session was degraded."""
        if self.degraded_since is None:
            return False
        self.degraded_since = None
        self._changed.set()
        return True

    async def wait_dead(self, probe: Callable[[], Awaitable[bool]]) -> tuple[str, str]:
        """Watch until the connection is dead: (cause, what happened, in words).
        ``probe`` answers whether the engine says it is connected, or raises."""
        timing = self.timing
        while True:
            # Compared as deadlines, the very values the waits below use: a difference
            # (now - last >= interval) can miss by a rounding error when the clock
            # stops exactly at the deadline, and the loop would spin.
            now = trio.current_time()
            give_up = None
            if self.degraded_since is not None:
                give_up = self.degraded_since + timing.degraded_limit
            if give_up is not None and now >= give_up:
                return "degraded", (
                    f"WhatsApp's keep-alives failed for {timing.degraded_limit:g} s; reconnecting"
                )
            quiet = now - self.last_event
            probe_at = self.last_event + timing.interval
            if now >= probe_at:
                answer: bool | None = None
                with trio.move_on_after(timing.timeout):
                    try:
                        answer = await probe()
                    except EngineError as exc:
                        return (
                            "unresponsive",
                            f"no event for {quiet:.1f} s and the probe failed: {exc}",
                        )
                if answer is None:
                    return "unresponsive", (
                        f"no event for {quiet:.1f} s and no answer to a probe within"
                        f" {timing.timeout:g} s; restarting"
                    )
                if not answer:
                    return "unresponsive", (
                        f"no event for {quiet:.1f} s and the engine says it is not connected"
                    )
                self.last_event = trio.current_time()  # it answered: alive
                continue
            deadline = probe_at if give_up is None else min(probe_at, give_up)
            with trio.move_on_at(deadline):
                await self._changed.wait()
            self._changed = trio.Event()
