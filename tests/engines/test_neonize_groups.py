"""Group administration, polls and status with the neonize adapter offline: every call
captured where neonize calls into Go (what Go gets, parsed back from its bytes), and
the group and poll events fed through neonize's own dispatcher.

The rig is test_neonize_dispatch's: a real NewClient whose Go library answers only the
calls a test expects.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    MessageContextInfo,
    PollCreationMessage,
    PollEncValue,
    PollUpdateMessage,
    PollVoteMessage,
)
from neonize.utils.jid import build_jid
from test_neonize_dispatch import GROUP, ME, PEER, Rig, incoming

from wad.engines.contract import EngineError, EngineEvent

GROUP_ID = "120363000000000001@g.us"
OTHER = build_jid("15550003333")
LID = build_jid("987654321012345", "lid")
NO_ERROR = b""  # what Go answers for success where neonize reads an error string


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def group_info(*participants: pb.GroupParticipant, name: str = "Team") -> pb.GroupInfo:
    return pb.GroupInfo(
        JID=GROUP,
        OwnerJID=ME,
        GroupName=pb.GroupName(Name=name),
        GroupTopic=pb.GroupTopic(Topic="about"),
        GroupAnnounce=pb.GroupAnnounce(IsAnnounce=True),
        GroupEphemeral=pb.GroupEphemeral(IsEphemeral=True, DisappearingTimer=604800),
        Participants=list(participants),
    )


def member(jid: pb.JID, error: int = 0, admin: bool = False, **kw: Any) -> pb.GroupParticipant:
    return pb.GroupParticipant(JID=jid, IsAdmin=admin, IsSuperAdmin=admin, Error=error, **kw)


def jid_of(buffer: bytes) -> str:
    jid = pb.JID.FromString(buffer)
    return f"{jid.User}@{jid.Server}"


def test_create_a_group(rig: Rig) -> None:
    refused = member(
        OTHER, error=403, AddRequest=pb.GroupParticipantAddRequest(Code="INV1", Expiration=99)
    )
    info = group_info(member(ME, admin=True), member(PEER), refused)
    rig.go.answer(
        "CreateGroup",
        lambda uuid, buf, n: pb.GetGroupInfoReturnFunction(
            GroupInfo=info
        ).SerializePartialToString(),
    )
    rig.go.answer("GenerateMessageID", lambda uuid: b"3EB0CREATEKEY")
    rig.connect()
    params = {"subject": "Team", "participants": [f"{PEER.User}@s.whatsapp.net", "15550003333"]}
    result = rig.run("group_create", params)
    ((uuid, buf, n),) = rig.go.named("CreateGroup")
    asked = pb.ReqCreateGroup.FromString(buf)
    assert asked.name == "Team" and asked.CreateKey == "3EB0CREATEKEY"
    assert [j.User for j in asked.Participants] == [PEER.User, OTHER.User]
    assert result["group"]["id"] == GROUP_ID and result["group"]["disappearing"] == 604800
    assert [p["jid"] for p in result["group"]["participants"]] == [
        "15550001111@s.whatsapp.net",
        "15550002222@s.whatsapp.net",
    ]
    assert result["participants"] == [
        {"jid": "15550002222@s.whatsapp.net", "status": 200},
        {
            "jid": "15550003333@s.whatsapp.net",
            "status": 403,
            "inviteCode": "INV1",
            "inviteExpiration": 99,
        },
    ]


def test_subject_description_picture_and_settings(rig: Rig, tmp_path: Path) -> None:
    for name in ("SetGroupName", "SetGroupTopic", "SetGroupAnnounce", "SetGroupLocked"):
        rig.go.answer(name, lambda *args: NO_ERROR)
    rig.go.answer("SetDisappearingTimer", lambda *args: NO_ERROR)
    rig.go.answer(
        "SetGroupPhoto",
        lambda uuid, jid, n, data, size: pb.SetGroupPhotoReturnFunction(
            PictureID="1234"
        ).SerializePartialToString(),
    )
    rig.connect()
    rig.run("group_subject", {"id": GROUP_ID, "subject": "Team 2"})
    rig.run("group_description", {"id": GROUP_ID, "description": "for us"})
    jpeg = tmp_path / "p.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0jpeg")
    assert rig.run("group_picture", {"id": GROUP_ID, "path": str(jpeg)}) == {"pictureId": "1234"}
    rig.run(
        "group_settings", {"id": GROUP_ID, "announce": True, "locked": False, "disappearing": 86400}
    )
    (name,) = rig.go.named("SetGroupName")
    assert jid_of(name[1]) == GROUP_ID and name[3].value == b"Team 2"
    ((_, jid, _, previous, new, topic),) = rig.go.named("SetGroupTopic")
    # Empty ids: whatsmeow fetches the previous topic id and makes a new one itself.
    assert (jid_of(jid), previous, new, topic) == (GROUP_ID, b"", b"", b"for us")
    ((_, jid, _, data, size),) = rig.go.named("SetGroupPhoto")
    assert data == jpeg.read_bytes() and size == len(data)
    assert rig.go.named("SetGroupAnnounce")[0][3] is True
    assert rig.go.named("SetGroupLocked")[0][3] is False
    ((_, _, _, timer, _),) = rig.go.named("SetDisappearingTimer")
    assert timer == 86400 * 1_000_000_000  # a Go time.Duration: nanoseconds


def test_participants_each_with_its_result(rig: Rig) -> None:
    def update(uuid: bytes, jid: bytes, n: int, jids: bytes, m: int, action: bytes) -> bytes:
        people = pb.JIDArray.FromString(jids).JIDS
        answer = [member(people[0], PhoneNumber=people[0]), member(people[1], error=403)]
        return pb.UpdateGroupParticipantsReturnFunction(
            participants=answer
        ).SerializePartialToString()

    rig.go.answer("UpdateGroupParticipants", update)
    rig.connect()
    people = ["15550002222", "15550003333"]
    for action in ("add", "remove", "promote", "demote"):
        result = rig.run(
            "group_participants", {"id": GROUP_ID, "action": action, "participants": people}
        )
        assert [r["status"] for r in result["results"]] == [200, 403]
    actions = [args[5] for args in rig.go.named("UpdateGroupParticipants")]
    assert actions == [b"add", b"remove", b"promote", b"demote"]
    first = rig.go.named("UpdateGroupParticipants")[0]
    assert jid_of(first[1]) == GROUP_ID
    assert [j.User for j in pb.JIDArray.FromString(first[3]).JIDS] == people
    with pytest.raises(EngineError) as refused:
        rig.run("group_participants", {"id": GROUP_ID, "action": "ban", "participants": people})
    assert refused.value.code == "bad_request"


def test_invite_join_leave_and_requests(rig: Rig) -> None:
    def invite(uuid: bytes, jid: bytes, n: int, revoke: bool) -> bytes:
        link = "https://chat.whatsapp.com/" + ("NEWCODE123" if revoke else "OLDCODE123")
        return pb.GetGroupInviteLinkReturnFunction(InviteLink=link).SerializePartialToString()

    rig.go.answer("GetGroupInviteLink", invite)
    rig.go.answer(
        "JoinGroupWithLink",
        lambda uuid, code: pb.JoinGroupWithLinkReturnFunction(Jid=GROUP).SerializePartialToString(),
    )
    rig.go.answer("LeaveGroup", lambda *args: NO_ERROR)
    request = pb.GroupParticipantRequest(Participant=LID, TimeAt=1_767_000_000_123_456)
    rig.go.answer(
        "GetGroupRequestParticipants",
        lambda *args: pb.GetGroupRequestParticipantsReturnFunction(
            Participants=[request]
        ).SerializePartialToString(),
    )
    rig.go.answer(
        "GetPNFromLID",
        lambda *args: pb.GetJIDFromStoreReturnFunction(Jid=OTHER).SerializePartialToString(),
    )
    rig.connect()
    assert rig.run("group_invite", {"id": GROUP_ID}) == {
        "link": "https://chat.whatsapp.com/OLDCODE123",
        "code": "OLDCODE123",
    }
    assert rig.run("group_invite", {"id": GROUP_ID, "revoke": True})["code"] == "NEWCODE123"
    assert [args[3] for args in rig.go.named("GetGroupInviteLink")] == [False, True]
    joined = rig.run("group_join", {"code": "https://chat.whatsapp.com/OLDCODE123"})
    assert joined == {"id": GROUP_ID}
    assert rig.go.named("JoinGroupWithLink") == [(b"dispatch-test", b"OLDCODE123")]
    assert rig.run("group_leave", {"id": GROUP_ID}) == {}
    assert jid_of(rig.go.named("LeaveGroup")[0][1]) == GROUP_ID
    assert rig.run("group_requests", {"id": GROUP_ID}) == {
        "requests": [
            {
                "jid": "987654321012345@lid",
                "phone": "15550003333@s.whatsapp.net",
                "lid": "987654321012345@lid",
                "requestedAt": 1_767_000_000,
            }
        ]
    }
    # neonize 0.5 has no call for answering requests: refused before anything reaches Go.
    with pytest.raises(EngineError) as unsupported:
        rig.run(
            "group_requests_update",
            {"id": GROUP_ID, "action": "approve", "participants": ["15550003333"]},
        )
    assert unsupported.value.code == "unsupported"


def test_send_a_poll_and_a_status(rig: Rig) -> None:
    def build(uuid: bytes, name: bytes, options: bytes, n: int, count: int) -> bytes:
        poll = PollCreationMessage(
            name=name.decode(),
            options=[
                PollCreationMessage.Option(optionName=o)
                for o in pb.ArrayString.FromString(options).data
            ],
            selectableOptionsCount=count,
        )
        message = WAMessage(
            pollCreationMessage=poll, messageContextInfo=MessageContextInfo(messageSecret=b"s" * 32)
        )
        return pb.BuildMessageReturnFunction(Message=message).SerializePartialToString()

    rig.go.answer("BuildPollVoteCreation", build)
    rig.connect()
    poll = {"question": "Lunch?", "options": ["Pizza", "Sushi", "Salad"], "selectableCount": 2}
    sent = rig.run("send", {"id": "3EB0X", "to": GROUP_ID, "type": "poll", "poll": poll})
    assert sent["id"] == "3EB0WHATSMEOW0001"
    rig.run("send", {"id": "3EB0Y", "to": "status@broadcast", "type": "text", "text": "hi all"})
    ((_, name, options, _, count),) = rig.go.named("BuildPollVoteCreation")
    assert name == b"Lunch?" and count == 0  # neonize's MULTIPLE; the count is set after
    assert list(pb.ArrayString.FromString(options).data) == ["Pizza", "Sushi", "Salad"]
    (to_group, message), (to_status, status) = rig.go.sent()
    assert (to_group.User, to_group.Server) == ("120363000000000001", "g.us")
    assert message.pollCreationMessage.selectableOptionsCount == 2
    assert [o.optionName for o in message.pollCreationMessage.options] == poll["options"]
    assert message.messageContextInfo.messageSecret == b"s" * 32
    assert (to_status.User, to_status.Server) == ("status", "broadcast")
    assert status.extendedTextMessage.text == "hi all"


def test_group_events_carry_both_ids(rig: Rig) -> None:
    rig.go.answer(
        "GetPNFromLID",
        lambda *args: pb.GetJIDFromStoreReturnFunction(Jid=OTHER).SerializePartialToString(),
    )
    rig.go.answer(
        "GetLIDFromPN",
        lambda *args: pb.GetJIDFromStoreReturnFunction(Jid=LID).SerializePartialToString(),
    )
    rig.connect()
    rig.events.clear()
    rig.dispatch(
        pb.JoinedGroup(Reason="invite", Type="", GroupInfo=group_info(), Sender=LID, SenderPN=OTHER)
    )
    rig.dispatch(
        pb.GroupInfoEvent(
            JID=GROUP,
            Sender=PEER,
            Timestamp=1_767_000_000,
            Name=pb.GroupName(Name="Team 2"),
            Announce=pb.GroupAnnounce(IsAnnounce=True),
            NewInviteLink="https://chat.whatsapp.com/X",
            Join=[LID],
            Promote=[OTHER],
        )
    )
    rig.dispatch(pb.Picture(JID=GROUP, Author=PEER, Timestamp=1, Remove=False))
    rig.dispatch(pb.Picture(JID=PEER, Author=PEER, Timestamp=1, Remove=True))  # a contact's
    lid = {
        "jid": "987654321012345@lid",
        "phone": "15550003333@s.whatsapp.net",
        "lid": "987654321012345@lid",
    }
    by = {
        "jid": "15550002222@s.whatsapp.net",
        "phone": "15550002222@s.whatsapp.net",
        "lid": "987654321012345@lid",
    }
    assert rig.events == [
        EngineEvent(
            "group_participants",
            {
                "group": GROUP_ID,
                "action": "join",
                "participants": [
                    {
                        "jid": "15550001111@s.whatsapp.net",
                        "phone": "15550001111@s.whatsapp.net",
                        "lid": "987654321012345@lid",
                    }
                ],
                "by": lid,
                "subject": "Team",
                "reason": "invite",
            },
        ),
        EngineEvent(
            "group_participants",
            {"group": GROUP_ID, "action": "join", "participants": [lid], "by": by},
        ),
        EngineEvent(
            "group_participants",
            {
                "group": GROUP_ID,
                "action": "promote",
                "participants": [
                    {
                        "jid": "15550003333@s.whatsapp.net",
                        "phone": "15550003333@s.whatsapp.net",
                        "lid": "987654321012345@lid",
                    }
                ],
                "by": by,
            },
        ),
        EngineEvent(
            "group_update",
            {
                "group": GROUP_ID,
                "by": by,
                "subject": "Team 2",
                "announce": True,
                "inviteLinkRevoked": True,
            },
        ),
        EngineEvent("group_update", {"group": GROUP_ID, "by": by, "pictureRemoved": False}),
    ]


def test_a_poll_vote_is_decrypted_and_a_received_poll_keeps_its_options(rig: Rig) -> None:
    chosen = hashlib.sha256(b"Sushi").digest()
    rig.go.answer(
        "DecryptPollVote",
        lambda uuid, buf, n: pb.ReturnFunctionWithError(
            PollVoteMessage=PollVoteMessage(selectedOptions=[chosen])
        ).SerializePartialToString(),
    )
    rig.connect()
    rig.events.clear()
    vote = PollUpdateMessage(
        pollCreationMessageKey=MessageKey(ID="3EB0POLL", fromMe=True),
        vote=PollEncValue(encPayload=b"x", encIV=b"y"),
        senderTimestampMS=1_767_000_222_000,
    )
    rig.dispatch(
        incoming(WAMessage(pollUpdateMessage=vote), chat=GROUP, sender=LID, sender_alt=OTHER)
    )
    poll = PollCreationMessage(
        name="Tea?",
        options=[PollCreationMessage.Option(optionName=o) for o in ("Yes", "No")],
        selectableOptionsCount=1,
    )
    rig.dispatch(incoming(WAMessage(pollCreationMessage=poll), message_id="WAPOLL2"))
    ((_, buf, n),) = rig.go.named("DecryptPollVote")
    # The whole message event (info and content) goes to Go, as whatsmeow needs both.
    assert pb.Message.FromString(buf).Message.pollUpdateMessage.pollCreationMessageKey.ID == (
        "3EB0POLL"
    )
    voted, received = rig.events
    assert voted == EngineEvent(
        "poll_vote",
        {
            "pollId": "3EB0POLL",
            "chat": GROUP_ID,
            "voter": {
                "jid": "987654321012345@lid",
                "phone": "15550003333@s.whatsapp.net",
                "lid": "987654321012345@lid",
            },
            "selectedHashes": [chosen.hex()],
            "timestamp": 1_767_000_222,
        },
    )
    assert received.data["type"] == "poll" and received.data["text"] == "Tea?"
    assert received.data["poll"] == {
        "question": "Tea?",
        "options": ["Yes", "No"],
        "selectableCount": 1,
    }


def test_group_commands_check_their_params_before_go(rig: Rig) -> None:
    rig.connect()
    for command, params in (
        ("group_subject", {"id": "15550002222@s.whatsapp.net", "subject": "x"}),
        ("group_subject", {"id": GROUP_ID}),
        ("group_settings", {"id": GROUP_ID}),
        ("group_picture", {"id": GROUP_ID, "path": "/nonexistent.jpg"}),
        ("group_create", {"subject": "x", "participants": "15550002222"}),
        ("group_join", {"code": ""}),
    ):
        with pytest.raises(EngineError) as refused:
            rig.run(command, params)
        assert refused.value.code == "bad_request", command
    assert rig.go.calls == []
