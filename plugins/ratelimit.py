"""Two limits: requests per API key (GCRA), and a per-session send pace.

- ``per_minute`` (``WAD_RATELIMIT_PER_MINUTE``, default 600): requests a minute
  for each caller: a session's key, the admin token, or, for requests without
  valid credentials, the client's address. Bursts up to the whole minute's quota.
- ``send_interval`` (``WAD_SEND_INTERVAL``, default 1.0 s; 0 turns it off): the
  least time between two messages of one session, plus a random 0-50 % more,
  so a WhatsApp account does not send like a machine (a common cause of bans).
  Sends within the interval wait their turn; at most ``send_queue``
  (``WAD_SEND_QUEUE``, default 100) may wait per session, more get 429.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable
from typing import TYPE_CHECKING

import trio

from wad import hookimpl
from wad.auth.principal import Principal
from wad.auth.rate import RateDecision
from wad.config import plugin_setting

if TYPE_CHECKING:
    from wad.hooks import DaemonAPI

WINDOW = 60


class Gcra:
    """Generic cell rate algorithm: one timestamp per key, no background task."""

    def __init__(self, per_minute: int) -> None:
        self.limit = per_minute
        self.interval = WINDOW / per_minute
        self.tat: dict[str, float] = {}

    def check(self, key: str, now: float) -> RateDecision:
        tat = max(self.tat.get(key, now), now)
        allow_at = tat + self.interval - WINDOW
        if now < allow_at:
            return RateDecision(
                False, "per-key", self.limit, WINDOW, 0, tat - now, retry_after=allow_at - now
            )
        new_tat = tat + self.interval
        self.tat[key] = new_tat
        if len(self.tat) > 10_000:
            self.tat = {k: t for k, t in self.tat.items() if t > now}
        remaining = math.floor((WINDOW - (new_tat - now)) / self.interval)
        return RateDecision(True, "per-key", self.limit, WINDOW, remaining, new_tat - now)


class Pacer:
    """Hands out send slots per session, ``interval`` (+ jitter) apart."""

    def __init__(self, interval: float, queue: int, rng: random.Random | None = None) -> None:
        self.interval = interval
        self.queue = queue
        self.rng = rng or random.Random()
        self.next_slot: dict[str, float] = {}
        self.waiting: dict[str, int] = {}

    def reserve(self, device_id: str) -> float | None:
        """The time at which this send may go, or None when too many already wait."""
        if self.waiting.get(device_id, 0) >= self.queue:
            return None
        now = trio.current_time()
        slot = max(now, self.next_slot.get(device_id, now))
        self.next_slot[device_id] = slot + self.interval * (1 + 0.5 * self.rng.random())
        return slot

    async def wait(self, device_id: str, slot: float) -> None:
        self.waiting[device_id] = self.waiting.get(device_id, 0) + 1
        try:
            await trio.sleep_until(slot)
        finally:
            self.waiting[device_id] -= 1


class RateLimitPlugin:
    def __init__(self) -> None:
        self.gcra: Gcra | None = None
        self.pacer: Pacer | None = None

    def configure(self, daemon: DaemonAPI) -> None:
        per_minute = plugin_setting(
            daemon.config, "ratelimit", "per_minute", "WAD_RATELIMIT_PER_MINUTE", 600, int
        )
        self.gcra = Gcra(per_minute) if per_minute > 0 else None
        interval = plugin_setting(
            daemon.config, "ratelimit", "send_interval", "WAD_SEND_INTERVAL", 1.0, float
        )
        queue = plugin_setting(daemon.config, "ratelimit", "send_queue", "WAD_SEND_QUEUE", 100, int)
        self.pacer = Pacer(interval, queue) if interval > 0 else None

    @hookimpl
    def wad_startup(self, daemon: DaemonAPI) -> None:
        self.configure(daemon)

    @hookimpl
    def wad_reload(self, daemon: DaemonAPI) -> None:
        self.configure(daemon)

    @hookimpl
    def wad_rate_limit(self, principal: Principal, action: str, key: str) -> RateDecision | None:
        if self.gcra is None or action != "http":
            return None
        return self.gcra.check(key, trio.current_time())

    @hookimpl
    def wad_before_send(self, device_id: str) -> str | Awaitable[None] | None:
        if self.pacer is None:
            return None
        slot = self.pacer.reserve(device_id)
        if slot is None:
            return f"more than {self.pacer.queue} messages are waiting for this session's send pace"
        if slot <= trio.current_time():
            return None
        return self.pacer.wait(device_id, slot)
