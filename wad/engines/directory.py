"""The engine commands about people and channels (standard library only: the neonize
worker imports it), and the rules both engines share for them.

Commands (``Link.call(name, params)``), each answered by both engines:

- ``contacts`` -> ``{"contacts": [{"jid", "name", "pushName", "businessName"}]}``: every
  contact the account knows (its address book and the push names it has seen)
- ``picture``: ``jid`` -> ``{"url", "id"}`` (both None when there is none, or it is hidden)
- ``user_info``: ``jid`` -> ``{"jid", "about", "pictureId", "businessName"}``
- ``profile`` -> ``{"jid", "pushName", "about", "pictureUrl"}``: the account's own
- ``set_push_name``: ``name``; ``set_about``: ``text``; ``set_picture``: ``path`` (a JPEG
  file) -> ``{"id"}``; ``remove_picture`` -> ``{}``
- ``privacy`` -> ``{"settings": {name: value}}`` (names and values: :data:`PRIVACY`);
  ``set_privacy``: ``name``, ``value`` -> ``{"settings"}``
- ``blocklist`` -> ``{"jids"}``; ``block`` / ``unblock``: ``jid`` -> ``{"jids"}``
- ``channels`` -> ``{"channels": [channel]}`` (those followed), a channel being
  ``{"id", "name", "description", "role", "subscribers", "muted", "inviteCode"}``;
  ``channel_follow`` / ``channel_unfollow``: ``id`` -> ``{}``;
  ``channel_messages``: ``id``, ``count``, ``before`` (a server id or None) ->
  ``{"messages": [{"serverId", "type", "text", "views", "reactions"}]}``, newest first.
  A text goes to a channel with ``send`` (``to`` its ``...@newsletter`` id).
- ``subscribe_presence``: ``jid`` -> ``{}``; the contact's ``presence`` events follow
- ``chat_settings``: ``jids`` -> ``{"settings": {jid: {"archived", "pinned",
  "mutedUntil"}}}``, as the account's other devices synced them (None: not known)
"""

from __future__ import annotations

COMMANDS = frozenset(
    {
        "contacts",
        "picture",
        "user_info",
        "profile",
        "set_push_name",
        "set_about",
        "set_picture",
        "remove_picture",
        "privacy",
        "set_privacy",
        "blocklist",
        "block",
        "unblock",
        "channels",
        "channel_follow",
        "channel_unfollow",
        "channel_messages",
        "subscribe_presence",
        "chat_settings",
    }
)

_AUDIENCE = ("all", "contacts", "contact_blacklist", "none")
#: Each privacy setting (wad's name) and the values WhatsApp takes for it.
PRIVACY: dict[str, tuple[str, ...]] = {
    "lastSeen": _AUDIENCE,
    "online": ("all", "match_last_seen"),
    "picture": _AUDIENCE,
    "about": _AUDIENCE,
    "groups": ("all", "contacts", "contact_blacklist"),
    "readReceipts": ("all", "none"),
    "calls": ("all", "known"),
}
#: wad's name of a privacy setting -> whatsmeow's.
WHATSMEOW_PRIVACY = {
    "lastSeen": "last",
    "online": "online",
    "picture": "profile",
    "about": "status",
    "groups": "groupadd",
    "readReceipts": "readreceipts",
    "calls": "calladd",
}
PRESENCE_STATES = ("available", "unavailable", "typing", "recording", "paused")
CHANNEL_ROLES = ("owner", "admin", "subscriber", "guest")
CHANNEL_SERVER = "newsletter"


def is_channel(jid: str) -> bool:
    return jid.endswith("@" + CHANNEL_SERVER)


def privacy_problem(name: object, value: object) -> str | None:
    """Why ``name`` = ``value`` is not a privacy setting WhatsApp takes (None: it is)."""
    if name not in PRIVACY:
        return f"privacy setting must be one of {', '.join(PRIVACY)}"
    allowed = PRIVACY[str(name)]
    if value not in allowed:
        return f"{name} must be one of {', '.join(allowed)}"
    return None
