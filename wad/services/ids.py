"""A person's two ids on WhatsApp: the phone-number JID and the LID, one from the other
(the engine's map: whatsmeow's LID store with neonize, the network with the simulator)."""

from __future__ import annotations

from typing import Any

from wad.errors import bad_request
from wad.services import calls, outbound
from wad.services.lookup import Lookup
from wad.store import Store

__all__ = ["Ids"]


class Ids:
    def __init__(self, lookup: Lookup, store: Store) -> None:
        self.lookup = lookup
        self.store = store

    async def resolve(self, device_id: object, jid: object) -> dict[str, Any]:
        """``{"jid", "phone", "lid", "phoneNumber"}`` of a phone number, user JID or LID;
        a form the session does not know is null."""
        target = outbound.recipient(jid, "jid")
        if outbound.is_group(target):
            raise bad_request(
                "jid must name a person (a phone number, user JID or LID), not a group"
            )
        session = await self.lookup.session(device_id)
        result = await calls.call(self.store, session, "resolve_ids", {"jid": target})
        return {k: result.get(k) for k in ("jid", "phone", "lid", "phoneNumber")}
