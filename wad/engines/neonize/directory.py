"""The people and channel commands (:mod:`wad.engines.directory`) carried out with
neonize 0.5, and the presence events, inside a worker process.

Each entry of :data:`PREPARE` checks a command's params (a bad request never reaches
Go) and returns the blocking call; :class:`~wad.engines.neonize.commands.Commands`
runs it like its own. What neonize 0.5 cannot do, and what is done around it:

- ``remove_picture``: neonize's ``set_profile_photo`` always hands whatsmeow picture
  bytes (never the nil that removes it): answered ``unsupported``.
- ``set_privacy``: neonize's ``set_privacy_setting`` decodes the serialized answer as
  an error text and raises on success; the Go function is called here and its
  ``SetPrivacySettingReturnFunction`` read. neonize also spells one value
  ``contacts_blacklist`` where whatsmeow wants ``contact_blacklist``: wad's value
  (whatsmeow's) goes as it is.
- contacts and chat settings come from whatsmeow's local store (the app-state sync
  fills them); push-name, about and archive/pin/mute changes are not forwarded as
  events by neonize.
- channels: text posts only (``send``); messages come without a timestamp.
- presence: WhatsApp sends it only to a client that is online, so subscribing first
  marks the account available (which fails without a push name: then it only
  subscribes).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neonize.client import NewClient
from neonize.exc import GetProfilePictureError, NeonizeError
from neonize.proto import Neonize_pb2 as pb
from neonize.utils.enum import BlocklistAction, Presence

from wad.engines.contract import EngineError, EngineEvent
from wad.engines.directory import WHATSMEOW_PRIVACY, privacy_problem
from wad.engines.neonize.bridge import Bridge, content_field, jid_str, parse_jid, peer, unwrap

__all__ = ["PREPARE", "TRANSLATORS"]

Result = dict[str, Any]
Call = Callable[[], Result]
Prepare = Callable[[NewClient, Bridge, dict[str, Any]], Call]
_SETTING = pb.PrivacySettings.PrivacySetting
# Unset (0) and UNDEFINED are both "not known": None.
_SETTING_NAMES = {n: name.lower() for name, n in _SETTING.items() if name != "UNDEFINED"}
_PRIVACY_FIELDS = {
    "lastSeen": "LastSeen",
    "online": "Online",
    "picture": "Profile",
    "about": "Status",
    "groups": "GroupAdd",
    "readReceipts": "ReadReceipts",
    "calls": "CallAdd",
}
_ROLES = pb.NewsletterRole
_MUTE = pb.NewsletterMuteState
_ROLE_NAMES = {number: name.lower() for name, number in _ROLES.items()}


def _jid(params: dict[str, Any], key: str = "jid") -> pb.JID:
    return parse_jid(params.get(key), key)


def _text(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str):
        raise EngineError(f"'{key}' must be a string", "bad_request")
    return value


# -- contacts and other users -------------------------------------------------------------


def contacts(client: NewClient) -> Result:
    found = []
    for contact in client.contact.get_all_contacts():
        info = contact.Info
        found.append(
            {
                "jid": jid_str(contact.JID),
                "name": info.FullName or info.FirstName,
                "pushName": info.PushName,
                "businessName": info.BusinessName,
            }
        )
    return {"contacts": found}


def picture(client: NewClient, jid: pb.JID) -> Result:
    try:
        info = client.get_profile_picture(jid, pb.GetProfilePictureParams(Preview=False))
    except GetProfilePictureError:
        # None set, or hidden from this account by their privacy.
        raise EngineError("no profile picture to show", "not_found") from None
    return {"url": info.URL or None, "id": info.ID or None}


def user_info(client: NewClient, jid: pb.JID) -> Result:
    users = list(client.get_user_info(jid))
    if not users:
        raise EngineError(f"{jid.User} is not on WhatsApp", "not_found")
    info = users[0].UserInfo
    business = info.VerifiedName.Details.verifiedName if info.HasField("VerifiedName") else ""
    return {
        "jid": jid_str(jid),
        "about": info.Status,
        "pictureId": info.PictureID or None,
        "businessName": business or client.contact.get_contact(jid).BusinessName,
    }


# -- the account's own profile and privacy ---------------------------------------------


def profile(client: NewClient, bridge: Bridge) -> Result:
    me = bridge.me
    if me is None:
        raise EngineError("Session not connected", "not_connected")
    own = parse_jid(jid_str(me))  # without the device part
    about = ""
    users = list(client.get_user_info(own))
    if users:
        about = users[0].UserInfo.Status
    try:
        url = picture(client, own)["url"]
    except EngineError:
        url = None
    device = client.me
    return {
        "jid": jid_str(own),
        "pushName": device.PushName if device is not None else "",
        "about": about,
        "pictureUrl": url,
    }


def _settings(settings: pb.PrivacySettings) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name, field in _PRIVACY_FIELDS.items():
        out[name] = _SETTING_NAMES.get(getattr(settings, field))
    return out


def privacy(client: NewClient) -> Result:
    return {"settings": _settings(client.get_privacy_settings())}


def set_privacy(client: NewClient, name: str, value: str) -> Result:
    # neonize's own wrapper raises on success (see the module's docstring): its Go
    # library, which it keeps under a mangled name, is called the way it calls it.
    go = client._NewClient__client
    answer = go.SetPrivacySetting(client.uuid, WHATSMEOW_PRIVACY[name].encode(), value.encode())
    model = pb.SetPrivacySettingReturnFunction.FromString(answer)
    if model.Error:
        raise EngineError(f"WhatsApp refused the privacy setting: {model.Error}", "failed")
    return {"settings": _settings(model.settings)}


def _prepare_set_privacy(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Call:
    problem = privacy_problem(params.get("name"), params.get("value"))
    if problem:
        raise EngineError(problem, "bad_request")
    return functools.partial(set_privacy, client, str(params["name"]), str(params["value"]))


def set_picture(client: NewClient, path: Path) -> Result:
    return {"id": client.set_profile_photo(path.read_bytes()) or None}


def _prepare_set_picture(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Call:
    path = Path(_text(params, "path"))
    if not path.is_file():
        raise EngineError("path must name a JPEG file", "bad_request")
    return functools.partial(set_picture, client, path)


def _prepare_remove_picture(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Call:
    raise EngineError("removing the profile picture is not supported by neonize 0.5", "unsupported")


def _done(fn: Callable[..., Any], *args: Any) -> Call:
    def call() -> Result:
        fn(*args)
        return {}

    return call


# -- blocklist ---------------------------------------------------------------------------


def _blocked(blocklist: pb.Blocklist) -> Result:
    return {"jids": [jid_str(j) for j in blocklist.JIDs]}


def _prepare_block(action: BlocklistAction) -> Prepare:
    def prepare(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Call:
        jid = _jid(params)
        return lambda: _blocked(client.update_blocklist(jid, action))

    return prepare


# -- channels ----------------------------------------------------------------------------


def channel_json(meta: pb.NewsletterMetadata) -> Result:
    thread, viewer = meta.ThreadMeta, meta.ViewerMeta
    return {
        "id": jid_str(meta.ID),
        "name": thread.Name.Text,
        "description": thread.Description.Text,
        "role": _ROLE_NAMES.get(viewer.Role, "guest"),
        "subscribers": thread.SubscriberCount,
        "muted": viewer.Mute == _MUTE.ON,
        "inviteCode": thread.InviteCode or None,
    }


def channels(client: NewClient) -> Result:
    return {"channels": [channel_json(m) for m in client.get_subscribed_newletters()]}


def channel_message(message: pb.NewsletterMessage) -> Result:
    content = unwrap(message.Message)
    field = content_field(content) or "unknown"
    text: str | None = None
    if field == "conversation":
        text = content.conversation
    elif field == "extendedTextMessage":
        text = content.extendedTextMessage.text
    elif field != "unknown":
        text = getattr(getattr(content, field), "caption", None) or None
    kind = {"conversation": "text", "extendedTextMessage": "text"}.get(field, field)
    return {
        "serverId": message.MessageServerID,
        "type": kind.removesuffix("Message"),
        "text": text,
        "views": message.ViewsCount,
        "reactions": {r.type: r.count for r in message.ReactionCounts},
    }


def _prepare_channel_messages(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Call:
    jid = _jid(params, "id")
    count, before = params.get("count", 50), params.get("before")
    if not isinstance(count, int) or not 1 <= count <= 100:
        raise EngineError("count must be 1-100", "bad_request")
    if before is not None and not isinstance(before, int):
        raise EngineError("before must be a message's serverId", "bad_request")

    def call() -> Result:
        found = client.get_newsletter_messages(jid, count, before or 0)
        newest_first = sorted(found, key=lambda m: m.MessageServerID, reverse=True)
        return {"messages": [channel_message(m) for m in newest_first]}

    return call


# -- presence and chat settings -------------------------------------------------------------


def subscribe_presence(client: NewClient, jid: pb.JID) -> Result:
    with contextlib.suppress(NeonizeError):  # no push name yet: subscribe anyway
        client.send_presence(Presence.AVAILABLE)
    client.subscribe_presence(jid)
    return {}


def chat_settings(client: NewClient, jids: list[tuple[str, pb.JID]]) -> Result:
    settings = {}
    for name, jid in jids:
        found = client.chat_settings.get_chat_settings(jid)
        muted = found.MutedUntil if found.Found and found.MutedUntil > 0 else None
        settings[name] = {"archived": found.Archived, "pinned": found.Pinned, "mutedUntil": muted}
    return {"settings": settings}


def _prepare_chat_settings(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Call:
    jids = params.get("jids")
    if not isinstance(jids, list) or not all(isinstance(j, str) for j in jids):
        raise EngineError("'jids' must be a list of JIDs", "bad_request")
    parsed = [(j, parse_jid(j, "jids[]")) for j in jids]
    return functools.partial(chat_settings, client, parsed)


PREPARE: dict[str, Prepare] = {
    "contacts": lambda client, bridge, p: functools.partial(contacts, client),
    "picture": lambda client, bridge, p: functools.partial(picture, client, _jid(p)),
    "user_info": lambda client, bridge, p: functools.partial(user_info, client, _jid(p)),
    "profile": lambda client, bridge, p: functools.partial(profile, client, bridge),
    "set_push_name": lambda client, bridge, p: _done(client.set_profile_name, _text(p, "name")),
    "set_about": lambda client, bridge, p: _done(client.set_status_message, _text(p, "text")),
    "set_picture": _prepare_set_picture,
    "remove_picture": _prepare_remove_picture,
    "privacy": lambda client, bridge, p: functools.partial(privacy, client),
    "set_privacy": _prepare_set_privacy,
    "blocklist": lambda client, bridge, p: lambda: _blocked(client.get_blocklist()),
    "block": _prepare_block(BlocklistAction.BLOCK),
    "unblock": _prepare_block(BlocklistAction.UNBLOCK),
    "channels": lambda client, bridge, p: functools.partial(channels, client),
    "channel_follow": lambda client, bridge, p: _done(client.follow_newsletter, _jid(p, "id")),
    "channel_unfollow": lambda client, bridge, p: _done(client.unfollow_newsletter, _jid(p, "id")),
    "channel_messages": _prepare_channel_messages,
    "subscribe_presence": lambda client, bridge, p: functools.partial(
        subscribe_presence, client, _jid(p)
    ),
    "chat_settings": _prepare_chat_settings,
}


# -- events in ---------------------------------------------------------------------------


def _presence(event: pb.Presence) -> EngineEvent:
    data: dict[str, Any] = {
        "jid": jid_str(event.From),
        "state": "unavailable" if event.Unavailable else "available",
    }
    if event.LastSeen > 0:
        data["lastSeen"] = event.LastSeen
    return EngineEvent("presence", data)


def _chat_presence(event: pb.ChatPresence) -> EngineEvent:
    source = event.MessageSource
    if event.State == pb.ChatPresence.PAUSED:
        state = "paused"
    elif event.Media == pb.ChatPresence.AUDIO:
        state = "recording"
    else:
        state = "typing"
    return EngineEvent(
        "presence",
        {
            "jid": peer(source.Sender, source.SenderAlt),
            "chat": peer(source.Chat, source.SenderAlt),
            "state": state,
        },
    )


#: neonize's events that become ``presence`` (registered by the Bridge).
TRANSLATORS: dict[type[Any], Callable[[Any], EngineEvent | None]] = {
    pb.Presence: _presence,
    pb.ChatPresence: _chat_presence,
}
