"""The people a session's account knows: its contacts (searched and paged), another
user's profile (about text, picture), its blocklist, and presence subscriptions."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from wad.errors import WadError, bad_request
from wad.services import calls, outbound
from wad.services.lookup import Lookup
from wad.store import Store

__all__ = ["CONTACTS_PAGE_MAX", "Contacts", "page_limit", "user_jid"]

CONTACTS_PAGE_MAX = 200
QUERY_MAX = 100
PICTURES_MAX = 50  # profile pictures asked for at most this many contacts a page


def user_jid(value: object, field: str = "jid") -> str:
    """A phone number or a user JID, as a user JID (groups are not people)."""
    jid = outbound.recipient(value, field)
    if outbound.is_group(jid):
        raise bad_request(f"{field} must be a phone number or a user JID (...@s.whatsapp.net)")
    return jid


def page_limit(value: object, most: int, default: int = 50) -> int:
    if value is None or value == "":
        return default
    try:
        count: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        count = 0
    if isinstance(value, bool) or not 1 <= count <= most:
        raise bad_request(f"limit must be a number from 1 to {most}")
    return count


def _cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _after(cursor: object) -> tuple[str, str] | None:
    if cursor is None or cursor == "":
        return None
    try:
        padded = str(cursor) + "=" * (-len(str(cursor)) % 4)
        name, jid = json.loads(base64.urlsafe_b64decode(padded))
        return str(name), str(jid)
    except (ValueError, TypeError, binascii.Error):
        raise bad_request("cursor must be a nextCursor from an earlier page") from None


def contact_json(raw: dict[str, Any]) -> dict[str, Any]:
    jid = str(raw.get("jid", ""))
    business = str(raw.get("businessName") or "")
    return {
        "jid": jid,
        "phoneNumber": jid.split("@")[0] if jid.endswith("@s.whatsapp.net") else None,
        "name": raw.get("name") or None,
        "pushName": raw.get("pushName") or None,
        "businessName": business or None,
        "isBusiness": bool(business),
    }


def _sort_key(contact: dict[str, Any]) -> tuple[str, str]:
    shown = contact["name"] or contact["pushName"] or contact["businessName"] or ""
    return shown.casefold(), contact["jid"]


class Contacts:
    def __init__(self, lookup: Lookup, store: Store) -> None:
        self.lookup = lookup
        self.store = store

    async def _call(self, device_id: object, command: str, **params: Any) -> dict[str, Any]:
        return await calls.call(self.store, await self.lookup.session(device_id), command, params)

    async def page(
        self,
        device_id: object,
        query: object = None,
        limit: object = 50,
        cursor: object = None,
        pictures: object = False,
    ) -> dict[str, Any]:
        """Contacts by name (then JID), those matching ``query`` (in a name, push name,
        business name or number, case-insensitive); ``nextCursor`` for the next page."""
        if query is not None and (not isinstance(query, str) or len(query) > QUERY_MAX):
            raise bad_request(f"q must be a string of at most {QUERY_MAX} characters")
        count = page_limit(limit, CONTACTS_PAGE_MAX)
        after = _after(cursor)
        with_pictures = pictures in (True, "true", "1", "yes")
        if with_pictures and count > PICTURES_MAX:
            raise bad_request(f"with pictures, limit must be at most {PICTURES_MAX}")
        found = await self._call(device_id, "contacts")
        contacts = sorted((contact_json(c) for c in found.get("contacts", [])), key=_sort_key)
        if query:
            needle = query.casefold()
            contacts = [c for c in contacts if needle in _haystack(c)]
        if after is not None:
            contacts = [c for c in contacts if _sort_key(c) > after]
        page, more = contacts[:count], len(contacts) > count
        if with_pictures:
            for contact in page:
                contact["pictureUrl"] = await self._picture_url(device_id, contact["jid"])
        return {"contacts": page, "nextCursor": _cursor(_sort_key(page[-1])) if more else None}

    async def _picture_url(self, device_id: object, jid: str) -> str | None:
        try:
            found = await self._call(device_id, "picture", jid=jid)
        except WadError as exc:
            if exc.code in ("not_found", "unavailable"):
                return None  # hidden by their privacy, or none: the list still answers
            raise
        url = found.get("url")
        return str(url) if url else None

    async def profile(self, device_id: object, jid: object) -> dict[str, Any]:
        """Another user's about text and profile picture (what their privacy shows)."""
        user = user_jid(jid)
        info = await self._call(device_id, "user_info", jid=user)
        return {
            "jid": user,
            "about": info.get("about") or None,
            "businessName": info.get("businessName") or None,
            "pictureId": info.get("pictureId") or None,
            "pictureUrl": await self._picture_url(device_id, user),
        }

    async def blocklist(self, device_id: object) -> dict[str, Any]:
        return {"jids": list((await self._call(device_id, "blocklist")).get("jids", []))}

    async def block(self, device_id: object, jid: object) -> dict[str, Any]:
        user = user_jid(jid)
        found = await self._call(device_id, "block", jid=user)
        return {"jid": user, "blocked": True, "jids": list(found.get("jids", []))}

    async def unblock(self, device_id: object, jid: object) -> dict[str, Any]:
        user = user_jid(jid)
        found = await self._call(device_id, "unblock", jid=user)
        return {"jid": user, "blocked": False, "jids": list(found.get("jids", []))}

    async def subscribe_presence(self, device_id: object, jid: object) -> dict[str, Any]:
        """Ask WhatsApp for a contact's presence: ``presence`` events follow, the first
        soon after (their current state), while the session stays connected."""
        user = user_jid(jid)
        await self._call(device_id, "subscribe_presence", jid=user)
        return {"jid": user, "subscribed": True}


def _haystack(contact: dict[str, Any]) -> str:
    parts = (contact["name"], contact["pushName"], contact["businessName"], contact["jid"])
    return " ".join(p for p in parts if p).casefold()
