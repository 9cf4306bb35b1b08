"""Calls to a simulated device: a phone rings it (``call_offer``), hangs up
(``call_ended``), and the device may reject a ringing call (the ``reject_call``
command), which the caller's phone records in its log."""

from __future__ import annotations

import secrets
import time
from typing import Any

from wad.engines.contract import EngineError

# The engine's link (SimLink); not imported: the engine imports this module.
SimLink = Any

__all__ = ["hang_up", "reject", "ring"]


def ring(link: SimLink, caller: str, video: bool = False) -> str:
    """The phone ``caller`` (digits) calls the device; the call's id."""
    link.require_connected()
    call_id = secrets.token_hex(16).upper()
    jid = f"{caller}@s.whatsapp.net"
    link.ringing[call_id] = jid
    link.emit(
        "call_offer",
        id=call_id,
        **{"from": jid, "callCreator": jid},
        timestamp=int(time.time()),
        isVideo=video,
        isGroup=False,
    )
    return call_id


def hang_up(link: SimLink, call_id: str) -> None:
    """The caller gives up before the device answers."""
    link.require_connected()
    caller = link.ringing.pop(call_id, None)
    if caller is None:
        raise EngineError("no such ringing call", "not_found")
    link.emit("call_ended", id=call_id, **{"from": caller}, reason="timeout")


async def reject(link: SimLink, params: dict[str, Any]) -> dict[str, Any]:
    """The device rejects a ringing call: the caller's phone sees it declined."""
    call_id = str(params.get("id", ""))
    caller = link.ringing.pop(call_id, None)
    if caller is None:
        raise EngineError("no such ringing call", "not_found")
    await link.engine.phone(link.folder).note(
        {"command": "reject_call", "callId": call_id, "to": caller, "from": params.get("from")}
    )
    return {}
