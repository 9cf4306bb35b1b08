"""Group administration, poll votes and group events with neonize, inside a worker.

The commands of :mod:`wad.engines.group_events`, each checked first (on the trio
thread of the worker's reader) and then one blocking neonize call. Their notes:

- the description is whatsmeow's *topic*: ``set_group_topic(jid, "", "", text)`` (with
  empty ids whatsmeow fetches the previous one and makes a new one);
- ``set_disappearing_timer`` hands Go an int as a ``time.Duration``: nanoseconds (a
  ``timedelta`` would be converted to milliseconds by neonize 0.5 and turn it off);
- neonize 0.5 does not wrap whatsmeow's ``UpdateGroupRequestParticipants``: approving
  or rejecting requests to join answers ``unsupported``.

Events: ``JoinedGroup`` (this account joined, or created, a group), ``GroupInfoEvent``
(participants and settings changed) and ``Picture`` (a group's picture) become
``group_participants`` / ``group_update``; a message carrying a ``pollUpdateMessage``
is decrypted with ``decrypt_poll_vote`` into a ``poll_vote``. A person's other id (the
phone number of a privacy id, or back) comes from whatsmeow's local store, never the
network.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neonize.client import NewClient
from neonize.proto import Neonize_pb2 as pb
from neonize.utils.enum import ParticipantChange, VoteType
from neonize.utils.jid import build_jid

from wad.engines.contract import EngineError, EngineEvent
from wad.engines.group_events import (
    PARTICIPANT_ACTIONS,
    invite_code,
    person,
)
from wad.engines.neonize.bridge import Bridge, jid_str, parse_jid, unix_seconds, unwrap

Result = dict[str, Any]
Prepare = Callable[[NewClient, Bridge, dict[str, Any]], Callable[[], Result]]
NANOSECONDS = 1_000_000_000


def _group_id(params: dict[str, Any]) -> pb.JID:
    jid = parse_jid(params.get("id"), "id")
    if jid.Server != "g.us":
        raise EngineError("a group id ends in @g.us", "bad_request")
    return jid


def _people(params: dict[str, Any]) -> list[pb.JID]:
    people = params.get("participants")
    if not isinstance(people, list):
        raise EngineError("'participants' must be a list of JIDs", "bad_request")
    return [parse_jid(p, "participants[]") for p in people]


def _string(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str):
        raise EngineError(f"'{key}' must be a string", "bad_request")
    return value


# -- what neonize answers, as the daemon shows it ----------------------------------------


def participant_jid(p: pb.GroupParticipant) -> str:
    # A participant known by a privacy id (@lid) may come with a phone number.
    return jid_str(p.PhoneNumber if p.PhoneNumber.User else p.JID)


def group_detail(info: pb.GroupInfo) -> Result:
    return {
        "id": jid_str(info.JID),
        "name": info.GroupName.Name,
        "topic": info.GroupTopic.Topic,
        "participants": [
            {"jid": participant_jid(p), "isAdmin": p.IsAdmin, "isSuperAdmin": p.IsSuperAdmin}
            for p in info.Participants
        ],
        "announce": info.GroupAnnounce.IsAnnounce,
        "locked": info.GroupLocked.isLocked,
        "disappearing": info.GroupEphemeral.DisappearingTimer
        if info.GroupEphemeral.IsEphemeral
        else 0,
    }


def participant_result(p: pb.GroupParticipant) -> Result:
    result: Result = {"jid": participant_jid(p), "status": p.Error or 200}
    if p.AddRequest.Code:
        result["inviteCode"] = p.AddRequest.Code
        result["inviteExpiration"] = p.AddRequest.Expiration
    return result


# -- the commands ------------------------------------------------------------------------


def _create(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Callable[[], Result]:
    subject, people = _string(params, "subject"), _people(params)

    def call() -> Result:
        info = client.create_group(subject, participants=people)
        added = {participant_jid(p): p for p in info.Participants}
        results = []
        for jid in (jid_str(p) for p in people):
            found = added.get(jid)
            results.append(participant_result(found) if found else {"jid": jid, "status": 404})
        detail = group_detail(info)
        # WhatsApp reports the refused ones among the participants, with their error.
        detail["participants"] = [
            d for d, p in zip(detail["participants"], info.Participants, strict=True) if not p.Error
        ]
        return {"group": detail, "participants": results}

    return call


def _subject(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Callable[[], Result]:
    jid, subject = _group_id(params), _string(params, "subject")
    return _done(client.set_group_name, jid, subject)


def _description(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Callable[[], Result]:
    jid, text = _group_id(params), _string(params, "description")
    return _done(client.set_group_topic, jid, "", "", text)


def _picture(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Callable[[], Result]:
    jid, path = _group_id(params), Path(_string(params, "path"))
    if not path.is_file():
        raise EngineError("'path' must name a file", "bad_request")

    def call() -> Result:
        # Bytes, not the path: neonize would fetch a string that looks like a URL.
        return {"pictureId": client.set_group_photo(jid, path.read_bytes())}

    return call


def _settings(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Callable[[], Result]:
    jid = _group_id(params)
    steps: list[Callable[[], object]] = []
    if isinstance(params.get("announce"), bool):
        steps.append(functools.partial(client.set_group_announce, jid, params["announce"]))
    if isinstance(params.get("locked"), bool):
        steps.append(functools.partial(client.set_group_locked, jid, params["locked"]))
    timer = params.get("disappearing")
    if isinstance(timer, int) and not isinstance(timer, bool):
        steps.append(functools.partial(client.set_disappearing_timer, jid, timer * NANOSECONDS))
    if not steps:
        raise EngineError("nothing to change", "bad_request")

    def call() -> Result:
        for step in steps:
            step()
        return {}

    return call


def _participants(
    client: NewClient, bridge: Bridge, params: dict[str, Any]
) -> Callable[[], Result]:
    jid, people, action = _group_id(params), _people(params), params.get("action")
    if action not in PARTICIPANT_ACTIONS:
        raise EngineError("action must be add, remove, promote or demote", "bad_request")
    change = ParticipantChange(action)

    def call() -> Result:
        changed = client.update_group_participants(jid, people, change)
        return {"results": [participant_result(p) for p in changed]}

    return call


def _invite(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Callable[[], Result]:
    jid, revoke = _group_id(params), bool(params.get("revoke"))

    def call() -> Result:
        link = client.get_group_invite_link(jid, revoke=revoke)
        return {"link": link, "code": invite_code(link)}

    return call


def _join(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Callable[[], Result]:
    code = invite_code(_string(params, "code"))
    if not code:
        raise EngineError("'code' must be an invite code", "bad_request")
    return lambda: {"id": jid_str(client.join_group_with_link(code))}


def _leave(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Callable[[], Result]:
    return _done(client.leave_group, _group_id(params))


def _requests(client: NewClient, bridge: Bridge, params: dict[str, Any]) -> Callable[[], Result]:
    jid = _group_id(params)

    def call() -> Result:
        found = client.get_group_request_participants(jid)
        return {
            "requests": [
                # whatsmeow gives the time of a request in microseconds (UnixMicro).
                {**who(client, r.Participant), "requestedAt": r.TimeAt // 1_000_000}
                for r in found
            ]
        }

    return call


def _requests_update(
    client: NewClient, bridge: Bridge, params: dict[str, Any]
) -> Callable[[], Result]:
    raise EngineError(
        "neonize 0.5 cannot approve or reject requests to join (it does not wrap "
        "whatsmeow's UpdateGroupRequestParticipants)",
        "unsupported",
    )


def _done(fn: Callable[..., object], *args: Any) -> Callable[[], Result]:
    def call() -> Result:
        fn(*args)
        return {}

    return call


PREPARERS: dict[str, Prepare] = {
    "group_create": _create,
    "group_subject": _subject,
    "group_description": _description,
    "group_picture": _picture,
    "group_settings": _settings,
    "group_participants": _participants,
    "group_invite": _invite,
    "group_join": _join,
    "group_leave": _leave,
    "group_requests": _requests,
    "group_requests_update": _requests_update,
}


def poll_message(client: NewClient, poll: dict[str, Any]) -> Any:
    """A poll, built by neonize (it adds the secret the votes are encrypted with)."""
    count = int(poll.get("selectableCount", 1))
    vote_type = VoteType.SINGLE if count == 1 else VoteType.MULTIPLE
    message = client.build_poll_vote_creation(
        str(poll["question"]), [str(o) for o in poll["options"]], vote_type
    )
    # neonize's enum knows 1 and 0 (any); whatsmeow and WhatsApp take any count.
    message.pollCreationMessage.selectableOptionsCount = count
    return message


# -- events ------------------------------------------------------------------------------


def who(client: NewClient, jid: pb.JID, alt: pb.JID | None = None) -> dict[str, Any]:
    """A person, with the other of their ids from whatsmeow's store when it has it."""
    if not jid.User:
        return person("")
    address = jid_str(jid)
    other = alt if alt is not None and alt.User else None
    if other is None and jid.Server in ("lid", "s.whatsapp.net"):
        try:
            lookup = client.get_pn_from_lid if jid.Server == "lid" else client.get_lid_from_pn
            found = lookup(build_jid(jid.User, jid.Server))
            other = found if found.User else None
        except Exception:  # not in the store, or the store failed: the one id is all
            other = None
    if other is None:
        return person(address)
    if jid.Server == "lid":
        return person(address, phone=jid_str(other))
    return person(address, lid=jid_str(other))


def register(client: NewClient, bridge: Bridge) -> None:
    """Subscribe the group events and the poll votes (before ``connect()``)."""
    bridge.translate(pb.JoinedGroup, functools.partial(joined_group, client))
    bridge.translate(pb.GroupInfoEvent, functools.partial(group_info, client))
    bridge.translate(pb.Picture, functools.partial(picture, client))
    bridge.by_content["pollUpdateMessage"] = functools.partial(poll_vote, client)


def joined_group(client: NewClient, event: pb.JoinedGroup) -> EngineEvent:
    info = event.GroupInfo
    me = client.me.JID if client.me is not None else pb.JID()
    data: dict[str, Any] = {
        "group": jid_str(info.JID),
        "action": "join",
        "participants": [who(client, me)] if me.User else [],
        "by": who(client, event.Sender, event.SenderPN) if event.Sender.User else None,
        "subject": info.GroupName.Name,
    }
    reason = event.Reason or ("created" if event.Type == "new" else "")
    if reason:
        data["reason"] = reason
    return EngineEvent("group_participants", data)


def group_info(client: NewClient, event: pb.GroupInfoEvent) -> list[EngineEvent]:
    group = jid_str(event.JID)
    by = who(client, event.Sender) if event.Sender.User else None
    events = []
    for action, jids in (
        ("join", event.Join),
        ("leave", event.Leave),
        ("promote", event.Promote),
        ("demote", event.Demote),
    ):
        if jids:
            data: dict[str, Any] = {
                "group": group,
                "action": action,
                "participants": [who(client, j) for j in jids],
                "by": by,
            }
            if action == "join" and event.JoinReason:
                data["reason"] = event.JoinReason
            events.append(EngineEvent("group_participants", data))
    changes: dict[str, Any] = {}
    if event.HasField("Name"):
        changes["subject"] = event.Name.Name
    if event.HasField("Topic"):
        changes["description"] = "" if event.Topic.TopicDeleted else event.Topic.Topic
    if event.HasField("Announce"):
        changes["announce"] = event.Announce.IsAnnounce
    if event.HasField("Locked"):
        changes["locked"] = event.Locked.isLocked
    if event.HasField("Ephemeral"):
        eph = event.Ephemeral
        changes["disappearing"] = eph.DisappearingTimer if eph.IsEphemeral else 0
    if event.NewInviteLink:
        changes["inviteLinkRevoked"] = True
    if event.HasField("Delete") and event.Delete.Deleted:
        changes["deleted"] = True
    if changes:
        events.append(EngineEvent("group_update", {"group": group, "by": by, **changes}))
    return events


def picture(client: NewClient, event: pb.Picture) -> EngineEvent | None:
    if event.JID.Server != "g.us":
        return None  # a contact's picture: not a group's change
    by = who(client, event.Author) if event.Author.User else None
    return EngineEvent(
        "group_update", {"group": jid_str(event.JID), "by": by, "pictureRemoved": event.Remove}
    )


def poll_vote(client: NewClient, message: pb.Message) -> EngineEvent:
    """A vote: decrypted by whatsmeow with the poll's secret (kept when the poll was sent
    or received); the options come as SHA-256 hashes of their texts."""
    update = unwrap(message.Message).pollUpdateMessage
    vote = client.decrypt_poll_vote(completed(message))
    source = message.Info.MessageSource
    timestamp = update.senderTimestampMS // 1000 or unix_seconds(message.Info.Timestamp)
    return EngineEvent(
        "poll_vote",
        {
            "pollId": update.pollCreationMessageKey.ID,
            "chat": jid_str(source.Chat),
            "voter": who(client, source.Sender, source.SenderAlt),
            "selectedHashes": [bytes(h).hex() for h in vote.selectedOptions],
            "timestamp": timestamp,
        },
    )


def completed(message: Any) -> Any:
    """A copy of a protobuf with every unset *required* field at its default: neonize
    serializes what it hands back to Go strictly (``SerializeToString``), and an event
    that came without some of them (proto2, as Go leaves zero values out) would fail."""
    copy = type(message)()
    copy.CopyFrom(message)
    _fill_required(copy)
    return copy


def _fill_required(message: Any) -> None:
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.message_type is not None:
            if field.message_type.GetOptions().map_entry:
                continue  # a map: its entries hold no required fields of ours
            if field.is_repeated:
                for item in value:
                    _fill_required(item)
            elif field.is_required or message.HasField(field.name):
                value.SetInParent()
                _fill_required(value)
        elif field.is_required and not message.HasField(field.name):
            setattr(message, field.name, field.default_value)
