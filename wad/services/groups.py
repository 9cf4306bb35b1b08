"""Group administration: create, rename, describe, picture, settings, participants,
invite links, joining, leaving, and the requests to join.

Each operation checks its input, then asks the session's engine (the commands of
:mod:`wad.engines.group_events`); what WhatsApp answers for each participant of a
change comes back as it is, one result each, since WhatsApp refuses some (their
privacy settings, not on WhatsApp) and carries out the rest.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from wad.engines.group_events import (
    INVITE_PREFIX,
    PARTICIPANT_ACTIONS,
    REQUEST_ACTIONS,
    invite_code,
)
from wad.errors import bad_request
from wad.services import calls, media, outbound
from wad.services.lookup import Lookup
from wad.sessions.session import Session
from wad.store import Store

__all__ = ["DISAPPEARING", "Groups"]

SUBJECT_MAX = 100  # WhatsApp's limits
DESCRIPTION_MAX = 2048
PARTICIPANTS_MAX = 256
PICTURE_MAX = 5 * 1024 * 1024
#: The disappearing-message timers WhatsApp offers (seconds): off, 24 h, 7 days, 90 days.
DISAPPEARING = (0, 86_400, 604_800, 7_776_000)
_JPEG_BASE64 = "/9j/"  # FF D8 FF, the start of every JPEG file, in base64
_CODE = re.compile(r"^[A-Za-z0-9_-]{6,64}$")


def _subject(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= SUBJECT_MAX:
        raise bad_request(f"subject must be 1-{SUBJECT_MAX} characters")
    return value


def _participants(value: object, allow_empty: bool = False) -> list[str]:
    low = 0 if allow_empty else 1
    if not isinstance(value, list) or not low <= len(value) <= PARTICIPANTS_MAX:
        raise bad_request(f"participants must be a list of {low}-{PARTICIPANTS_MAX} phone numbers")
    jids = [outbound.recipient(p, "participants[]") for p in value]
    if any(outbound.is_group(j) for j in jids):
        raise bad_request("participants must be people (phone numbers or user JIDs)")
    return list(dict.fromkeys(jids))


def _group(value: object) -> str:
    jid = outbound.recipient(value, "groupId")
    if not outbound.is_group(jid):
        raise bad_request("groupId must be a group JID (...@g.us)")
    return jid


class Groups:
    def __init__(self, lookup: Lookup, store: Store) -> None:
        self.lookup = lookup
        self.store = store

    async def _call(self, device_id: object, command: str, params: dict[str, Any]) -> Any:
        session: Session = await self.lookup.session(device_id)
        return await calls.call(self.store, session, command, params)

    async def create(self, device_id: object, subject: object, participants: object) -> Any:
        params = {"subject": _subject(subject), "participants": _participants(participants, True)}
        return await self._call(device_id, "group_create", params)

    async def set_subject(self, device_id: object, group_id: object, subject: object) -> Any:
        jid = _group(group_id)
        await self._call(device_id, "group_subject", {"id": jid, "subject": _subject(subject)})
        return {"id": jid, "subject": subject}

    async def set_description(self, device_id: object, group_id: object, text: object) -> Any:
        jid = _group(group_id)
        if not isinstance(text, str) or len(text) > DESCRIPTION_MAX:
            raise bad_request(f"description must be at most {DESCRIPTION_MAX} characters")
        await self._call(device_id, "group_description", {"id": jid, "description": text})
        return {"id": jid, "description": text}

    async def set_picture(self, device_id: object, group_id: object, data: object) -> Any:
        """A JPEG, as base64; kept in the session's folder only for the call."""
        jid = _group(group_id)
        session = await self.lookup.session(device_id)
        if not isinstance(data, str) or not data.startswith(_JPEG_BASE64):
            raise bad_request("data must be a JPEG image, base64")
        dest = media.media_dir(session.folder) / f"picture-{secrets.token_hex(8)}"
        saved = media.save_base64(data, dest, "image/jpeg", PICTURE_MAX, None)
        try:
            result = await calls.call(
                self.store, session, "group_picture", {"id": jid, "path": saved.path}
            )
        finally:
            media.discard(saved.path)
        return {"id": jid, "pictureId": result.get("pictureId")}

    async def settings(self, device_id: object, group_id: object, changes: dict[str, Any]) -> Any:
        jid = _group(group_id)
        params: dict[str, Any] = {"id": jid}
        for key in ("announce", "locked"):
            if changes.get(key) is not None:
                if not isinstance(changes[key], bool):
                    raise bad_request(f"{key} must be true or false")
                params[key] = changes[key]
        timer = changes.get("disappearing")
        if timer is not None:
            if timer not in DISAPPEARING or isinstance(timer, bool):
                raise bad_request(
                    f"disappearing must be one of {', '.join(map(str, DISAPPEARING))} (seconds)"
                )
            params["disappearing"] = timer
        if len(params) == 1:
            raise bad_request("nothing to change: give announce, locked or disappearing")
        await self._call(device_id, "group_settings", params)
        return params

    async def participants(
        self, device_id: object, group_id: object, action: str, participants: object
    ) -> Any:
        if action not in PARTICIPANT_ACTIONS:
            raise bad_request(f"action must be one of {', '.join(PARTICIPANT_ACTIONS)}")
        params = {
            "id": _group(group_id),
            "action": action,
            "participants": _participants(participants),
        }
        result = await self._call(device_id, "group_participants", params)
        return {"id": params["id"], "action": action, "results": result.get("results", [])}

    async def invite(self, device_id: object, group_id: object, revoke: bool = False) -> Any:
        jid = _group(group_id)
        result = await self._call(device_id, "group_invite", {"id": jid, "revoke": revoke})
        code = invite_code(str(result.get("code") or result.get("link") or ""))
        return {"id": jid, "link": INVITE_PREFIX + code, "code": code}

    async def join(self, device_id: object, link: object) -> Any:
        code = invite_code(link) if isinstance(link, str) else ""
        if not _CODE.fullmatch(code):
            raise bad_request(f"link must be an invite link ({INVITE_PREFIX}...) or its code")
        result = await self._call(device_id, "group_join", {"code": code})
        return {"id": result.get("id")}

    async def leave(self, device_id: object, group_id: object) -> Any:
        jid = _group(group_id)
        await self._call(device_id, "group_leave", {"id": jid})
        return {"id": jid}

    async def requests(self, device_id: object, group_id: object) -> Any:
        jid = _group(group_id)
        result = await self._call(device_id, "group_requests", {"id": jid})
        return {"id": jid, "requests": result.get("requests", [])}

    async def answer_requests(
        self, device_id: object, group_id: object, action: str, participants: object
    ) -> Any:
        if action not in REQUEST_ACTIONS:
            raise bad_request("action must be approve or reject")
        params = {
            "id": _group(group_id),
            "action": action,
            "participants": _participants(participants),
        }
        result = await self._call(device_id, "group_requests_update", params)
        return {"id": params["id"], "action": action, "results": result.get("results", [])}
