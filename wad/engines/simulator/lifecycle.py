"""What WhatsApp does to a connection beyond messages, simulated: another client takes
the device over, the account is banned for a while, the connection goes silent
without closing, keep-alives fail. Each as whatsmeow reports it through neonize (the
engine events ``replaced``, ``banned``, ``keepalive_timeout``...), so the daemon's
handling of each is tested end to end.

A ban is the network's: it is kept by the engine for the session's folder (the
account), so a connection attempt before it ends is banned again at once, as
WhatsApp refuses it, and one after it connects.
"""

from __future__ import annotations

import math
from typing import Any

import trio

from wad.engines.contract import EngineError

# The engine's link (SimLink); not imported: the engine imports this module.
SimLink = Any

__all__ = ["BAN_CODES", "KEEPALIVE_INTERVAL", "ban", "keepalive", "replace", "silence"]

#: whatsmeow's TemporaryBan reasons, as neonize names them.
BAN_CODES = (
    "SEND_TO_TOO_MANY_PEOPLE",
    "BLOCKED_BY_USERS",
    "CREATED_TOO_MANY_GROUPS",
    "SENT_TOO_MANY_SAME_MESSAGE",
    "BROADCAST_LIST",
)
#: whatsmeow sends a keep-alive every 20-30 s; a failing one is reported each time.
KEEPALIVE_INTERVAL = 25.0


def replace(link: SimLink) -> None:
    """Another client connects with this device's credentials (StreamReplaced)."""
    link.require_connected()
    link.emit("replaced", reason="another client connected with this device's credentials")


def ban(link: SimLink, seconds: float, code: str) -> None:
    """WhatsApp bans the account for ``seconds`` (TemporaryBan); the connection ends."""
    if code not in BAN_CODES:
        raise EngineError(f"code must be one of {', '.join(BAN_CODES)}", "bad_request")
    link.require_connected()
    seconds = math.ceil(seconds)  # WhatsApp counts a ban in whole seconds
    link.engine.bans[link.folder] = (trio.current_time() + seconds, code)
    link.emit("banned", code=code, expiresIn=seconds)


def banned(link: SimLink) -> bool:
    """At connect time: the account is still banned (the connection is refused so)."""
    held = link.engine.bans.get(link.folder)
    if held is None:
        return False
    until, code = held
    left = until - trio.current_time()
    if left <= 0:
        del link.engine.bans[link.folder]
        return False
    link.emit("banned", code=code, expiresIn=math.ceil(left))
    return True


def silence(link: SimLink) -> None:
    """The connection goes dead without closing (a half-open socket, a hung engine):
    nothing more arrives, and no command is answered."""
    link.require_connected()
    link.silenced = True


def keepalive(link: SimLink, failing: bool) -> None:
    """Keep-alives start failing (reported every :data:`KEEPALIVE_INTERVAL` seconds
    until restored) or get through again."""
    link.require_connected()
    if failing and link.keepalive_failing is None:
        link.keepalive_failing = trio.CancelScope()
        link.nursery.start_soon(_fail_keepalives, link, link.keepalive_failing)
    elif not failing and link.keepalive_failing is not None:
        link.keepalive_failing.cancel()
        link.keepalive_failing = None
        link.emit("keepalive_restored")


async def _fail_keepalives(link: SimLink, scope: trio.CancelScope) -> None:
    last_success = int(trio.current_time())
    with scope:
        count = 0
        while True:
            count += 1
            link.emit("keepalive_timeout", errorCount=count, lastSuccess=last_success)
            await trio.sleep(KEEPALIVE_INTERVAL)
