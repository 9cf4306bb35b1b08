"""LIDs and history sync in the neonize adapter, offline: real neonize clients, events
fed through neonize's own dispatcher as serialized protobuf (LID-addressed messages,
receipts, HistorySync blobs), whatsmeow's LID map answered at the ctypes boundary
(``GetPNFromLID`` / ``GetLIDFromPN``), where neonize calls into Go."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engines.test_neonize_dispatch import PEER, Rig, incoming
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    ContextInfo,
    ExtendedTextMessage,
    ProtocolMessage,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from neonize.proto.waHistorySync.WAWebProtobufsHistorySync_pb2 import (
    Conversation,
    HistorySync,
    HistorySyncMsg,
)
from neonize.proto.waWeb.WAWebProtobufsWeb_pb2 import WebMessageInfo
from neonize.utils.jid import build_jid

from wad.engines.contract import EngineError
from wad.engines.neonize import history
from wad.engines.wire import MAX_LINE, encode

PEER_PN = "15550002222@s.whatsapp.net"
PEER_LID = build_jid("98765432101234", "lid")
PEER_LID_S = "98765432101234@lid"
OTHER_PN = "15550003333@s.whatsapp.net"
OTHER_LID = "11112222333344@lid"


class LidMap:
    """whatsmeow's LID store, as neonize's Go exports answer from it."""

    def __init__(self, pairs: dict[str, str]) -> None:
        self.lid_of = dict(pairs)
        self.pn_of = {lid: pn for pn, lid in pairs.items()}

    def install(self, rig: Rig) -> None:
        rig.go.answer("GetPNFromLID", lambda uuid, data, size: self._answer(self.pn_of, data))
        rig.go.answer("GetLIDFromPN", lambda uuid, data, size: self._answer(self.lid_of, data))

    @staticmethod
    def _answer(table: dict[str, str], data: bytes) -> bytes:
        jid = pb.JID.FromString(data)
        found = table.get(f"{jid.User}@{jid.Server}")
        if found is None:  # unknown: an empty JID, not an error
            answer = pb.JID(User="", RawAgent=0, Device=0, Integrator=0, Server="", IsEmpty=True)
        else:
            user, _, server = found.partition("@")
            answer = build_jid(user, server)
        return pb.GetJIDFromStoreReturnFunction(Jid=answer).SerializePartialToString()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    history.attach(rig.bridge)  # as the worker does
    LidMap({PEER_PN: PEER_LID_S, OTHER_PN: OTHER_LID}).install(rig)
    yield rig


def dm(content: WAMessage, sender: pb.JID, alt: pb.JID | None = None, **kw: Any) -> pb.Message:
    return incoming(content, chat=sender, sender=sender, sender_alt=alt, **kw)


# -- LID-addressed messages ---------------------------------------------------------------


def test_a_lid_addressed_message_with_its_phone_alongside(rig: Rig) -> None:
    rig.dispatch(dm(WAMessage(conversation="hi"), PEER_LID, build_jid("15550002222")))
    (event,) = rig.events
    assert event.data["from"] == event.data["chat"] == PEER_PN
    assert event.data["fromPhone"] == PEER_PN and event.data["fromLid"] == PEER_LID_S
    assert event.data["chatLid"] == PEER_LID_S
    assert not rig.go.named("GetPNFromLID")  # the event said it: no lookup


def test_a_lid_only_message_gets_its_phone_from_the_lid_map(rig: Rig) -> None:
    rig.dispatch(dm(WAMessage(conversation="hi"), PEER_LID))
    (event,) = rig.events
    assert event.data["from"] == PEER_PN and event.data["fromLid"] == PEER_LID_S
    assert event.data["chat"] == PEER_PN and event.data["chatLid"] == PEER_LID_S
    assert rig.go.named("GetPNFromLID")


def test_a_lid_the_map_does_not_know_stays_a_lid(rig: Rig) -> None:
    stranger = build_jid("55555555555555", "lid")
    rig.dispatch(dm(WAMessage(conversation="hi"), stranger))
    (event,) = rig.events
    assert event.data["from"] == event.data["chat"] == "55555555555555@lid"
    assert event.data["fromLid"] == "55555555555555@lid" and "fromPhone" not in event.data


def test_a_phone_addressed_message_gets_its_lid(rig: Rig) -> None:
    rig.dispatch(dm(WAMessage(conversation="hi"), PEER))
    (event,) = rig.events
    assert event.data["from"] == PEER_PN and event.data["fromLid"] == PEER_LID_S


def test_a_failing_lookup_costs_only_that_id(rig: Rig) -> None:
    def broken(uuid: bytes, data: bytes, size: int) -> bytes:
        raise OSError("database is locked")

    rig.go.answer("GetPNFromLID", broken)
    rig.dispatch(dm(WAMessage(conversation="hi"), PEER_LID))
    (event,) = rig.events
    assert event.kind == "message" and event.data["from"] == PEER_LID_S


def test_mentions_by_lid_name_the_phone(rig: Rig) -> None:
    context = ContextInfo(mentionedJID=[OTHER_LID, "15550004444@s.whatsapp.net"])
    text = WAMessage(extendedTextMessage=ExtendedTextMessage(text="@a @b", contextInfo=context))
    rig.dispatch(dm(text, PEER))
    (event,) = rig.events
    assert event.data["mentions"] == [OTHER_PN, "15550004444@s.whatsapp.net"]
    assert event.data["mentionIds"] == [
        {"jid": OTHER_PN, "phone": OTHER_PN, "lid": OTHER_LID},
        {"jid": "15550004444@s.whatsapp.net", "phone": "15550004444@s.whatsapp.net", "lid": None},
    ]


def test_a_receipt_from_a_lid_names_both(rig: Rig) -> None:
    source = pb.MessageSource(Chat=PEER_LID, Sender=PEER_LID, IsFromMe=False, IsGroup=False)
    rig.dispatch(
        pb.Receipt(MessageSource=source, MessageIDs=["A"], Timestamp=1, Type=pb.Receipt.READ)
    )
    (event,) = rig.events
    assert event.kind == "receipt" and event.data["status"] == "read"
    assert event.data["from"] == PEER_PN and event.data["fromLid"] == PEER_LID_S


def test_resolve_ids_both_ways(rig: Rig) -> None:
    rig.connect()
    assert rig.run("resolve_ids", {"jid": PEER_LID_S}) == {
        "jid": PEER_LID_S,
        "phone": PEER_PN,
        "lid": PEER_LID_S,
        "phoneNumber": "15550002222",
    }
    assert rig.run("resolve_ids", {"jid": PEER_PN})["lid"] == PEER_LID_S
    unknown = rig.run("resolve_ids", {"jid": "15550009999@s.whatsapp.net"})
    assert unknown["phone"] == "15550009999@s.whatsapp.net" and unknown["lid"] is None
    for bad in ("120363000000000001@g.us", "abc@lid", None):
        with pytest.raises(EngineError) as caught:
            rig.commands.prepare("resolve_ids", {"jid": bad})
        assert caught.value.code == "bad_request"


def test_sends_to_a_lid_go_to_that_lid(rig: Rig) -> None:
    rig.connect()
    rig.run("send", {"id": "x", "to": PEER_LID_S, "type": "text", "text": "hi"})
    ((to, _),) = rig.go.sent()
    assert (to.User, to.Server) == ("98765432101234", "lid")


# -- history sync -------------------------------------------------------------------------


def web(
    chat: str,
    wa_id: str,
    text: str,
    *,
    from_me: bool = False,
    participant: str = "",
    ts: int = 1_760_000_000,
    content: WAMessage | None = None,
) -> HistorySyncMsg:
    info = WebMessageInfo(
        key=MessageKey(remoteJID=chat, fromMe=from_me, ID=wa_id, participant=participant),
        message=content or WAMessage(conversation=text),
        messageTimestamp=ts,
        pushName="Ada",
    )
    return HistorySyncMsg(message=info, msgOrderID=1)


def sync(*conversations: Conversation, kind: int = HistorySync.RECENT) -> pb.HistorySync:
    return pb.HistorySync(
        Data=HistorySync(
            syncType=kind, conversations=list(conversations), chunkOrder=2, progress=40
        )
    )


def test_a_history_sync_becomes_history_messages(rig: Rig) -> None:
    rig.connect()
    group = "120363000000000001@g.us"
    protocol = WAMessage(protocolMessage=ProtocolMessage(type=ProtocolMessage.REVOKE))
    rig.dispatch(
        sync(
            Conversation(
                ID=PEER_LID_S,
                messages=[
                    web(PEER_LID_S, "H1", "old one", ts=1_760_000_001),
                    web(PEER_LID_S, "H2", "my answer", from_me=True, ts=1_760_000_002),
                    web(PEER_LID_S, "H3", "", content=protocol),
                ],
            ),
            Conversation(ID=group, messages=[web(group, "H4", "hi all", participant=OTHER_LID)]),
        )
    )
    events = [e for e in rig.events if e.kind == "history"]
    (batch,) = events
    data = batch.data
    assert data["syncType"] == "RECENT" and data["chunkOrder"] == 2 and data["progress"] == 40
    assert data["conversations"] == 2 and data["skipped"] == 1
    assert data["part"] == data["parts"] == 1
    h1, h2, h4 = data["messages"]
    assert h1["id"] == "H1" and h1["text"] == "old one" and h1["history"] is True
    assert h1["from"] == PEER_PN and h1["fromLid"] == PEER_LID_S and h1["chat"] == PEER_PN
    assert h1["timestamp"] == 1_760_000_001
    assert h2["fromMe"] is True and h2["from"] == "15550001111@s.whatsapp.net"
    assert h4["chat"] == group and h4["isGroup"] is True
    assert h4["from"] == OTHER_PN and h4["fromLid"] == OTHER_LID


def test_a_large_history_blob_is_cut_into_lines_the_daemon_reads(rig: Rig) -> None:
    rig.connect()
    text = "x" * 4000
    many = [web(PEER_PN, f"M{n:04d}", text, ts=1_760_000_000 + n) for n in range(400)]
    rig.dispatch(sync(Conversation(ID=PEER_PN, messages=many), kind=HistorySync.FULL))
    parts = [e for e in rig.events if e.kind == "history"]
    assert len(parts) > 2 and [p.data["part"] for p in parts] == list(range(1, len(parts) + 1))
    assert all(p.data["parts"] == len(parts) for p in parts)
    assert [m["id"] for p in parts for m in p.data["messages"]] == [f"M{n:04d}" for n in range(400)]
    assert all(len(encode(p.to_wire())) < MAX_LINE for p in parts)


def test_an_empty_history_blob_is_one_empty_batch(rig: Rig) -> None:
    rig.dispatch(sync(kind=HistorySync.PUSH_NAME))
    (batch,) = rig.events
    assert batch.kind == "history" and batch.data["messages"] == []
    assert batch.data["syncType"] == "PUSH_NAME"


def test_device_props_ask_for_full_history_only_with_full() -> None:
    assert not history.device_props("none").requireFullSync
    assert not history.device_props("recent").HasField("historySyncConfig")
    full = history.device_props("full")
    assert full.requireFullSync and full.historySyncConfig.fullSyncDaysLimit == history.FULL_DAYS
    assert full.os == "Neonize" and full.platformType == full.SAFARI


def test_an_undecryptable_message_is_counted_not_lost_silently(rig: Rig) -> None:
    source = pb.MessageSource(
        Chat=PEER_LID, Sender=PEER_LID, IsFromMe=False, IsGroup=False, SenderAlt=pb.JID()
    )
    info = pb.MessageInfo(MessageSource=source, ID="WABAD0001", Timestamp=1, Pushname="")
    rig.dispatch(pb.UndecryptableMessage(Info=info, IsUnavailable=False))
    (event,) = rig.events
    assert event.kind == "fault" and event.data["cause"] == "undecryptable"
    assert "WABAD0001" in event.data["message"] and PEER_PN in event.data["message"]


def test_device_props_set_full_sync_explicitly_either_way() -> None:
    # neonize merges them into one process-wide variable: "not full" must be said too.
    for mode in ("none", "recent"):
        props = history.device_props(mode)
        assert props.HasField("requireFullSync") and props.requireFullSync is False


def test_a_media_message_is_handed_to_the_spool_before_its_download(rig: Rig) -> None:
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ImageMessage

    order: list[str] = []
    rig.bridge.before_media = lambda data: order.append(
        f"spooled {data['id']} {'mediaPath' in data}"
    )

    def download(uuid: bytes, data: bytes, size: int) -> bytes:
        order.append("downloaded")
        return pb.DownloadReturnFunction(Binary=b"png").SerializeToString()

    rig.go.answer("DownloadAny", download)
    rig.dispatch(dm(WAMessage(imageMessage=ImageMessage(mimetype="image/png")), PEER))
    assert order == ["spooled WAIN0001 False", "downloaded"]
    (event,) = rig.events
    assert event.data["mediaPath"]
