"""The virtual network's people and channels, as one simulated account sees them.

Kept in the session folder (``simulator-directory.json``), so they outlive a restart as
WhatsApp's own would: the contacts (added by the virtual phone's controls, or learnt
from the push name of whoever writes), each with a profile (about text, picture,
business name, presence); the account's own profile, privacy settings and blocklist;
the channels of the network, which ones it follows and in which role; the chat
settings its phone synced (archived, pinned, muted); whose presence it subscribed to.

As on WhatsApp: a blocked contact's messages are not delivered and the account cannot
write to them; only a channel's owner or admins post to it; presence reaches only a
subscriber, and subscribing answers with the contact's current presence.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from wad.engines import text
from wad.engines.contract import EngineError
from wad.engines.directory import CHANNEL_ROLES, PRIVACY, is_channel, privacy_problem
from wad.files import write_private

log = logging.getLogger(__name__)
DIRECTORY = "simulator-directory.json"
PICTURE_HOST = "https://pps.simulator.invalid"
#: What a new account's privacy looks like (WhatsApp's defaults).
PRIVACY_DEFAULTS = {
    "lastSeen": "all",
    "online": "all",
    "picture": "all",
    "about": "all",
    "groups": "all",
    "readReceipts": "all",
    "calls": "all",
}
Events = list[tuple[str, dict[str, Any]]]


def user_jid(value: object) -> str:
    text = str(value or "")
    return text if "@" in text else f"{text}@s.whatsapp.net"


class Directory:
    """One account's directory, read from its folder; ``save()`` writes it back."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / DIRECTORY
        data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.contacts: dict[str, dict[str, Any]] = data.get("contacts", {})
        self.profile: dict[str, Any] = data.get("profile", {"pushName": "", "about": ""})
        self.privacy: dict[str, str] = {**PRIVACY_DEFAULTS, **data.get("privacy", {})}
        self.blocked: list[str] = data.get("blocked", [])
        self.channels: dict[str, dict[str, Any]] = data.get("channels", {})
        self.chats: dict[str, dict[str, Any]] = data.get("chats", {})
        self.subscribed: list[str] = data.get("subscribed", [])

    def save(self) -> None:
        data = {
            "contacts": self.contacts,
            "profile": self.profile,
            "privacy": self.privacy,
            "blocked": self.blocked,
            "channels": self.channels,
            "chats": self.chats,
            "subscribed": self.subscribed,
        }
        write_private(self.path, json.dumps(data))

    # -- the network's side (the virtual phone's controls) ----------------------------

    def add_contact(self, number: str, **profile: Any) -> dict[str, Any]:
        jid = user_jid(number)
        contact = self.contacts.setdefault(jid, {"jid": jid})
        contact.update({k: v for k, v in profile.items() if v is not None})
        self.save()
        return contact

    def add_channel(self, name: str, description: str, role: str) -> dict[str, Any]:
        if role not in CHANNEL_ROLES:
            raise EngineError(f"role must be one of {', '.join(CHANNEL_ROLES)}", "bad_request")
        jid = f"1203632{secrets.randbelow(10**11):011d}@newsletter"
        self.channels[jid] = {
            "id": jid,
            "name": name,
            "description": description,
            "role": role,
            "subscribers": 1,
            "muted": False,
            "inviteCode": secrets.token_hex(8),
            # An owner or admin follows the channel it runs.
            "followed": role in ("owner", "admin"),
            "messages": [],
        }
        self.save()
        return self._channel(self.channels[jid])

    def post_to_channel(self, jid: str, text: str) -> dict[str, Any]:
        """Someone posts to a channel of the network (what followers then read)."""
        channel = self._find_channel(jid)
        message = {"serverId": len(channel["messages"]) + 100, "type": "text", "text": text}
        channel["messages"].append({**message, "views": 0, "reactions": {}})
        self.save()
        return message

    def set_chat(self, jid: str, settings: dict[str, Any]) -> dict[str, Any]:
        """The account's phone archives, pins or mutes a chat (synced as app state)."""
        chat = self.chats.setdefault(jid, {"archived": False, "pinned": False, "mutedUntil": None})
        chat.update({k: v for k, v in settings.items() if k in chat})
        self.save()
        return chat

    def presence_change(self, number: str, state: str) -> Events:
        """A contact comes online or goes away; only subscribers are told."""
        jid = user_jid(number)
        contact = self.contacts.setdefault(jid, {"jid": jid})
        if state in ("available", "unavailable"):
            contact["presence"] = state
            if state == "unavailable":
                contact["lastSeen"] = int(time.time())
        self.save()
        if jid not in self.subscribed:
            return []
        return [("presence", self._presence(contact, state))]

    # -- what the network does with the account's traffic -----------------------------

    def incoming(self, sender_jid: str, push_name: object) -> None:
        """A message from ``sender_jid`` reaches the account: refused when blocked; the
        sender's push name is learnt, as WhatsApp's clients keep it."""
        if sender_jid in self.blocked:
            raise EngineError(
                f"{sender_jid.split('@')[0]} is blocked: the network does not deliver"
                " their messages to this account",
                "conflict",
            )
        if not isinstance(push_name, str | bytes) or not push_name:
            return
        name = text.repaired(push_name)  # kept as valid text, as a real client shows it
        if self.contacts.get(sender_jid, {}).get("pushName") != name:
            self.contacts.setdefault(sender_jid, {"jid": sender_jid})["pushName"] = name
            try:
                self.save()
            except OSError:
                # The network's memory of a name lives in the session folder here; a
                # full disk there must not cost the message itself (it waits, as any).
                log.warning("the simulator could not note %s's push name", sender_jid)

    def outgoing(self, to: str, params: dict[str, Any]) -> None:
        """The account sends to ``to``: refused to a blocked contact; a channel takes a
        text from its owner or admins only, and keeps it for its followers."""
        if to in self.blocked:
            raise EngineError(
                f"{to.split('@')[0]} is blocked: unblock the contact to write to them",
                "conflict",
            )
        if not is_channel(to) or params.get("command", "send") != "send":
            return
        channel = self._find_channel(to)
        if channel["role"] not in ("owner", "admin"):
            raise EngineError("only a channel's owner or admins can post to it", "forbidden")
        if params.get("type", "text") != "text":
            raise EngineError("a channel takes text posts only (as neonize 0.5)", "unsupported")
        self.post_to_channel(to, str(params.get("text", "")))

    # -- the engine's commands ----------------------------------------------------------

    def run(self, command: str, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        """Answer a directory command; the events it causes come along."""
        handler = getattr(self, f"_{command}")
        answer: tuple[dict[str, Any], Events] = handler(params)
        return answer

    def _contacts(self, _: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        contacts = [
            {
                "jid": c["jid"],
                "name": c.get("name") or "",
                "pushName": c.get("pushName") or "",
                "businessName": c.get("businessName") or "",
            }
            for c in self.contacts.values()
        ]
        return {"contacts": contacts}, []

    def _contact(self, params: dict[str, Any]) -> dict[str, Any]:
        jid = user_jid(params.get("jid"))
        contact = self.contacts.get(jid)
        if contact is None:
            raise EngineError(f"{jid.split('@')[0]} is not on WhatsApp", "not_found")
        return contact

    def _picture(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        contact = self._contact(params)
        picture = contact.get("picture")
        if not picture:
            return {"url": None, "id": None}, []
        return {"url": f"{PICTURE_HOST}/{picture}.jpg", "id": picture}, []

    def _user_info(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        contact = self._contact(params)
        return {
            "jid": contact["jid"],
            "about": contact.get("about") or "",
            "pictureId": contact.get("picture") or None,
            "businessName": contact.get("businessName") or "",
        }, []

    def _profile(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        picture = self.profile.get("picture")
        return {
            "jid": params.get("me"),
            "pushName": self.profile.get("pushName") or "",
            "about": self.profile.get("about") or "",
            "pictureUrl": f"{PICTURE_HOST}/{picture}.jpg" if picture else None,
        }, []

    def _set_push_name(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        self.profile["pushName"] = str(params["name"])
        self.save()
        return {}, []

    def _set_about(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        self.profile["about"] = str(params["text"])
        self.save()
        return {}, []

    def _set_picture(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        data = Path(str(params["path"])).read_bytes()
        if not data.startswith(b"\xff\xd8"):
            raise EngineError("a profile picture must be a JPEG image", "bad_request")
        self.profile["picture"] = picture = secrets.token_hex(6)
        self.save()
        return {"id": picture}, []

    def _remove_picture(self, _: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        self.profile.pop("picture", None)
        self.save()
        return {}, []

    def _privacy(self, _: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        return {"settings": {name: self.privacy[name] for name in PRIVACY}}, []

    def _set_privacy(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        problem = privacy_problem(params.get("name"), params.get("value"))
        if problem:
            raise EngineError(problem, "bad_request")
        self.privacy[str(params["name"])] = str(params["value"])
        self.save()
        return self._privacy(params)

    def _blocklist(self, _: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        return {"jids": list(self.blocked)}, []

    def _block(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        jid = user_jid(params.get("jid"))
        if jid not in self.blocked:
            self.blocked.append(jid)
            self.save()
        return self._blocklist(params)

    def _unblock(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        jid = user_jid(params.get("jid"))
        if jid in self.blocked:
            self.blocked.remove(jid)
            self.save()
        return self._blocklist(params)

    def _find_channel(self, jid: object) -> dict[str, Any]:
        channel = self.channels.get(str(jid))
        if channel is None:
            raise EngineError("no such channel", "not_found")
        return channel

    @staticmethod
    def _channel(channel: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in channel.items() if k not in ("messages", "followed")}

    def _channels(self, _: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        followed = [self._channel(c) for c in self.channels.values() if c["followed"]]
        return {"channels": followed}, []

    def _channel_follow(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        channel = self._find_channel(params.get("id"))
        if not channel["followed"]:
            channel.update(followed=True, subscribers=channel["subscribers"] + 1)
            self.save()
        return {}, []

    def _channel_unfollow(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        channel = self._find_channel(params.get("id"))
        if channel["role"] == "owner":
            raise EngineError("the owner of a channel cannot unfollow it", "conflict")
        if channel["followed"]:
            channel.update(followed=False, subscribers=channel["subscribers"] - 1)
            self.save()
        return {}, []

    def _channel_messages(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        channel = self._find_channel(params.get("id"))
        before = params.get("before")
        newest_first = [
            m for m in reversed(channel["messages"]) if before is None or m["serverId"] < before
        ]
        return {"messages": newest_first[: int(params.get("count", 50))]}, []

    def _subscribe_presence(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        jid = user_jid(params.get("jid"))
        if jid not in self.subscribed:
            self.subscribed.append(jid)
            self.save()
        contact = self.contacts.get(jid, {"jid": jid})
        state = contact.get("presence", "unavailable")
        return {}, [("presence", self._presence(contact, state))]

    def _chat_settings(self, params: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        empty = {"archived": False, "pinned": False, "mutedUntil": None}
        return {"settings": {j: self.chats.get(j, empty) for j in params.get("jids", [])}}, []

    @staticmethod
    def _presence(contact: dict[str, Any], state: str) -> dict[str, Any]:
        data: dict[str, Any] = {"jid": contact["jid"], "state": state}
        if state == "unavailable" and contact.get("lastSeen"):
            data["lastSeen"] = contact["lastSeen"]
        return data
