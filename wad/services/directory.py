"""What a session's account can look up on WhatsApp: which numbers are on it, the
groups it is in."""

from __future__ import annotations

from typing import Any

from wad import validation
from wad.errors import bad_request
from wad.services import calls, outbound
from wad.services.lookup import Lookup
from wad.store import Store

__all__ = ["Directory"]

CHECK_MAX = 50


class Directory:
    def __init__(self, lookup: Lookup, store: Store) -> None:
        self.lookup = lookup
        self.store = store

    async def check_numbers(self, device_id: object, numbers: object) -> list[dict[str, Any]]:
        if not isinstance(numbers, list) or not 1 <= len(numbers) <= CHECK_MAX:
            raise bad_request(f"numbers must be a list of 1-{CHECK_MAX} phone numbers")
        clean = [validation.phone_number(n, "numbers[]") for n in numbers]
        session = await self.lookup.session(device_id)
        result = await calls.call(self.store, session, "check_numbers", {"numbers": clean})
        return list(result.get("results", []))

    async def groups(self, device_id: object) -> list[dict[str, Any]]:
        session = await self.lookup.session(device_id)
        return list((await calls.call(self.store, session, "groups", {})).get("groups", []))

    async def group(self, device_id: object, group_id: object) -> dict[str, Any]:
        jid = outbound.recipient(group_id, "groupId")
        if not outbound.is_group(jid):
            raise bad_request("groupId must be a group JID (...@g.us)")
        session = await self.lookup.session(device_id)
        return dict((await calls.call(self.store, session, "group", {"id": jid})).get("group", {}))
