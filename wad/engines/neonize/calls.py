"""neonize's call events as the engine's ``call_offer`` / ``call_ended``, and the
rejection of a call (``reject_call``, present in neonize 0.5.2: whatsmeow's
``Client.RejectCall``).

neonize 0.5 forwards whatsmeow's call events CallOffer (36), CallOfferNotice (40: a
group call), CallTerminate (42) and the rest (accept, pre-accept, transport, relay
latency, unknown), which a linked device has no use for. A call carries no audio to
wad: it can be seen and rejected, nothing more.
"""

from __future__ import annotations

from typing import Any

from neonize.proto import Neonize_pb2 as pb

from wad.engines import text
from wad.engines.contract import EngineEvent


# The bridge's JID rules (user@server, a LID's phone number first), restated here: the
# bridge registers these translators, so this module cannot import it.
def _jid(jid: pb.JID) -> str:
    user, server = text.repaired(jid.User), text.repaired(jid.Server)
    return f"{user}@{server}" if user else server


def _meta(meta: pb.BasicCallMeta) -> dict[str, Any]:
    creator = meta.callCreator if meta.callCreator.User else getattr(meta, "from")
    alt = meta.callCreatorAlt
    person = alt if creator.Server == "lid" and alt.User else creator
    stamp = meta.timestamp
    return {
        "id": meta.callID,
        # The person, by phone number when WhatsApp gave one beside a privacy id...
        "from": _jid(person),
        # ...and as WhatsApp named the caller: reject_call must name it so.
        "callCreator": _jid(creator),
        # neonize 0.5 sends milliseconds (as MessageInfo.Timestamp), older ones seconds
        "timestamp": stamp // 1000 if stamp > 100_000_000_000 else stamp,
    }


def offer(event: pb.CallOffer) -> EngineEvent:
    return EngineEvent(
        "call_offer", {**_meta(event.basicCallMeta), "isVideo": False, "isGroup": False}
    )


def offer_notice(event: pb.CallOfferNotice) -> EngineEvent:
    """A group call (or one offered to several devices): ``media`` is audio or video."""
    return EngineEvent(
        "call_offer",
        {
            **_meta(event.basicCallMeta),
            "isVideo": event.media == "video",
            "isGroup": event.type == "group",
        },
    )


def terminate(event: pb.CallTerminate) -> EngineEvent:
    return EngineEvent(
        "call_ended", {**_meta(event.basicCallMeta), "reason": event.reason or "ended"}
    )
