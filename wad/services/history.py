"""History sync, opt-in per session: the ``history`` setting.

- ``none`` (the default): nothing of the past is kept; history batches that WhatsApp
  sends all the same (it always sends recent chats after a pairing) are dropped.
- ``recent``: the batches WhatsApp sends after a pairing (its default: recent
  messages of recent chats) are stored as messages marked ``history: true``.
- ``full``: as ``recent``, and the device asks, when it is paired, for the full
  history (neonize's ``DeviceProps.requireFullSync`` with an unlimited
  ``HistorySyncConfig``); WhatsApp then sends more, in more batches.

What a device asks for is fixed when it is paired (WhatsApp reads the device
properties only then): a change to ``full`` applies to the next pairing; what is
stored (none vs. recent/full) follows the setting at once.
"""

from __future__ import annotations

from wad.errors import bad_request

__all__ = ["MODES", "validate"]

MODES = ("none", "recent", "full")


def validate(value: object) -> str | None:
    if value is None:
        return None
    if value not in MODES:
        raise bad_request(f"history must be one of {', '.join(MODES)}")
    return str(value)
