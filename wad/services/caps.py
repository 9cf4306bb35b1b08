"""Pacing for WhatsApp's caps: a session's daily cap on messages to people who never
wrote to it, the pattern WhatsApp restricts and bans (``SEND_TO_TOO_MANY_PEOPLE``).

The cap is ``newContactDailyCap`` of the session, else the daemon's
``WAD_NEW_CONTACT_DAILY_CAP`` (default 200; 0: no cap). A day is a UTC day. A contact
counts as known once a message from it was stored (``known_contacts``); groups are
not capped. A send over the cap is refused before anything is stored: 429
``rate_limited`` naming the cap and when it resets, with ``Retry-After``.

Sends are counted in memory from the first of each day, which is read from the
messages sent that day (so a daemon restart does not reset the count).
"""

from __future__ import annotations

import math
import time

from wad.config import Config
from wad.errors import WadError
from wad.services.settings import SessionSettings
from wad.store import Store
from wad.store.clock import iso_at

__all__ = ["NewContactCap"]

DAY = 86_400


class NewContactCap:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.settings = SessionSettings(store)
        self._counts: dict[str, tuple[int, int]] = {}  # device id -> (UTC day, sends)

    async def cap(self, device_id: str) -> int:
        own = await self.settings.value(device_id, "newContactDailyCap")
        return self.config.new_contact_daily_cap if own is None else int(own)

    async def admit(self, device_id: str, to: str) -> None:
        """Count a send to ``to``, or refuse it (429) when the day's cap is reached."""
        if to.endswith(("@g.us", "@broadcast", "@newsletter")):
            return
        cap = await self.cap(device_id)
        if cap == 0 or await self.store.read(lambda q: q.is_known_contact(device_id, to)):
            return
        now = time.time()
        day = int(now // DAY)
        held = self._counts.get(device_id)
        if held is not None and held[0] == day:
            sent = held[1]
        else:
            sent = await self._read(device_id, day)
        if sent >= cap:
            resets = (day + 1) * DAY
            raise WadError(
                "rate_limited",
                f"Daily cap reached: {sent} messages today to contacts who never wrote to this"
                f" session (newContactDailyCap {cap}); it resets at {iso_at(resets, 'seconds')}",
                {"Retry-After": str(max(1, math.ceil(resets - now)))},
            )
        self._counts[device_id] = (day, sent + 1)

    async def _read(self, device_id: str, day: int) -> int:
        since = iso_at(day * DAY)
        return await self.store.read(lambda q: q.sends_to_unknown_since(device_id, since))

    def forget(self, device_id: str) -> None:
        self._counts.pop(device_id, None)
