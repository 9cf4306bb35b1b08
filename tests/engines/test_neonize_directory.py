"""The people and channel commands on neonize offline: real neonize clients whose Go
library is :class:`FakeGo` (each call captured with the bytes neonize hands Go, and
answered as Go answers), and presence events fed through neonize's own dispatcher."""

from __future__ import annotations

from pathlib import Path

import pytest
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ExtendedTextMessage
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from neonize.utils.jid import build_jid
from test_neonize_dispatch import ME, PEER, Rig

from wad.engines.contract import EngineError, EngineEvent

PEER_ID = "15550002222@s.whatsapp.net"
CHANNEL = build_jid("120363000000000077", "newsletter")
CHANNEL_ID = "120363000000000077@newsletter"
S = pb.PrivacySettings


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    rig = Rig(tmp_path)
    # neonize's contact and chat-settings stores call the module's Go library, not the
    # client's: they get the fake too.
    rig.client.contact._ContactStore__client = rig.go  # type: ignore[attr-defined]
    rig.client.chat_settings._ChatSettingsStore__client = rig.go  # type: ignore[attr-defined]
    rig.connect()
    return rig


def jid_of(data: bytes) -> pb.JID:
    return pb.JID.FromString(data)


def test_contacts_from_the_local_store(rig: Rig) -> None:
    contacts = [
        pb.Contact(
            JID=PEER,
            Info=pb.ContactInfo(Found=True, FullName="Ada Lovelace", PushName="ada"),
        ),
        pb.Contact(
            JID=build_jid("15550003333"),
            Info=pb.ContactInfo(Found=True, FirstName="Bob", BusinessName="Bob Bikes"),
        ),
    ]
    rig.go.answer(
        "GetAllContacts",
        lambda uuid: pb.ContactsGetAllContactsReturnFunction(
            Contact=contacts
        ).SerializePartialToString(),
    )
    assert rig.run("contacts", {}) == {
        "contacts": [
            {"jid": PEER_ID, "name": "Ada Lovelace", "pushName": "ada", "businessName": ""},
            {
                "jid": "15550003333@s.whatsapp.net",
                "name": "Bob",
                "pushName": "",
                "businessName": "Bob Bikes",
            },
        ]
    }
    assert rig.go.named("GetAllContacts") == [(rig.client.uuid,)]


def test_another_users_picture_and_about(rig: Rig) -> None:
    def picture(uuid: bytes, jid: bytes, size: int, extra: bytes, extra_size: int) -> bytes:
        if jid_of(jid).User == "15550009999":
            return pb.GetProfilePictureReturnFunction(
                Error="the user has hidden their profile picture from you"
            ).SerializePartialToString()
        info = pb.ProfilePictureInfo(URL="https://pps.example/ada.jpg", ID="777")
        return pb.GetProfilePictureReturnFunction(Picture=info).SerializePartialToString()

    rig.go.answer("GetProfilePicture", picture)
    rig.go.answer(
        "GetUserInfo",
        lambda uuid, jids, size: pb.GetUserInfoReturnFunction(
            UsersInfo=[
                pb.GetUserInfoSingleReturnFunction(
                    JID=PEER, UserInfo=pb.UserInfo(Status="Engines", PictureID="777")
                )
            ]
        ).SerializePartialToString(),
    )
    rig.go.answer(
        "GetContact",
        lambda uuid, jid, size: pb.ContactsGetContactReturnFunction(
            ContactInfo=pb.ContactInfo(Found=True, BusinessName="")
        ).SerializePartialToString(),
    )
    assert rig.run("picture", {"jid": PEER_ID}) == {
        "url": "https://pps.example/ada.jpg",
        "id": "777",
    }
    ((_, jid, _, extra, _),) = rig.go.named("GetProfilePicture")
    assert jid_of(jid).User == "15550002222"
    assert not pb.GetProfilePictureParams.FromString(extra).Preview
    with pytest.raises(EngineError) as hidden:
        rig.run("picture", {"jid": "15550009999@s.whatsapp.net"})
    assert hidden.value.code == "not_found"

    info = rig.run("user_info", {"jid": PEER_ID})
    assert info == {"jid": PEER_ID, "about": "Engines", "pictureId": "777", "businessName": ""}
    ((_, jids, _),) = rig.go.named("GetUserInfo")
    assert [j.User for j in pb.JIDArray.FromString(jids).JIDS] == ["15550002222"]


def test_own_profile_push_name_about_and_picture(rig: Rig, tmp_path: Path) -> None:
    rig.go.answer(
        "GetUserInfo",
        lambda uuid, jids, size: pb.GetUserInfoReturnFunction(
            UsersInfo=[
                pb.GetUserInfoSingleReturnFunction(JID=ME, UserInfo=pb.UserInfo(Status="Open"))
            ]
        ).SerializePartialToString(),
    )
    rig.go.answer(
        "GetProfilePicture",
        lambda *args: pb.GetProfilePictureReturnFunction(
            Picture=pb.ProfilePictureInfo(URL="https://pps.example/me.jpg")
        ).SerializePartialToString(),
    )
    rig.go.answer("SetPushName", lambda uuid, name: b"")
    rig.go.answer("SetStatusMessage", lambda uuid, text: b"")
    rig.go.answer(
        "SetProfilePhoto",
        lambda uuid, data, size: pb.SetGroupPhotoReturnFunction(
            PictureID="888"
        ).SerializePartialToString(),
    )
    assert rig.run("profile", {}) == {
        "jid": "15550001111@s.whatsapp.net",
        "pushName": "wad",
        "about": "Open",
        "pictureUrl": "https://pps.example/me.jpg",
    }
    assert rig.run("set_push_name", {"name": "Sales"}) == {}
    assert rig.run("set_about", {"text": "Open 9-5"}) == {}
    assert rig.go.named("SetPushName") == [(rig.client.uuid, b"Sales")]
    assert rig.go.named("SetStatusMessage") == [(rig.client.uuid, b"Open 9-5")]

    jpeg = tmp_path / "me.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0 a picture")
    assert rig.run("set_picture", {"path": str(jpeg)}) == {"id": "888"}
    ((_, data, size),) = rig.go.named("SetProfilePhoto")
    assert data == jpeg.read_bytes() and size == len(data)
    # neonize 0.5 always passes picture bytes: it cannot remove one.
    with pytest.raises(EngineError) as removal:
        rig.run("remove_picture", {})
    assert removal.value.code == "unsupported"
    assert not rig.go.named("SetProfilePhoto")[1:]


def test_privacy_read_and_set_around_neonizes_setter(rig: Rig) -> None:
    current = pb.PrivacySettings(
        GroupAdd=S.CONTACTS,
        LastSeen=S.ALL,
        Status=S.CONTACT_BLACKLIST,
        Profile=S.NONE,
        ReadReceipts=S.ALL,
        CallAdd=S.KNOWN,
        Online=S.MATCH_LAST_SEEN,
    )
    rig.go.answer("GetPrivacySettings", lambda uuid: current.SerializePartialToString())
    changed = pb.PrivacySettings()
    changed.CopyFrom(current)
    changed.LastSeen = S.CONTACTS
    rig.go.answer(
        "SetPrivacySetting",
        lambda uuid, name, value: pb.SetPrivacySettingReturnFunction(
            settings=changed
        ).SerializePartialToString(),
    )
    assert rig.run("privacy", {})["settings"] == {
        "lastSeen": "all",
        "online": "match_last_seen",
        "picture": "none",
        "about": "contact_blacklist",
        "groups": "contacts",
        "readReceipts": "all",
        "calls": "known",
    }
    # neonize's own wrapper would raise on this success answer; wad reads it.
    settings = rig.run("set_privacy", {"name": "lastSeen", "value": "contacts"})["settings"]
    assert settings["lastSeen"] == "contacts"
    rig.run("set_privacy", {"name": "about", "value": "contact_blacklist"})
    assert [args[1:] for args in rig.go.named("SetPrivacySetting")] == [
        (b"last", b"contacts"),
        (b"status", b"contact_blacklist"),  # whatsmeow's spelling, not neonize's
    ]
    with pytest.raises(EngineError) as wrong:
        rig.run("set_privacy", {"name": "online", "value": "contacts"})
    assert wrong.value.code == "bad_request" and len(rig.go.named("SetPrivacySetting")) == 2
    rig.go.answer(
        "SetPrivacySetting",
        lambda *args: pb.SetPrivacySettingReturnFunction(
            Error="info query returned status 400"
        ).SerializePartialToString(),
    )
    with pytest.raises(EngineError):
        rig.run("set_privacy", {"name": "calls", "value": "all"})


def test_blocklist_block_and_unblock(rig: Rig) -> None:
    def update(uuid: bytes, jid: bytes, size: int, action: bytes) -> bytes:
        jids = [jid_of(jid)] if action == b"block" else []
        return pb.GetBlocklistReturnFunction(
            Blocklist=pb.Blocklist(DHash="h", JIDs=jids)
        ).SerializePartialToString()

    rig.go.answer(
        "GetBlocklist",
        lambda uuid: pb.GetBlocklistReturnFunction(
            Blocklist=pb.Blocklist(DHash="h", JIDs=[PEER])
        ).SerializePartialToString(),
    )
    rig.go.answer("UpdateBlocklist", update)
    assert rig.run("blocklist", {}) == {"jids": [PEER_ID]}
    assert rig.run("block", {"jid": PEER_ID}) == {"jids": [PEER_ID]}
    assert rig.run("unblock", {"jid": PEER_ID}) == {"jids": []}
    calls = rig.go.named("UpdateBlocklist")
    assert [(jid_of(jid).User, action) for _, jid, _, action in calls] == [
        ("15550002222", b"block"),
        ("15550002222", b"unblock"),
    ]


def test_channels_follow_messages_and_a_text_post(rig: Rig) -> None:
    meta = pb.NewsletterMetadata(
        ID=CHANNEL,
        ThreadMeta=pb.NewsletterThreadMetadata(
            Name=pb.NewsletterText(Text="News"),
            Description=pb.NewsletterText(Text="Daily"),
            SubscriberCount=42,
            InviteCode="abc",
        ),
        ViewerMeta=pb.NewsletterViewerMetadata(Role=pb.NewsletterRole.ADMIN, Mute=pb.OFF),
    )
    rig.go.answer(
        "GetSubscribedNewsletters",
        lambda uuid: pb.GetSubscribedNewslettersReturnFunction(
            Newsletter=[meta]
        ).SerializePartialToString(),
    )
    rig.go.answer("FollowNewsletter", lambda uuid, jid, size: b"")
    rig.go.answer("UnfollowNewsletter", lambda uuid, jid, size: b"")
    posts = [
        pb.NewsletterMessage(
            MessageServerID=101,
            ViewsCount=5,
            Message=WAMessage(conversation="first"),
            ReactionCounts=[pb.Reaction(type="👍", count=2)],
        ),
        pb.NewsletterMessage(
            MessageServerID=102,
            ViewsCount=1,
            Message=WAMessage(extendedTextMessage=ExtendedTextMessage(text="second")),
        ),
    ]
    rig.go.answer(
        "GetNewsletterMessages",
        lambda uuid, jid, size, count, before: pb.GetNewsletterMessageUpdateReturnFunction(
            NewsletterMessage=posts
        ).SerializePartialToString(),
    )
    assert rig.run("channels", {}) == {
        "channels": [
            {
                "id": CHANNEL_ID,
                "name": "News",
                "description": "Daily",
                "role": "admin",
                "subscribers": 42,
                "muted": False,
                "inviteCode": "abc",
            }
        ]
    }
    assert rig.run("channel_follow", {"id": CHANNEL_ID}) == {}
    assert rig.run("channel_unfollow", {"id": CHANNEL_ID}) == {}
    for name in ("FollowNewsletter", "UnfollowNewsletter"):
        ((_, jid, _),) = rig.go.named(name)
        assert jid_of(jid).Server == "newsletter" and jid_of(jid).User == "120363000000000077"

    found = rig.run("channel_messages", {"id": CHANNEL_ID, "count": 2, "before": 200})
    assert found["messages"] == [
        {"serverId": 102, "type": "text", "text": "second", "views": 1, "reactions": {}},
        {"serverId": 101, "type": "text", "text": "first", "views": 5, "reactions": {"👍": 2}},
    ]
    ((_, _, _, count, before),) = rig.go.named("GetNewsletterMessages")
    assert (count, before) == (2, 200)

    # A post is an ordinary send to the channel's JID (whatsmeow sends it in plain).
    sent = rig.run("send", {"id": "X1", "to": CHANNEL_ID, "type": "text", "text": "launch"})
    assert sent["id"] == "3EB0WHATSMEOW0001"
    ((to, message),) = rig.go.sent()
    assert (to.User, to.Server) == ("120363000000000077", "newsletter")
    assert message.conversation == "launch" or message.extendedTextMessage.text == "launch"


def test_presence_subscription_and_chat_settings(rig: Rig) -> None:
    rig.go.answer("SendPresence", lambda uuid, presence: b"")
    rig.go.answer("SubscribePresence", lambda uuid, jid, size: b"")
    rig.go.answer(
        "GetChatSettings",
        lambda uuid, jid, size: pb.ReturnFunctionWithError(
            LocalChatSettings=pb.LocalChatSettings(
                Found=jid_of(jid).User == "15550002222",
                Pinned=jid_of(jid).User == "15550002222",
                Archived=False,
                MutedUntil=1_900_000_000.0 if jid_of(jid).User == "15550002222" else 0.0,
            )
        ).SerializePartialToString(),
    )
    assert rig.run("subscribe_presence", {"jid": PEER_ID}) == {}
    assert rig.go.named("SendPresence") == [(rig.client.uuid, b"available")]
    ((_, jid, _),) = rig.go.named("SubscribePresence")
    assert jid_of(jid).User == "15550002222"

    other = "15550003333@s.whatsapp.net"
    assert rig.run("chat_settings", {"jids": [PEER_ID, other]}) == {
        "settings": {
            PEER_ID: {"archived": False, "pinned": True, "mutedUntil": 1_900_000_000.0},
            other: {"archived": False, "pinned": False, "mutedUntil": None},
        }
    }
    with pytest.raises(EngineError) as bad:
        rig.run("chat_settings", {"jids": "not a list"})
    assert bad.value.code == "bad_request"


def test_presence_events_through_the_dispatcher(rig: Rig) -> None:
    rig.events.clear()
    rig.dispatch(pb.Presence(From=PEER, Unavailable=False, LastSeen=0))
    rig.dispatch(pb.Presence(From=PEER, Unavailable=True, LastSeen=1_767_000_000))
    source = pb.MessageSource(
        Chat=PEER,
        Sender=PEER,
        IsFromMe=False,
        IsGroup=False,
        SenderAlt=pb.JID(),
        RecipientAlt=pb.JID(),
    )
    rig.dispatch(
        pb.ChatPresence(
            MessageSource=source, State=pb.ChatPresence.COMPOSING, Media=pb.ChatPresence.AUDIO
        )
    )
    rig.dispatch(
        pb.ChatPresence(
            MessageSource=source, State=pb.ChatPresence.PAUSED, Media=pb.ChatPresence.TEXT
        )
    )
    assert rig.events == [
        EngineEvent("presence", {"jid": PEER_ID, "state": "available"}),
        EngineEvent(
            "presence", {"jid": PEER_ID, "state": "unavailable", "lastSeen": 1_767_000_000}
        ),
        EngineEvent("presence", {"jid": PEER_ID, "chat": PEER_ID, "state": "recording"}),
        EngineEvent("presence", {"jid": PEER_ID, "chat": PEER_ID, "state": "paused"}),
    ]


def test_people_commands_need_a_connection(tmp_path: Path) -> None:
    rig = Rig(tmp_path)  # never connected
    for command in ("contacts", "privacy", "blocklist", "channels"):
        with pytest.raises(EngineError) as caught:
            rig.run(command, {})
        assert caught.value.code == "not_connected"
    assert rig.go.calls == []
