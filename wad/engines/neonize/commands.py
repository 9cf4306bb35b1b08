"""The daemon's commands carried out with neonize, inside a worker process.

Each command is checked first (:meth:`Commands.prepare`, on the trio thread: a bad
request never reaches Go) and then run as one blocking neonize call sequence in a
thread. A send's message is built by :mod:`wad.engines.neonize.messages`; reactions,
edits and revokes with neonize's ``build_reaction``, ``edit_message`` and
``build_revoke``; all are sent with ``send_message``.

About message ids: neonize's ``send_message`` hands whatsmeow no ``SendRequestExtra``
with an ``ID`` (its Go ``SendMessage`` builds an empty one), so whatsmeow picks the
WhatsApp id of every message and the daemon's own id (``params["id"]``) cannot be
reused on a resend. The id WhatsApp got is returned and the daemon records it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neonize.builder import build_revoke
from neonize.client import NewClient
from neonize.exc import GetGroupInfoError, NeonizeError
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from neonize.utils.enum import ChatPresence, ChatPresenceMedia, ReceiptType

from wad.engines.contract import EngineError, EngineEvent
from wad.engines.neonize import directory, ids
from wad.engines.neonize import groups as neonize_groups
from wad.engines.neonize.bridge import Bridge, jid_str, parse_jid, unix_seconds
from wad.engines.neonize.messages import MEDIA_TYPES, MessageBuilder

Result = dict[str, Any]
SEND_TYPES = ("text", *MEDIA_TYPES, "location", "contact", "poll")
PRESENCE = {
    "typing": (ChatPresence.CHAT_PRESENCE_COMPOSING, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT),
    "recording": (
        ChatPresence.CHAT_PRESENCE_COMPOSING,
        ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO,
    ),
    "paused": (ChatPresence.CHAT_PRESENCE_PAUSED, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT),
}
# Commands that need a live connection to WhatsApp.
CONNECTED_COMMANDS = (
    "send",
    "send_text",
    "react",
    "edit",
    "revoke",
    "mark_read",
    "presence",
    "check_numbers",
    "groups",
    "group",
    "logout",
    "resolve_ids",
    *neonize_groups.PREPARERS,
    "reject_call",
)


def digits(value: object) -> str:
    number = str(value or "").lstrip("+")
    if not number.isdigit():
        raise EngineError(f"not a phone number: {value!r}", "bad_request")
    return number


def _text(params: dict[str, Any], key: str, allow_empty: bool = False) -> str:
    value = params.get(key)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise EngineError(f"'{key}' must be a non-empty string", "bad_request")
    return value


class Commands:
    """Runs the daemon's commands on one neonize client; ``bridge`` tells its state."""

    def __init__(self, client: NewClient, bridge: Bridge) -> None:
        self.client = client
        self.bridge = bridge
        self.messages = MessageBuilder(client, bridge)
        bridge.register(directory.TRANSLATORS)  # presence events
        neonize_groups.register(client, bridge)

    def prepare(self, command: str, params: dict[str, Any]) -> Callable[[], Result]:
        """The blocking call for ``command``, its params checked; raise EngineError."""
        if command == "pair_phone":
            if self.bridge.connected or not self.bridge.waiting_qr:
                raise EngineError("pairing needs a session waiting for a QR scan", "conflict")
            return functools.partial(self.pair_phone, digits(params.get("phoneNumber")))
        builder = getattr(self, f"_prepare_{command}", None)
        if command in neonize_groups.PREPARERS:
            builder = functools.partial(neonize_groups.PREPARERS[command], self.client, self.bridge)
        people = directory.PREPARE.get(command)  # contacts, profile, channels...
        if people is not None:
            call: Callable[[], Result] = people(self.client, self.bridge, params)
        elif command not in CONNECTED_COMMANDS or builder is None:
            raise EngineError(f"unknown command {command!r}", "unsupported")
        else:
            call = builder(params)
        if not self.bridge.connected:
            raise EngineError("Session not connected", "not_connected")
        return call

    # -- sending ------------------------------------------------------------------------

    def _prepare_send_text(self, params: dict[str, Any]) -> Callable[[], Result]:
        return self._prepare_send({**params, "type": "text"})

    def _prepare_send(self, params: dict[str, Any]) -> Callable[[], Result]:
        type_ = params.get("type", "text")
        if type_ not in SEND_TYPES:
            raise EngineError(f"cannot send a message of type {type_!r}", "unsupported")
        to = parse_jid(params.get("to"))
        if type_ == "text":
            _text(params, "text")
        elif type_ in MEDIA_TYPES:
            media = params.get("media")
            if (
                not isinstance(media, dict)
                or not isinstance(media.get("path"), str)
                or not Path(media["path"]).is_file()
            ):
                raise EngineError("media.path must name a file", "bad_request")
        elif not isinstance(params.get(type_), dict):
            raise EngineError(f"a {type_} message needs '{type_}'", "bad_request")
        mentions = params.get("mentions") or []
        if not isinstance(mentions, list) or not all(isinstance(m, str) for m in mentions):
            raise EngineError("'mentions' must be a list of JIDs", "bad_request")
        return functools.partial(self.send, to, params)

    def send(self, to: pb.JID, params: dict[str, Any]) -> Result:
        message = self.messages.build(params)
        response = self.client.send_message(to, message)
        return {"id": response.ID, "timestamp": unix_seconds(response.Timestamp)}

    # -- acting on messages -------------------------------------------------------------

    def _target(self, params: dict[str, Any]) -> tuple[pb.JID, pb.JID, str]:
        """(chat, sender of the target message, its WhatsApp id)."""
        chat = parse_jid(params.get("chat"), "chat")
        target = _text(params, "targetId")
        if params.get("fromMe"):
            if self.bridge.me is None:
                raise EngineError("Session not connected", "not_connected")
            return chat, self.bridge.me, target
        return chat, parse_jid(params.get("sender") or params.get("chat"), "sender"), target

    @staticmethod
    def _check_target(params: dict[str, Any]) -> dict[str, Any]:
        parse_jid(params.get("chat"), "chat")
        _text(params, "targetId")
        return params

    def _prepare_react(self, params: dict[str, Any]) -> Callable[[], Result]:
        emoji = _text(params, "emoji", allow_empty=True)
        return functools.partial(self.react, self._check_target(params), emoji)

    def react(self, params: dict[str, Any], emoji: str) -> Result:
        chat, sender, target = self._target(params)
        message = self.client.build_reaction(chat, sender, target, emoji)
        return self._sent(self.client.send_message(chat, message))

    def _prepare_edit(self, params: dict[str, Any]) -> Callable[[], Result]:
        text = _text(params, "text")
        return functools.partial(self.edit, self._check_target(params), text)

    def edit(self, params: dict[str, Any], text: str) -> Result:
        chat, _, target = self._target(params)
        return self._sent(self.client.edit_message(chat, target, WAMessage(conversation=text)))

    def _prepare_revoke(self, params: dict[str, Any]) -> Callable[[], Result]:
        return functools.partial(self.revoke, self._check_target(params))

    def revoke(self, params: dict[str, Any]) -> Result:
        chat, sender, target = self._target(params)
        # neonize's revoke_message asks Go for our own JID (get_me); the bridge knows it.
        me = self.bridge.me or sender
        return self._sent(self.client.send_message(chat, build_revoke(chat, sender, target, me)))

    @staticmethod
    def _sent(response: Any) -> Result:
        return {"id": response.ID, "timestamp": unix_seconds(response.Timestamp)}

    def _prepare_mark_read(self, params: dict[str, Any]) -> Callable[[], Result]:
        ids = params.get("ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise EngineError("'ids' must be a non-empty list of message ids", "bad_request")
        chat = parse_jid(params.get("chat"), "chat")
        sender = parse_jid(params.get("sender") or params.get("chat"), "sender")
        return functools.partial(self.mark_read, ids, chat, sender)

    def mark_read(self, ids: list[str], chat: pb.JID, sender: pb.JID) -> Result:
        self.client.mark_read(*ids, chat=chat, sender=sender, receipt=ReceiptType.READ)
        return {}

    def _prepare_presence(self, params: dict[str, Any]) -> Callable[[], Result]:
        state = params.get("state")
        if state not in PRESENCE:
            raise EngineError("state must be typing, recording or paused", "bad_request")
        return functools.partial(self.presence, parse_jid(params.get("to")), str(state))

    def presence(self, to: pb.JID, state: str) -> Result:
        self.client.send_chat_presence(to, *PRESENCE[state])
        return {}

    # -- queries ------------------------------------------------------------------------

    def _prepare_check_numbers(self, params: dict[str, Any]) -> Callable[[], Result]:
        numbers = params.get("numbers")
        if not isinstance(numbers, list) or not numbers:
            raise EngineError("'numbers' must be a non-empty list", "bad_request")
        return functools.partial(self.check_numbers, [digits(n) for n in numbers])

    def check_numbers(self, numbers: list[str]) -> Result:
        # whatsmeow wants international numbers with their "+"; Query echoes them.
        found = {
            r.Query.lstrip("+"): r for r in self.client.is_on_whatsapp(*(f"+{n}" for n in numbers))
        }
        results = []
        for number in numbers:
            response = found.get(number)
            exists = bool(response and response.IsIn)
            results.append(
                {
                    "number": number,
                    "exists": exists,
                    "jid": jid_str(response.JID) if response and exists else None,
                }
            )
        return {"results": results}

    def _prepare_groups(self, params: dict[str, Any]) -> Callable[[], Result]:
        return self.groups

    def groups(self) -> Result:
        return {"groups": [group_json(g) for g in self.client.get_joined_groups()]}

    def _prepare_group(self, params: dict[str, Any]) -> Callable[[], Result]:
        jid = parse_jid(params.get("id"), "id")
        if jid.Server != "g.us":
            raise EngineError("a group id ends in @g.us", "bad_request")
        return functools.partial(self.group, jid)

    def group(self, jid: pb.JID) -> Result:
        try:
            return {"group": group_json(self.client.get_group_info(jid))}
        except GetGroupInfoError as exc:
            raise EngineError(f"no such group: {exc}", "not_found") from None

    def _prepare_resolve_ids(self, params: dict[str, Any]) -> Callable[[], Result]:
        user, server = self.bridge.ids.check(params.get("jid"))
        return functools.partial(self.bridge.ids.resolve, user, server)

    # -- calls and liveness -------------------------------------------------------------

    def _prepare_reject_call(self, params: dict[str, Any]) -> Callable[[], Result]:
        caller = parse_jid(params.get("from"), "from")
        return functools.partial(self.reject_call, caller, _text(params, "id"))

    def reject_call(self, caller: pb.JID, call_id: str) -> Result:
        self.client.reject_call(caller, call_id)
        return {}

    def ping(self) -> Result:
        """The liveness probe, answered on the worker's reader thread (not queued behind
        a slow command): whatsmeow's IsConnected, a lock and a flag in Go. Before the
        first Connected, neonize's client maps may still be written: Go is not asked."""
        return {"connected": self.bridge.connected and bool(self.client.is_connected)}

    # -- the device ---------------------------------------------------------------------

    def pair_phone(self, phone: str) -> Result:
        return {"code": self.client.PairPhone(phone, show_push_notification=True)}

    def _prepare_logout(self, params: dict[str, Any]) -> Callable[[], Result]:
        return self.logout

    def logout(self) -> Result:
        self.client.logout()
        # whatsmeow reports no LoggedOut event for a logout it was asked to do.
        self.bridge.connected = False
        self.bridge.emit(EngineEvent("logged_out", {"reason": "logged out by the daemon"}))
        return {}


def group_json(info: pb.GroupInfo) -> dict[str, Any]:
    participants = []
    for p in info.Participants:
        # A participant known by a privacy id (@lid) may come with a phone number.
        jid = p.PhoneNumber if p.PhoneNumber.User else p.JID
        participants.append(
            {
                "jid": jid_str(jid),
                "isAdmin": p.IsAdmin,
                "isSuperAdmin": p.IsSuperAdmin,
                **ids.participant(p),
            }
        )
    return {
        "id": jid_str(info.JID),
        "name": info.GroupName.Name,
        "topic": info.GroupTopic.Topic,
        "participants": participants,
    }


def run(call: Callable[[], Result]) -> Result:
    """Run a prepared call; neonize's failures become EngineError (``failed``)."""
    try:
        return call()
    except NeonizeError as exc:
        raise EngineError(str(exc) or type(exc).__name__, "failed") from None
