"""The session's own account: its push name, about text and profile picture, and its
privacy settings."""

from __future__ import annotations

import secrets
from typing import Any

from wad.engines.directory import PRIVACY, privacy_problem
from wad.errors import bad_request
from wad.services import calls, media
from wad.services.lookup import Lookup
from wad.store import Store

__all__ = ["ABOUT_MAX", "PICTURE_MAX", "PUSH_NAME_MAX", "Profile"]

PUSH_NAME_MAX = 25  # WhatsApp's own limits
ABOUT_MAX = 139
PICTURE_MAX = 5 * 1024 * 1024


def _text(value: object, field: str, most: int, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value.strip() and not allow_empty):
        raise bad_request(f"{field} must be a non-empty string")
    if len(value) > most:
        raise bad_request(f"{field} must be at most {most} characters")
    return value


class Profile:
    def __init__(self, lookup: Lookup, store: Store) -> None:
        self.lookup = lookup
        self.store = store

    async def _call(self, device_id: object, command: str, **params: Any) -> dict[str, Any]:
        return await calls.call(self.store, await self.lookup.session(device_id), command, params)

    async def get(self, device_id: object) -> dict[str, Any]:
        found = await self._call(device_id, "profile")
        row = await self.lookup.row(device_id)
        phone = row.phone_number
        return {
            "jid": found.get("jid") or (f"{phone}@s.whatsapp.net" if phone else None),
            "pushName": found.get("pushName") or None,
            "about": found.get("about") or None,
            "pictureUrl": found.get("pictureUrl") or None,
        }

    async def update(
        self, device_id: object, push_name: object = None, about: object = None
    ) -> dict[str, Any]:
        """Change the push name and/or the about text (an empty about clears it)."""
        if push_name is None and about is None:
            raise bad_request("give pushName, about or both")
        name = None if push_name is None else _text(push_name, "pushName", PUSH_NAME_MAX)
        text = None if about is None else _text(about, "about", ABOUT_MAX, allow_empty=True)
        if name is not None:
            await self._call(device_id, "set_push_name", name=name)
        if text is not None:
            await self._call(device_id, "set_about", text=text)
        return await self.get(device_id)

    async def set_picture(self, device_id: object, data: object) -> dict[str, Any]:
        """A JPEG (base64) as the profile picture; the file is gone once WhatsApp has it."""
        # A JPEG starts with FF D8 FF, which base64 writes "/9j/".
        if isinstance(data, str) and not data.startswith("/9j/"):
            raise bad_request("data must be a JPEG image")
        session = await self.lookup.session(device_id)
        dest = media.media_dir(session.folder) / f"profile-{secrets.token_hex(8)}"
        saved = media.save_base64(data, dest, "image/jpeg", PICTURE_MAX)
        try:
            found = await calls.call(self.store, session, "set_picture", {"path": saved.path})
        finally:
            media.discard(saved.path)
        return {"pictureId": found.get("id") or None}

    async def remove_picture(self, device_id: object) -> None:
        await self._call(device_id, "remove_picture")

    async def privacy(self, device_id: object) -> dict[str, Any]:
        found = (await self._call(device_id, "privacy")).get("settings", {})
        return {name: found.get(name) or None for name in PRIVACY}

    async def set_privacy(self, device_id: object, changes: object) -> dict[str, Any]:
        """Change one or more privacy settings, in the order given; answers them all."""
        if not isinstance(changes, dict) or not changes:
            raise bad_request(f"give one or more of {', '.join(PRIVACY)}")
        for name, value in changes.items():
            problem = privacy_problem(name, value)
            if problem:
                raise bad_request(problem)
        session = await self.lookup.session(device_id)
        found: dict[str, Any] = {}
        for name, value in changes.items():
            answer = await calls.call(
                self.store, session, "set_privacy", {"name": name, "value": value}
            )
            found = answer.get("settings", {})
        return {name: found.get(name) or None for name in PRIVACY}
