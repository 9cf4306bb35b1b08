"""The neonize adapter's lifecycle and call events, through neonize's own dispatcher
(serialized protobuf, as Go hands them over), and ``reject_call`` / ``ping`` captured
at the ctypes boundary. The rig is the dispatcher tests' (:mod:`test_neonize_dispatch`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from neonize.proto import Neonize_pb2 as pb
from neonize.utils.jid import build_jid
from test_neonize_dispatch import Rig

from wad.engines.contract import TERMINAL_KINDS, EngineError, EngineEvent

CALLER = build_jid("15550003333")
CALLER_LID = build_jid("81234567890123", "lid")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield Rig(tmp_path)


def call_meta(creator: pb.JID = CALLER, alt: pb.JID | None = None) -> pb.BasicCallMeta:
    return pb.BasicCallMeta(
        **{"from": creator},
        timestamp=1_767_000_500_000,
        callCreator=creator,
        callCreatorAlt=alt or pb.JID(),
        callID="CALL0001",
    )


def test_stream_replaced_is_replaced_and_terminal(rig: Rig) -> None:
    rig.connect()
    rig.dispatch(pb.StreamReplaced())
    event = rig.events[-1]
    assert event.kind == "replaced" and "another client" in event.data["reason"]
    assert event.kind in TERMINAL_KINDS and not rig.bridge.connected


def test_temporary_ban_carries_its_code_and_expiry(rig: Rig) -> None:
    rig.connect()
    rig.dispatch(pb.TemporaryBan(Code=pb.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600))
    assert rig.events[-1] == EngineEvent(
        "banned", {"code": "SEND_TO_TOO_MANY_PEOPLE", "expiresIn": 3600}
    )
    # A reason neonize does not know leaves Code unset.
    rig.dispatch(pb.TemporaryBan(Expire=60))
    assert rig.events[-1] == EngineEvent("banned", {"code": "UNKNOWN", "expiresIn": 60})
    assert "banned" in TERMINAL_KINDS and not rig.bridge.connected


def test_client_outdated_is_outdated(rig: Rig) -> None:
    rig.connect()
    rig.dispatch(pb.ClientOutdated())
    event = rig.events[-1]
    assert event.kind == "outdated" and "upgrade neonize" in event.data["reason"]
    assert "outdated" in TERMINAL_KINDS


def test_keepalive_timeout_and_restored(rig: Rig) -> None:
    rig.connect()
    rig.dispatch(pb.KeepAliveTimeout(ErrorCount=2, LastSuccess=1_767_000_000))
    assert rig.events[-1] == EngineEvent(
        "keepalive_timeout", {"errorCount": 2, "lastSuccess": 1_767_000_000}
    )
    rig.dispatch(pb.KeepAliveRestored())
    assert rig.events[-1] == EngineEvent("keepalive_restored", {})
    assert rig.bridge.connected  # neither ends the connection


def test_call_offer_names_the_caller_and_terminate_ends_it(rig: Rig) -> None:
    rig.connect()
    rig.dispatch(pb.CallOffer(basicCallMeta=call_meta()))
    assert rig.events[-1] == EngineEvent(
        "call_offer",
        {
            "id": "CALL0001",
            "from": "15550003333@s.whatsapp.net",
            "callCreator": "15550003333@s.whatsapp.net",
            "timestamp": 1_767_000_500,
            "isVideo": False,
            "isGroup": False,
        },
    )
    rig.dispatch(pb.CallTerminate(basicCallMeta=call_meta(), reason="timeout"))
    event = rig.events[-1]
    assert event.kind == "call_ended" and event.data["reason"] == "timeout"
    assert event.data["id"] == "CALL0001"


def test_a_call_by_privacy_id_names_the_phone_and_keeps_the_lid_for_rejection(
    rig: Rig,
) -> None:
    rig.connect()
    rig.dispatch(pb.CallOffer(basicCallMeta=call_meta(CALLER_LID, CALLER)))
    data = rig.events[-1].data
    assert data["from"] == "15550003333@s.whatsapp.net"
    assert data["callCreator"] == "81234567890123@lid"


def test_group_call_notice_is_an_offer(rig: Rig) -> None:
    rig.connect()
    rig.dispatch(pb.CallOfferNotice(basicCallMeta=call_meta(), media="video", type="group"))
    data = rig.events[-1].data
    assert rig.events[-1].kind == "call_offer" and data["isVideo"] and data["isGroup"]


def test_reject_call_reaches_go_with_the_callers_jid_and_the_call_id(rig: Rig) -> None:
    rig.go.answer("RejectCall", lambda uuid, jid, size, call_id: b"")
    with pytest.raises(EngineError) as refused:
        rig.run("reject_call", {"id": "CALL0001", "from": "81234567890123@lid"})
    assert refused.value.code == "not_connected"
    rig.connect()
    assert rig.run("reject_call", {"id": "CALL0001", "from": "81234567890123@lid"}) == {}
    ((uuid, jid, size, call_id),) = rig.go.named("RejectCall")
    assert uuid == rig.client.uuid
    sent = pb.JID.FromString(jid)
    assert (sent.User, sent.Server) == ("81234567890123", "lid") and size == len(jid)
    assert call_id.value == b"CALL0001"
    with pytest.raises(EngineError) as bad:
        rig.run("reject_call", {"from": "15550003333@s.whatsapp.net"})
    assert bad.value.code == "bad_request"


def test_a_refused_rejection_is_an_engine_failure(rig: Rig) -> None:
    from wad.engines.neonize.commands import run

    rig.go.answer("RejectCall", lambda *args: b"call not found")
    rig.connect()
    call = rig.commands.prepare("reject_call", {"id": "X", "from": "15550003333"})
    with pytest.raises(EngineError, match="call not found") as failed:
        run(call)
    assert failed.value.code == "failed"


def test_ping_asks_go_only_once_connected(rig: Rig) -> None:
    assert rig.commands.ping() == {"connected": False}
    assert rig.go.named("IsConnected") == []  # before Connected: Go is not asked
    rig.go.answer("IsConnected", lambda uuid: False)
    rig.connect()
    assert rig.commands.ping() == {"connected": False}  # whatsmeow's socket is down
    rig.go.answer("IsConnected", lambda uuid: True)
    assert rig.commands.ping() == {"connected": True}
    assert len(rig.go.named("IsConnected")) == 2
