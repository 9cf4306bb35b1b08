"""The groups, polls and status part of the engine contract (standard library only).

A *person* is ``{"jid": ..., "phone": ..., "lid": ...}``: ``jid`` the address WhatsApp
used (a phone-number JID ``...@s.whatsapp.net`` or a privacy id ``...@lid``), ``phone``
and ``lid`` each that person's JID of that kind when the engine knows it, else None.

Events (``kind`` and the keys of ``data``):

- ``group_participants``: ``group`` (``...@g.us``), ``action`` (``add``, ``remove``,
  ``promote``, ``demote``, ``join``: joined by link or approval, or this account
  joined or created the group; ``leave``), ``participants`` (persons), ``by`` (a
  person or None), optional ``reason`` and ``subject``
- ``group_update``: ``group``, ``by``, and what changed: ``subject``, ``description``,
  ``announce``, ``locked``, ``disappearing`` (seconds, 0 off), ``inviteLinkRevoked``,
  ``pictureId``/``pictureRemoved``, ``deleted``
- ``poll_vote``: ``pollId`` (WhatsApp's id of the poll message), ``chat``, ``voter`` (a
  person), ``selectedHashes`` (hex SHA-256 of each chosen option's text: WhatsApp
  carries no option text in a vote), ``timestamp`` (unix s)

Commands (``Link.call``), each with a group ``id`` unless said otherwise:

- ``group_create``: ``subject``, ``participants`` (JIDs) ->
  ``{"group": {...}, "participants": [result]}``
- ``group_subject``: ``subject``; ``group_description``: ``description`` (empty removes);
  ``group_picture``: ``path`` (a JPEG) -> ``{"pictureId"}``; ``group_settings``: any of
  ``announce``, ``locked`` (bools), ``disappearing`` (seconds) -> ``{}``
- ``group_participants``: ``action`` (add/remove/promote/demote), ``participants`` ->
  ``{"results": [result]}``; a *result* is ``{"jid", "status", ...}``: ``status`` 200
  done, else WhatsApp's code for that one (403: their privacy settings refuse it, and an
  ``inviteCode`` to send them may come; 404: not on WhatsApp / not a member; 409:
  already a member)
- ``group_invite``: ``revoke`` (bool) -> ``{"link", "code"}``
- ``group_join``: ``code`` (no ``id``) -> ``{"id"}``; ``group_leave`` -> ``{}``
- ``group_requests`` -> ``{"requests": [{"jid", "phone", "lid", "requestedAt"}]}``;
  ``group_requests_update``: ``action`` (approve/reject), ``participants`` ->
  ``{"results": [result]}``

A poll is sent with ``send`` (``type`` ``poll``, ``poll``: ``question``, ``options``,
``selectableCount``); a status with ``send`` to :data:`STATUS_JID`.
"""

from __future__ import annotations

from typing import Any

GROUP_EVENT_KINDS = ("group_participants", "group_update", "poll_vote")
GROUP_COMMANDS = (
    "group_create",
    "group_subject",
    "group_description",
    "group_picture",
    "group_settings",
    "group_participants",
    "group_invite",
    "group_join",
    "group_leave",
    "group_requests",
    "group_requests_update",
)
PARTICIPANT_ACTIONS = ("add", "remove", "promote", "demote")
REQUEST_ACTIONS = ("approve", "reject")
STATUS_JID = "status@broadcast"
INVITE_PREFIX = "https://chat.whatsapp.com/"


def person(jid: str, phone: str | None = None, lid: str | None = None) -> dict[str, Any]:
    """A person as events carry them; ``jid`` fills whichever kind it is of."""
    if jid.endswith("@s.whatsapp.net"):
        phone = phone or jid
    elif jid.endswith("@lid"):
        lid = lid or jid
    return {"jid": jid, "phone": phone, "lid": lid}


def invite_code(value: str) -> str:
    """The code of an invite link (or the code itself)."""
    value = value.strip()
    return value[len(INVITE_PREFIX) :] if value.startswith(INVITE_PREFIX) else value
