"""Phone-number JIDs and LIDs with neonize, inside a worker process.

What WhatsApp sends names a person by one id and often gives the other alongside
(``MessageSource.SenderAlt`` / ``RecipientAlt``, a participant's ``PhoneNumber`` and
``LID``); the rest comes from whatsmeow's LID map, which neonize reads with
``get_pn_from_lid`` / ``get_lid_from_pn``: a lookup in the local store, no network.
An unknown mapping is an empty JID, not an error; a lookup that fails all the same
(the store is busy, the client is going away) costs that id only, never the event.
"""

from __future__ import annotations

import logging
from typing import Any

from neonize.client import NewClient
from neonize.proto import Neonize_pb2 as pb
from neonize.utils.jid import build_jid

from wad.engines import text
from wad.engines.contract import EngineError
from wad.engines.ids import LID_SERVER, PHONE_SERVER, ids_json, person

log = logging.getLogger(__name__)


def _bare(jid: pb.JID) -> str | None:
    """``user@server`` without the device part; None for an empty JID."""
    user, server = text.repaired(jid.User), text.repaired(jid.Server)
    return f"{user}@{server}" if user and server else None


class Resolver:
    """Both ids of a person, from what an event carries and whatsmeow's LID map."""

    def __init__(self, client: NewClient) -> None:
        self.client = client

    def pair(self, *jids: pb.JID) -> tuple[str | None, str | None]:
        """(phone JID, LID) of the person the JIDs name (an id and its alternative),
        each None when neither the event nor the map knows it."""
        phone = lid = None
        for jid in jids:
            bare = _bare(jid)
            if bare is None:
                continue
            if jid.Server == LID_SERVER:
                lid = lid or bare
            elif jid.Server == PHONE_SERVER:
                phone = phone or bare
        if lid and not phone:
            phone = self._lookup("get_pn_from_lid", lid)
        elif phone and not lid:
            lid = self._lookup("get_lid_from_pn", phone)
        return phone, lid

    def person(self, role: str, *jids: pb.JID) -> dict[str, Any]:
        """The ``role``/``rolePhone``/``roleLid`` fields (:func:`wad.engines.ids.person`);
        an id of another kind (a group, a broadcast) stands as ``role`` alone."""
        phone, lid = self.pair(*jids)
        if phone or lid:
            return person(role, phone, lid)
        other = next((b for b in map(_bare, jids) if b), None)
        return {role: other} if other else {}

    def _lookup(self, method: str, jid: str) -> str | None:
        user, _, server = jid.partition("@")
        try:
            found = getattr(self.client, method)(build_jid(user, server))
        except Exception as exc:  # one id unknown: the event still goes
            log.debug("%s(%s) failed: %s", method, jid, exc)
            return None
        return _bare(found) if not found.IsEmpty else None

    # -- the message event ------------------------------------------------------------

    def message_people(self, message: pb.Message, data: dict[str, Any]) -> None:
        """Fill ``from``/``chat`` (and their Phone/Lid twins) and ``mentionIds`` of a
        ``message`` event's data: the phone-number form first, as before."""
        source = message.Info.MessageSource
        data.update(self.person("from", source.Sender, source.SenderAlt))
        if not source.IsGroup:
            alt = source.RecipientAlt if source.IsFromMe else source.SenderAlt
            chat = self.person("chat", source.Chat, alt)
            if chat:
                data.update(chat)
        mentions = data.get("mentions")
        if mentions:
            people = [self.mention(m) for m in mentions]
            data["mentions"] = [p.get("jid") or m for p, m in zip(people, mentions, strict=True)]
            data["mentionIds"] = people

    def mention(self, jid: str) -> dict[str, Any]:
        user, _, server = jid.partition("@")
        phone, lid = self.pair(build_jid(user, server or PHONE_SERVER))
        fields = person("jid", phone, lid)
        return {"jid": fields.get("jid", jid), "phone": phone, "lid": lid}

    def receipt_people(self, receipt: pb.Receipt) -> dict[str, Any]:
        source = receipt.MessageSource
        return self.person("from", source.Sender, source.SenderAlt)

    # -- the resolve_ids command ------------------------------------------------------

    @staticmethod
    def check(value: object) -> tuple[str, str]:
        """(user, server) of a phone number, user JID or LID; EngineError otherwise."""
        if not isinstance(value, str) or not value:
            raise EngineError("'jid' must be a phone number, a user JID or a LID", "bad_request")
        user, _, server = value.partition("@")
        server = server or PHONE_SERVER
        if server not in (PHONE_SERVER, LID_SERVER) or not user.isdigit():
            raise EngineError(f"not a user JID or LID: {value!r}", "bad_request")
        return user, server

    def resolve(self, user: str, server: str) -> dict[str, Any]:
        """``resolve_ids``: both forms of a checked id (None: not known here)."""
        phone, lid = self.pair(build_jid(user, server))
        return ids_json(f"{user}@{server}", phone, lid)


def participant(p: pb.GroupParticipant) -> dict[str, Any]:
    """A group participant's two ids, as the group's info gives them (no lookups)."""
    phone = _bare(p.PhoneNumber) or (_bare(p.JID) if p.JID.Server == PHONE_SERVER else None)
    lid = _bare(p.LID) or (_bare(p.JID) if p.JID.Server == LID_SERVER else None)
    return {"phone": phone, "lid": lid}
