"""The neonize adapter offline: real neonize clients, events fed through neonize's own
dispatcher (serialized protobuf, as Go hands them over), and sends captured at the
ctypes boundary, where neonize calls into its Go library.

Nothing here lets a call reach Go: a client's Go library is replaced by
:class:`FakeGo`, which answers only the calls a test expects and fails loudly on any
other (a real Go call on a client that never connected can panic the interpreter).
"""

from __future__ import annotations

import ctypes
import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from neonize._binder import func_callback_bytes, func_string
from neonize.client import NewClient
from neonize.events import EVENT_TO_INT
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ContactMessage,
    ContextInfo,
    DocumentMessage,
    ExtendedTextMessage,
    FutureProofMessage,
    ImageMessage,
    LocationMessage,
    ProtocolMessage,
    ReactionMessage,
    StickerMessage,
    VideoMessage,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from neonize.utils.jid import build_jid
from PIL import Image

from wad.engines.contract import EngineError, EngineEvent
from wad.engines.neonize.bridge import Bridge
from wad.engines.neonize.commands import Commands

ME = build_jid("15550001111")
PEER = build_jid("15550002222")
GROUP = build_jid("120363000000000001", "g.us")


# -- neonize's Go library, replaced ------------------------------------------------------


class FakeGo:
    """Stands where neonize keeps its ctypes library (``NewClient.__client``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.answers: dict[str, Callable[..., Any]] = {}

    def answer(self, name: str, fn: Callable[..., Any]) -> None:
        self.answers[name] = fn

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name not in self.answers:
            raise AssertionError(f"unexpected call into Go: {name}")

        def call(*args: Any) -> Any:
            self.calls.append((name, args))
            return self.answers[name](*args)

        return call

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for called, args in self.calls if called == name]

    def sent(self) -> list[tuple[pb.JID, WAMessage]]:
        """(recipient, message) of every SendMessage, parsed from the bytes Go got."""
        return [
            (pb.JID.FromString(to), WAMessage.FromString(message))
            for _, to, _, message, _ in self.named("SendMessage")
        ]


def send_ok(uuid: bytes, to: bytes, to_len: int, message: bytes, message_len: int) -> bytes:
    response = pb.SendResponse(ID="3EB0WHATSMEOW0001", Timestamp=1_767_000_000, ServerID=0)
    return pb.SendMessageReturnFunction(SendResponse=response).SerializePartialToString()


def upload_ok(uuid: bytes, data: bytes, size: int, media_type: int) -> bytes:
    response = pb.UploadResponse(
        url="https://mmg.example/u",
        DirectPath="/v/t62/x",
        Handle="",
        MediaKey=b"k" * 32,
        FileEncSHA256=b"e" * 32,
        FileSHA256=hashlib.sha256(data).digest(),
        FileLength=len(data),
    )
    return pb.UploadReturnFunction(UploadResponse=response).SerializeToString()


class Rig:
    """A real NewClient with a Bridge and Commands, its Go library faked."""

    def __init__(self, tmp_path: Path) -> None:
        self.client = NewClient(name=str(tmp_path / "whatsmeow.db"), uuid="dispatch-test")
        self.go = FakeGo()
        self.client._NewClient__client = self.go  # type: ignore[attr-defined]
        self.events: list[EngineEvent] = []
        self.media_dir = tmp_path / "media"
        self.bridge = Bridge(self.client, self.events.append, self.media_dir)
        self.commands = Commands(self.client, self.bridge)
        self.go.answer("SendMessage", send_ok)
        self.go.answer("Upload", upload_ok)

    def dispatch(self, event: Any) -> None:
        """Hand ``event`` to neonize's dispatcher the way Go does: a C callback with the
        serialized protobuf and the event's number."""
        data = event.SerializePartialToString()
        buffer = ctypes.create_string_buffer(data, len(data) or 1)
        callback = func_callback_bytes(self.client.event.execute)
        callback(self.client.uuid, ctypes.addressof(buffer), len(data), EVENT_TO_INT[type(event)])

    def qr(self, code: bytes) -> None:
        buffer = ctypes.create_string_buffer(code)
        func_string(self.client._NewClient__onQr)(0, ctypes.addressof(buffer))  # type: ignore[attr-defined]

    def connect(self) -> None:
        self.dispatch(
            pb.Device(
                JID=build_jid("15550001111"),
                Platform="",
                BussinessName="",
                PushName="wad",
                Initialized=True,
            )
        )
        self.dispatch(pb.Connected(status=True))

    def run(self, command: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.commands.prepare(command, params)()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield Rig(tmp_path)


def incoming(
    content: WAMessage,
    *,
    chat: pb.JID = PEER,
    sender: pb.JID = PEER,
    message_id: str = "WAIN0001",
    sender_alt: pb.JID | None = None,
) -> pb.Message:
    source = pb.MessageSource(
        Chat=chat,
        Sender=sender,
        IsFromMe=False,
        IsGroup=chat.Server == "g.us",
        SenderAlt=sender_alt or pb.JID(),
        RecipientAlt=pb.JID(),
    )
    info = pb.MessageInfo(
        MessageSource=source,
        ID=message_id,
        Timestamp=1_767_000_123_000,
        Pushname="Ada",
        Type="text",
    )
    return pb.Message(Info=info, Message=content)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, format="png")
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (64, 64), (0, 0, 255, 128)).save(out, format="webp")
    return out.getvalue()


# -- events in -----------------------------------------------------------------------------


def test_qr_then_connected(rig: Rig) -> None:
    rig.qr(b"2@ref,noise,identity,adv")
    assert rig.events == [EngineEvent("qr", {"code": "2@ref,noise,identity,adv"})]
    assert rig.bridge.waiting_qr and not rig.bridge.connected
    rig.connect()
    assert rig.events[-1] == EngineEvent(
        "connected", {"phoneNumber": "15550001111", "jid": "15550001111@s.whatsapp.net"}
    )
    assert rig.bridge.connected and not rig.bridge.waiting_qr


def test_connected_without_device_is_an_error_not_a_panic(rig: Rig) -> None:
    rig.dispatch(pb.Connected(status=True))  # no Device event before it
    assert [e.kind for e in rig.events] == ["error"]
    assert not rig.bridge.connected


def test_text_messages(rig: Rig) -> None:
    rig.dispatch(incoming(WAMessage(conversation="hello")))
    quote = ContextInfo(
        stanzaID="WAOUT0009",
        participant="15550001111@s.whatsapp.net",
        mentionedJID=["15550001111@s.whatsapp.net"],
    )
    rig.dispatch(
        incoming(
            WAMessage(
                extendedTextMessage=ExtendedTextMessage(text="re: @15550001111", contextInfo=quote)
            ),
            message_id="WAIN0002",
        )
    )
    first, second = rig.events
    assert first == EngineEvent(
        "message",
        {
            "id": "WAIN0001",
            "chat": "15550002222@s.whatsapp.net",
            "from": "15550002222@s.whatsapp.net",
            "fromMe": False,
            "type": "text",
            "timestamp": 1_767_000_123,
            "pushName": "Ada",
            "text": "hello",
            # Both ids of a person when either is known (the LID map had none here).
            "fromPhone": "15550002222@s.whatsapp.net",
            "chatPhone": "15550002222@s.whatsapp.net",
        },
    )
    assert second.data["text"] == "re: @15550001111"
    assert second.data["replyTo"] == "WAOUT0009"
    assert second.data["mentions"] == ["15550001111@s.whatsapp.net"]


def test_group_message_from_a_privacy_id_names_the_phone(rig: Rig) -> None:
    lid = build_jid("987654321012345", "lid")
    rig.dispatch(
        incoming(
            WAMessage(conversation="hi all"),
            chat=GROUP,
            sender=lid,
            sender_alt=build_jid("15550003333"),
        )
    )
    (event,) = rig.events
    assert event.data["chat"] == "120363000000000001@g.us"
    assert event.data["from"] == "15550003333@s.whatsapp.net"
    assert event.data["isGroup"] is True


@pytest.mark.parametrize(
    ("content", "type_", "fields"),
    [
        (
            WAMessage(
                imageMessage=ImageMessage(mimetype="image/jpeg", caption="look", fileLength=5)
            ),
            "image",
            {"caption": "look"},
        ),
        (
            WAMessage(
                videoMessage=VideoMessage(mimetype="video/mp4", caption="clip", fileLength=5)
            ),
            "video",
            {"caption": "clip"},
        ),
        (
            WAMessage(
                audioMessage=AudioMessage(mimetype="audio/ogg; codecs=opus", PTT=True, fileLength=5)
            ),
            "audio",
            {"ptt": True},
        ),
        (
            WAMessage(
                documentWithCaptionMessage=FutureProofMessage(
                    message=WAMessage(
                        documentMessage=DocumentMessage(
                            mimetype="application/pdf",
                            fileName="r.pdf",
                            caption="the report",
                            fileLength=5,
                        )
                    )
                )
            ),
            "document",
            {"caption": "the report"},
        ),
        (
            WAMessage(stickerMessage=StickerMessage(mimetype="image/webp", fileLength=5)),
            "sticker",
            {},
        ),
    ],
)
def test_media_messages_are_downloaded_into_the_session(
    rig: Rig, content: WAMessage, type_: str, fields: dict[str, Any]
) -> None:
    blob = b"\x00media bytes\xff" * 7
    rig.go.answer(
        "DownloadAny",
        lambda uuid, data, size: pb.DownloadReturnFunction(Binary=blob).SerializeToString(),
    )
    rig.dispatch(incoming(content))
    (event,) = rig.events
    assert event.kind == "message" and event.data["type"] == type_
    for key, value in fields.items():
        assert event.data[key] == value
    path = Path(event.data["mediaPath"])
    assert path.parent == rig.media_dir and path.read_bytes() == blob
    assert path.stat().st_mode & 0o777 == 0o600
    media = event.data["media"]
    assert media["size"] == len(blob) and media["sha256"] == hashlib.sha256(blob).hexdigest()
    if type_ == "document":
        assert media["fileName"] == "r.pdf" and media["mimetype"] == "application/pdf"
    # neonize got the media's own message (unwrapped) to download.
    ((_, data, _),) = rig.go.named("DownloadAny")
    assert WAMessage.FromString(data).HasField(f"{type_}Message")


def test_a_failed_download_still_delivers_the_message(rig: Rig) -> None:
    rig.go.answer(
        "DownloadAny",
        lambda uuid, data, size: pb.DownloadReturnFunction(
            Error="media expired"
        ).SerializeToString(),
    )
    rig.dispatch(incoming(WAMessage(imageMessage=ImageMessage(mimetype="image/png"))))
    (event,) = rig.events
    assert event.data["mediaError"] == "media expired"
    assert "mediaPath" not in event.data


def test_location_contact_and_reaction(rig: Rig) -> None:
    rig.dispatch(
        incoming(
            WAMessage(
                locationMessage=LocationMessage(
                    degreesLatitude=52.52, degreesLongitude=13.405, name="Berlin", address="Mitte"
                )
            ),
            message_id="L1",
        )
    )
    vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Ada\nEND:VCARD"
    rig.dispatch(
        incoming(
            WAMessage(contactMessage=ContactMessage(displayName="Ada", vcard=vcard)),
            message_id="C1",
        )
    )
    rig.dispatch(
        incoming(
            WAMessage(reactionMessage=ReactionMessage(text="👍", key=MessageKey(ID="WAOUT0001"))),
            message_id="R1",
        )
    )
    location, contact, reaction = (e.data for e in rig.events)
    assert location["type"] == "location"
    assert location["location"] == {
        "latitude": 52.52,
        "longitude": 13.405,
        "name": "Berlin",
        "address": "Mitte",
    }
    assert contact["type"] == "contact"
    assert contact["contact"] == {"displayName": "Ada", "vcard": vcard}
    assert reaction["type"] == "reaction"
    assert reaction["text"] == "👍" and reaction["reactedTo"] == "WAOUT0001"


def test_housekeeping_messages_are_not_messages(rig: Rig) -> None:
    rig.dispatch(
        incoming(WAMessage(protocolMessage=ProtocolMessage(type=ProtocolMessage.EPHEMERAL_SETTING)))
    )
    assert rig.events == []


def test_receipts(rig: Rig) -> None:
    source = pb.MessageSource(Chat=PEER, Sender=PEER, IsFromMe=False, IsGroup=False)
    for kind in (pb.Receipt.DELIVERED, pb.Receipt.READ, pb.Receipt.READ_SELF):
        rig.dispatch(
            pb.Receipt(MessageSource=source, MessageIDs=["A", "B"], Timestamp=1, Type=kind)
        )
    by = {"from": "15550002222@s.whatsapp.net", "fromPhone": "15550002222@s.whatsapp.net"}
    assert rig.events == [
        EngineEvent(
            "receipt",
            {"ids": ["A", "B"], "chat": "15550002222@s.whatsapp.net", "status": "delivered", **by},
        ),
        EngineEvent(
            "receipt",
            {"ids": ["A", "B"], "chat": "15550002222@s.whatsapp.net", "status": "read", **by},
        ),
    ]  # our own devices' reads are no delivery state


def test_logged_out_and_disconnected(rig: Rig) -> None:
    rig.connect()
    rig.dispatch(pb.Disconnected(status=True))
    assert rig.events[-1].kind == "disconnected" and not rig.bridge.connected
    rig.connect()
    rig.dispatch(pb.LoggedOut(OnConnect=False, Reason=pb.LOGGED_OUT))
    assert rig.events[-1] == EngineEvent(
        "logged_out", {"reason": "WhatsApp unlinked the device (LOGGED_OUT)"}
    )
    assert not rig.bridge.connected


# -- commands out (captured at the ctypes boundary) ----------------------------------------


def test_commands_need_a_connection_and_known_names(rig: Rig) -> None:
    with pytest.raises(EngineError) as caught:
        rig.run("send", {"to": "15550002222@s.whatsapp.net", "type": "text", "text": "x"})
    assert caught.value.code == "not_connected"
    with pytest.raises(EngineError) as caught:
        rig.run("teleport", {})
    assert caught.value.code == "unsupported"
    rig.connect()
    with pytest.raises(EngineError) as caught:
        rig.run("send", {"to": 42, "text": "x"})
    assert caught.value.code == "bad_request"
    with pytest.raises(EngineError) as caught:
        rig.run(
            "send",
            {
                "to": "15550002222@s.whatsapp.net",
                "type": "image",
                "media": {"path": "/nonexistent"},
            },
        )
    assert caught.value.code == "bad_request"
    assert rig.go.calls == []  # nothing reached Go


def test_send_text_plain_with_mentions_and_as_a_reply(rig: Rig) -> None:
    rig.connect()
    result = rig.run(
        "send",
        {"id": "3EB0OURS", "to": "15550002222@s.whatsapp.net", "type": "text", "text": "hello"},
    )
    assert result == {"id": "3EB0WHATSMEOW0001", "timestamp": 1_767_000_000}
    rig.run(
        "send",
        {
            "to": GROUP_ID,
            "type": "text",
            "text": "hi @15550002222",
            "mentions": ["15550002222@s.whatsapp.net"],
        },
    )
    rig.run(
        "send",
        {
            "to": "15550002222@s.whatsapp.net",
            "type": "text",
            "text": "yes",
            "replyTo": {
                "id": "WAIN0001",
                "chat": "15550002222@s.whatsapp.net",
                "fromMe": False,
                "text": "hello?",
                "sender": "15550002222@s.whatsapp.net",
            },
        },
    )
    (to1, plain), (to2, mention), (_, reply) = rig.go.sent()
    assert (to1.User, to1.Server) == ("15550002222", "s.whatsapp.net")
    assert plain.extendedTextMessage.text == "hello"
    assert (to2.User, to2.Server) == ("120363000000000001", "g.us")
    assert list(mention.extendedTextMessage.contextInfo.mentionedJID) == [
        "15550002222@s.whatsapp.net"
    ]
    context = reply.extendedTextMessage.contextInfo
    assert reply.extendedTextMessage.text == "yes"
    assert context.stanzaID == "WAIN0001"
    assert context.participant == "15550002222@s.whatsapp.net"
    assert context.quotedMessage.conversation == "hello?"


GROUP_ID = "120363000000000001@g.us"


def media_params(
    tmp_path: Path, type_: str, data: bytes, mimetype: str, **extra: Any
) -> dict[str, Any]:
    path = tmp_path / f"out-{type_}"
    path.write_bytes(data)
    return {
        "to": "15550002222@s.whatsapp.net",
        "type": type_,
        "media": {
            "path": str(path),
            "mimetype": mimetype,
            "size": len(data),
            "fileName": extra.pop("fileName", None),
        },
        **extra,
    }


def test_send_each_media_type(rig: Rig, tmp_path: Path) -> None:
    rig.connect()
    image = png()
    rig.run(
        "send",
        media_params(
            tmp_path,
            "image",
            image,
            "image/png",
            caption="a red box",
            mentions=["15550003333@s.whatsapp.net"],
        ),
    )
    rig.run(
        "send",
        media_params(
            tmp_path,
            "video",
            b"\x00\x00\x00\x18ftypmp42" + b"v" * 64,
            "video/mp4",
            caption="a clip",
        ),
    )
    rig.run("send", media_params(tmp_path, "audio", b"OggS" + b"a" * 64, "audio/ogg", ptt=True))
    rig.run(
        "send",
        media_params(
            tmp_path,
            "document",
            b"%PDF-1.4 doc",
            "application/pdf",
            caption="the report",
            fileName="report.pdf",
        ),
    )
    sticker = webp()
    rig.run("send", media_params(tmp_path, "sticker", sticker, "image/webp"))
    uploads = rig.go.named("Upload")
    assert [bytes(args[1]) for args in uploads][0] == image
    assert len(uploads) == 5
    (_, img), (_, vid), (_, aud), (_, doc), (_, stk) = rig.go.sent()
    assert img.imageMessage.caption == "a red box"
    assert img.imageMessage.mimetype == "image/png"
    assert img.imageMessage.fileSHA256 == hashlib.sha256(image).digest()
    assert img.imageMessage.fileLength == len(image)
    assert img.imageMessage.JPEGThumbnail  # neonize's builder made one
    assert list(img.imageMessage.contextInfo.mentionedJID) == ["15550003333@s.whatsapp.net"]
    assert vid.videoMessage.caption == "a clip" and vid.videoMessage.mimetype == "video/mp4"
    assert aud.audioMessage.PTT is True and aud.audioMessage.mimetype == "audio/ogg"
    assert doc.documentMessage.fileName == "report.pdf"
    assert doc.documentMessage.mimetype == "application/pdf"
    assert doc.documentMessage.caption == "the report"
    assert stk.stickerMessage.mimetype == "image/webp"
    assert stk.stickerMessage.fileSHA256 == hashlib.sha256(sticker).digest()  # as it was


def test_send_location_and_contact_with_a_quote(rig: Rig) -> None:
    rig.connect()
    quote = {
        "id": "WAOUT0002",
        "chat": "15550002222@s.whatsapp.net",
        "fromMe": True,
        "text": "where?",
    }
    rig.run(
        "send",
        {
            "to": "15550002222@s.whatsapp.net",
            "type": "location",
            "location": {
                "latitude": 52.52,
                "longitude": 13.405,
                "name": "Berlin",
                "address": "Mitte",
            },
            "replyTo": quote,
        },
    )
    vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Ada\nTEL:+15550003333\nEND:VCARD"
    rig.run(
        "send",
        {
            "to": "15550002222@s.whatsapp.net",
            "type": "contact",
            "contact": {"displayName": "Ada", "vcard": vcard},
        },
    )
    (_, loc), (_, card) = rig.go.sent()
    assert loc.locationMessage.degreesLatitude == pytest.approx(52.52)
    assert loc.locationMessage.degreesLongitude == pytest.approx(13.405)
    assert (loc.locationMessage.name, loc.locationMessage.address) == ("Berlin", "Mitte")
    assert loc.locationMessage.contextInfo.stanzaID == "WAOUT0002"
    # A quote of our own message names us as its author.
    assert loc.locationMessage.contextInfo.participant == "15550001111@s.whatsapp.net"
    assert card.contactMessage.displayName == "Ada" and card.contactMessage.vcard == vcard


def test_react_edit_revoke(rig: Rig) -> None:
    rig.connect()
    built = WAMessage(reactionMessage=ReactionMessage(text="👍", key=MessageKey(ID="WAOUT1")))
    rig.go.answer(
        "BuildReaction",
        lambda *args: pb.BuildMessageReturnFunction(Message=built).SerializeToString(),
    )
    target = {
        "chat": "15550002222@s.whatsapp.net",
        "targetId": "WAOUT1",
        "fromMe": True,
        "sender": "15550002222@s.whatsapp.net",
    }
    rig.run("react", {**target, "emoji": "👍"})
    rig.run("edit", {**target, "text": "fixed"})
    rig.run("revoke", target)
    ((_, chat, _, sender, _, message_id, emoji),) = rig.go.named("BuildReaction")
    assert pb.JID.FromString(chat).User == "15550002222"
    assert pb.JID.FromString(sender).User == "15550001111"  # our own message: we are its sender
    assert (message_id, emoji) == (b"WAOUT1", "👍".encode())
    (_, reaction), (_, edit), (_, revoke) = rig.go.sent()
    assert reaction == built
    protocol = edit.editedMessage.message.protocolMessage
    assert protocol.type == ProtocolMessage.MESSAGE_EDIT
    assert protocol.key.ID == "WAOUT1" and protocol.editedMessage.conversation == "fixed"
    assert revoke.protocolMessage.type == ProtocolMessage.REVOKE
    assert revoke.protocolMessage.key.ID == "WAOUT1" and revoke.protocolMessage.key.fromMe


def test_read_marks_presence_and_number_checks(rig: Rig) -> None:
    rig.connect()
    rig.go.answer("MarkRead", lambda *args: b"")
    rig.go.answer("SendChatPresence", lambda *args: b"")
    rig.go.answer(
        "IsOnWhatsApp",
        lambda uuid, numbers, size: pb.IsOnWhatsAppReturnFunction(
            IsOnWhatsAppResponse=[
                pb.IsOnWhatsAppResponse(Query="+15550002222", JID=PEER, IsIn=True),
                pb.IsOnWhatsAppResponse(
                    Query="+15550000000", JID=pb.JID(User="", Server=""), IsIn=False
                ),
            ]
        ).SerializePartialToString(),
    )
    rig.run(
        "mark_read",
        {
            "chat": "15550002222@s.whatsapp.net",
            "sender": "15550002222@s.whatsapp.net",
            "ids": ["WAIN1", "WAIN2"],
        },
    )
    rig.run("presence", {"to": "15550002222@s.whatsapp.net", "state": "recording"})
    result = rig.run("check_numbers", {"numbers": ["15550002222", "15550000000"]})
    ((_, ids, _, chat, _, sender, _, receipt),) = rig.go.named("MarkRead")
    assert ids == b"WAIN1 WAIN2" and pb.JID.FromString(chat).User == "15550002222"
    ((_, jid, _, state, media),) = rig.go.named("SendChatPresence")
    assert pb.JID.FromString(jid).User == "15550002222" and (state, media) == (0, 1)
    ((_, numbers, _),) = rig.go.named("IsOnWhatsApp")
    assert numbers == b"+15550002222 +15550000000"
    assert result == {
        "results": [
            {"number": "15550002222", "exists": True, "jid": "15550002222@s.whatsapp.net"},
            {"number": "15550000000", "exists": False, "jid": None},
        ]
    }


def test_groups_and_a_missing_group(rig: Rig) -> None:
    rig.connect()
    info = pb.GroupInfo(
        JID=GROUP,
        GroupName=pb.GroupName(Name="Team"),
        Participants=[
            pb.GroupParticipant(
                JID=build_jid("555", "lid"), PhoneNumber=ME, IsAdmin=True, IsSuperAdmin=True
            ),
            pb.GroupParticipant(JID=PEER, PhoneNumber=pb.JID(), IsAdmin=False),
        ],
    )
    rig.go.answer(
        "GetJoinedGroups",
        lambda uuid: pb.GetJoinedGroupsReturnFunction(Group=[info]).SerializePartialToString(),
    )
    rig.go.answer(
        "GetGroupInfo",
        lambda uuid, jid, size: pb.GetGroupInfoReturnFunction(
            Error="info query returned status 404: item-not-found"
        ).SerializePartialToString(),
    )
    (group,) = rig.run("groups", {})["groups"]
    assert group["id"] == GROUP_ID and group["name"] == "Team"
    assert group["participants"] == [
        {
            "jid": "15550001111@s.whatsapp.net",
            "isAdmin": True,
            "isSuperAdmin": True,
            "phone": "15550001111@s.whatsapp.net",
            "lid": "555@lid",
        },
        {
            "jid": "15550002222@s.whatsapp.net",
            "isAdmin": False,
            "isSuperAdmin": False,
            "phone": "15550002222@s.whatsapp.net",
            "lid": None,
        },
    ]
    with pytest.raises(EngineError) as caught:
        rig.run("group", {"id": "120363000000000009@g.us"})
    assert caught.value.code == "not_found"


def test_pair_phone_only_while_waiting_for_a_scan(rig: Rig) -> None:
    rig.go.answer(
        "PairPhone",
        lambda uuid, payload, size: pb.PairPhoneReturnFunction(
            Code="ABCD-EFGH"
        ).SerializePartialToString(),
    )
    with pytest.raises(EngineError) as caught:
        rig.run("pair_phone", {"phoneNumber": "15550001111"})
    assert caught.value.code == "conflict"
    rig.qr(b"2@a,b,c,d")
    assert rig.run("pair_phone", {"phoneNumber": "+15550001111"}) == {"code": "ABCD-EFGH"}
    ((_, payload, _),) = rig.go.named("PairPhone")
    params = pb.PairPhoneParams.FromString(payload)
    assert params.phone == "15550001111" and params.showPushNotification


def test_logout_reports_logged_out(rig: Rig) -> None:
    rig.connect()
    rig.go.answer("Logout", lambda uuid: b"")
    assert rig.run("logout", {}) == {}
    assert rig.events[-1].kind == "logged_out" and not rig.bridge.connected
    assert rig.go.named("Logout")
