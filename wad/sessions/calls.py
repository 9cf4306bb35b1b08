"""Incoming calls: each offer and end an event (``call.offer``, ``call.ended``), and, for
a session set to ``rejectCalls``, the call rejected at once and, with
``rejectCallsMessage``, a text sent to the caller (stored like any sent message).

WhatsApp carries no call audio to a linked device that wad could use: a call can only
be seen, and rejected (neonize's ``reject_call``, whatsmeow's ``RejectCall``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Protocol

from wad.engines.contract import EngineError
from wad.store import id_bits

if TYPE_CHECKING:
    import trio

    from wad.engines.link import Link
    from wad.sessions.events import EventLog
    from wad.sessions.faults import Faults
    from wad.store import Store


class Session(Protocol):
    """What calls need of their session (the session imports this module)."""

    device_id: str
    store: Store
    events: EventLog
    faults: Faults
    tasks: trio.Nursery | None


log = logging.getLogger(__name__)

ENDED_KEPT = 64  # calls whose end was reported, so the engine's own report is not repeated


class Calls:
    """One session's calls; it acts through the session's live link."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._ended: OrderedDict[str, None] = OrderedDict()

    async def offer(self, link: Link, data: dict[str, Any]) -> None:
        """A call rings: tell, and reject it when the session is set to."""
        session = self.session
        settings = await session.store.read(lambda q: q.session_settings(session.device_id))
        reject = bool(settings.get("rejectCalls", False))
        call_id, caller = str(data.get("id", "")), str(data.get("from", ""))
        await session.events.emit(
            session.device_id,
            "call.offer",
            {
                "callId": call_id,
                "from": caller,
                "timestamp": data.get("timestamp"),
                "isVideo": bool(data.get("isVideo", False)),
                "isGroup": bool(data.get("isGroup", False)),
                "autoReject": reject,
            },
        )
        if reject and session.tasks is not None and call_id and caller:
            reply = settings.get("rejectCallsMessage")
            # Rejected naming the caller as WhatsApp did (maybe a privacy id); the
            # reply goes to the person (by phone number when known).
            creator = str(data.get("callCreator") or caller)
            session.tasks.start_soon(self._reject, link, call_id, caller, creator, reply)

    async def ended(self, data: dict[str, Any]) -> None:
        call_id = str(data.get("id", ""))
        if call_id in self._ended:
            return  # wad reported it when it rejected the call
        await self._report_end(
            call_id, str(data.get("from", "")), str(data.get("reason") or "ended")
        )

    async def _report_end(self, call_id: str, caller: str, reason: str) -> None:
        self._ended[call_id] = None
        while len(self._ended) > ENDED_KEPT:
            self._ended.popitem(last=False)
        await self.session.events.emit(
            self.session.device_id,
            "call.ended",
            {"callId": call_id, "from": caller, "reason": reason},
        )

    async def _reject(
        self, link: Link, call_id: str, caller: str, creator: str, reply: str | None
    ) -> None:
        try:
            await self._reject_and_reply(link, call_id, caller, creator, reply)
        except Exception as exc:  # one call's failure never takes the session down
            self.session.faults.record(
                self.session.device_id, "event", f"could not handle call {call_id[:64]}", exc
            )

    async def _reject_and_reply(
        self, link: Link, call_id: str, caller: str, creator: str, reply: str | None
    ) -> None:
        device_id = self.session.device_id
        try:
            await link.call("reject_call", {"id": call_id, "from": creator})
        except EngineError as exc:
            log.warning("session %s: could not reject call %s: %s", device_id, call_id, exc)
            return
        log.info("session %s: rejected call %s", device_id, call_id)
        await self._report_end(call_id, caller, "rejected")
        if reply:
            await self._reply(link, caller, reply)

    async def _reply(self, link: Link, caller: str, text: str) -> None:
        """The text to the caller, stored and reported as a sent message."""
        store, events = self.session.store, self.session.events
        device_id = self.session.device_id
        # The caller as a chat: its user part on WhatsApp's user server (a call names
        # the caller's device, and may name it by a privacy id: kept as it is).
        user, _, server = caller.partition("@")
        to = f"{user.split(':')[0]}@{server or 's.whatsapp.net'}"
        message_id = f"3EB0{id_bits(80):020X}"
        await store.run(
            lambda q: q.insert_outgoing(
                message_id, device_id, to, "text", text, {"callReply": True}
            )
        )
        params = {"id": message_id, "to": to, "type": "text", "text": text}
        try:
            result = await link.call("send", params)
        except EngineError as exc:
            error = str(exc)
            await store.run(lambda q: q.mark_failed(message_id, error))
            log.warning("session %s: could not answer a rejected call: %s", device_id, exc)
            return
        wa_id = str(result.get("id") or message_id)
        await events.emit(
            device_id,
            "message.sent",
            {"id": message_id, "waId": wa_id, "to": to, "type": "text"},
            also=lambda q: q.mark_sent(message_id, wa_id),
        )
