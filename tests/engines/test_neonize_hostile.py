"""Hostile protobufs through neonize's own dispatcher: string fields holding bytes that
are not UTF-8 (a contact with a modified client can send them). protobuf-python (upb)
does not raise on them: it hands the field back as ``bytes``. The worker turns every
event into valid JSON with the text replaced and the original bytes under ``raw``;
an event it cannot read costs that event only."""

from __future__ import annotations

import base64
import ctypes
import json
import math
import socket
from pathlib import Path
from typing import Any

import pytest
from neonize._binder import func_callback_bytes
from neonize.events import EVENT_TO_INT
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import DocumentMessage, ImageMessage
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from test_neonize_dispatch import PEER, Rig, incoming

from wad.engines.contract import EngineEvent
from wad.engines.neonize.worker import Worker
from wad.engines.wire import LineDecoder, encode


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


BAD = b"a\xff\xed\xa0\x80z"  # an invalid byte and an encoded surrogate, in 6 bytes


def bad(placeholder: str) -> bytes:
    """Invalid UTF-8 exactly as long as ``placeholder`` (so the protobuf stays well formed)."""
    return (BAD + b"z" * len(placeholder))[: len(placeholder)]


def dispatch_corrupted(rig: Rig, event: Any, *placeholders: str) -> None:
    """Serialize ``event``, put invalid UTF-8 in place of each placeholder string, and
    hand the bytes to neonize's dispatcher as Go does."""
    data = event.SerializePartialToString()
    for placeholder in placeholders:
        assert placeholder.encode() in data
        data = data.replace(placeholder.encode(), bad(placeholder))
    buffer = ctypes.create_string_buffer(data, len(data))
    callback = func_callback_bytes(rig.client.event.execute)
    callback(rig.client.uuid, ctypes.addressof(buffer), len(data), EVENT_TO_INT[type(event)])


def on_the_wire(event: EngineEvent) -> dict[str, Any]:
    """What the daemon reads of ``event`` after the worker's encoding."""
    line = encode(event.to_wire())
    line.decode()  # valid UTF-8
    (decoded,) = LineDecoder().feed(line)
    return decoded


def test_protobuf_hands_back_bytes_for_invalid_utf8() -> None:
    """The fact the worker is built on (so a test would notice a protobuf that changes it)."""
    raw = WAMessage(conversation="PLACEHOLDER").SerializePartialToString()
    parsed = WAMessage.FromString(raw.replace(b"PLACEHOLDER", bad("PLACEHOLDER")))
    assert parsed.conversation == bad("PLACEHOLDER")


def test_a_text_message_with_invalid_utf8_everywhere_is_delivered_replaced(rig: Rig) -> None:
    message = incoming(WAMessage(conversation="TEXTTEXTTEXT"), message_id="IDIDIDID")
    message.Info.Pushname = "PUSHPUSHPUSH"
    dispatch_corrupted(rig, message, "TEXTTEXTTEXT", "PUSHPUSHPUSH", "IDIDIDID")
    (event,) = rig.events
    data = on_the_wire(event)["data"]
    assert data["text"] == bad("TEXTTEXTTEXT").decode(errors="replace")
    assert data["pushName"] == bad("PUSHPUSHPUSH").decode(errors="replace")
    assert data["id"] == bad("IDIDIDID").decode(errors="replace")
    assert base64.b64decode(data["raw"]["text"]) == bad("TEXTTEXTTEXT")
    assert base64.b64decode(data["raw"]["pushName"]) == bad("PUSHPUSHPUSH")
    assert base64.b64decode(data["raw"]["id"]) == bad("IDIDIDID")
    assert data["from"] == "15550002222@s.whatsapp.net"


def test_captions_file_names_and_jids_with_invalid_utf8(rig: Rig) -> None:
    document = DocumentMessage(
        mimetype="application/pdf", fileName="FILEFILEFILE", caption="CAPTCAPTCAPT"
    )
    sender = pb.JID(User="USERUSER", Server="s.whatsapp.net", RawAgent=0, Device=0, Integrator=0)
    message = incoming(WAMessage(documentMessage=document), sender=sender)
    rig.bridge.media_dir = None  # no download: the FakeGo answers nothing for it
    dispatch_corrupted(rig, message, "FILEFILEFILE", "CAPTCAPTCAPT", "USERUSER")
    (event,) = rig.events
    data = on_the_wire(event)["data"]
    assert "\ufffd" in data["caption"] and "\ufffd" in data["media"]["fileName"]
    assert "\ufffd" in data["from"] and "b'" not in data["from"]  # never a bytes repr
    assert base64.b64decode(data["raw"]["media.fileName"]) == bad("FILEFILEFILE")
    assert data["chat"] == "15550002222@s.whatsapp.net"


def test_receipt_ids_with_invalid_utf8(rig: Rig) -> None:
    source = pb.MessageSource(Chat=PEER, Sender=PEER, IsFromMe=False, IsGroup=False)
    receipt = pb.Receipt(
        MessageSource=source, MessageIDs=["GOODID", "BADBADBAD"], Timestamp=1, Type=pb.Receipt.READ
    )
    dispatch_corrupted(rig, receipt, "BADBADBAD")
    (event,) = rig.events
    data = on_the_wire(event)["data"]
    assert data["ids"][0] == "GOODID" and "\ufffd" in data["ids"][1]
    assert base64.b64decode(data["raw"]["ids.1"]) == bad("BADBADBAD")


def test_media_that_cannot_be_written_still_delivers_the_message(rig: Rig, tmp_path: Path) -> None:
    """Writing the received file fails (a full disk; here a file where the media folder
    should be): the message goes on with ``mediaError``, the connection stays."""
    (tmp_path / "blocked").write_text("a file, not a folder")
    rig.bridge.media_dir = tmp_path / "blocked" / "media"
    rig.go.answer(
        "DownloadAny",
        lambda uuid, data, size: pb.DownloadReturnFunction(Binary=b"bytes").SerializeToString(),
    )
    rig.dispatch(incoming(WAMessage(imageMessage=ImageMessage(mimetype="image/png"))))
    (event,) = rig.events
    assert event.kind == "message" and "could not keep the media" in event.data["mediaError"]
    assert "mediaPath" not in event.data


def test_an_unreadable_message_is_a_fault_and_a_reduced_message_not_an_error(
    rig: Rig,
) -> None:
    """The guard around every translator (ctypes swallows what a handler raises): a
    translation that fails, here one that does not know the content, costs that message
    only: a ``fault``, and the message reduced with its protobuf kept; no ``error``, so
    the connection is not ended."""
    message = incoming(WAMessage(conversation="hello"), message_id="WAIN0042")

    def unreadable(_message: pb.Message) -> EngineEvent:
        raise ValueError("a content this bridge does not know")

    rig.client.event.list_func[EVENT_TO_INT[pb.Message]] = rig.bridge._guard(unreadable)  # type: ignore[attr-defined]
    rig.dispatch(message)
    fault, reduced = rig.events
    assert fault.kind == "fault" and fault.data["cause"] == "message"
    assert reduced.kind == "message" and reduced.data["reduced"] is True
    assert reduced.data["id"] == "WAIN0042" and reduced.data["type"] == "unknown"
    kept = pb.Message.FromString(base64.b64decode(reduced.data["raw"]["message"]))
    assert kept.Message.conversation == "hello"


def test_a_receipt_that_cannot_be_read_is_a_fault_not_the_end_of_the_connection(
    rig: Rig,
) -> None:
    def unreadable(_receipt: pb.Receipt) -> EngineEvent:
        raise KeyError("Type")

    rig.client.event.list_func[EVENT_TO_INT[pb.Receipt]] = rig.bridge._guard(unreadable)  # type: ignore[attr-defined]
    rig.dispatch(pb.Receipt(MessageIDs=["A"], Timestamp=1, Type=pb.Receipt.READ))
    (event,) = rig.events
    assert event.kind == "fault" and "Receipt" in event.data["message"]


@pytest.mark.parametrize(
    "value",
    [b"\xff\xfe", "lone \ud800", float("nan"), math.inf, {"nested": [b"\x80", "\udfff"]}],
    ids=["bytes", "surrogate", "nan", "inf", "nested"],
)
def test_wire_encode_never_fails_and_writes_valid_utf8_json(value: object) -> None:
    line = encode({"event": "message", "data": {"text": value}})
    assert line.endswith(b"\n") and b"\n" not in line[:-1]
    decoded = json.loads(line.decode())  # strict UTF-8, strict JSON
    assert decoded["event"] == "message"


def test_the_worker_writer_survives_an_item_it_cannot_encode(rig: Rig) -> None:
    ours, theirs = socket.socketpair()
    worker = Worker(theirs)
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    worker._put(EngineEvent("message", {"text": "before"}).to_wire())
    worker._put({"event": "message", "data": {"deep": deep}})  # beyond what JSON can nest
    worker._put({"event": "message", "data": {"text": object()}})  # not JSON: a bug
    worker._put(EngineEvent("message", {"text": "bytes \xff".encode("latin-1")}).to_wire())
    worker._finish(0)
    worker._write_out()
    theirs.close()
    received = b""
    while chunk := ours.recv(65536):
        received += chunk
    ours.close()
    lines = LineDecoder().feed(received)
    assert [line["data"]["text"] for line in lines] == ["before", "bytes \ufffd"]
