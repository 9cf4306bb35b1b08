"""Lifecycle truth and calls end to end: a real daemon on loopback, the simulator's
scenario routes (replace, ban, silence, keep-alives, calls), the session's JSON, its
events and ``/metrics``; the connection attempts counted (no reconnect storm)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from conftest import Running, make_config, start_daemon

from wad.engines.simulator.engine import SimulatorEngine


@pytest.fixture
async def fast(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Running]:
    """A daemon whose watchdog acts within a second (the defaults are a minute and more)."""
    config = make_config(
        tmp_path,
        liveness_interval=0.4,
        liveness_timeout=0.4,
        degraded_reconnect_after=0.8,
        backoff_initial=0.2,
        backoff_cap=0.4,
    )
    running = await start_daemon(nursery, config, SimulatorEngine(qr_interval=20.0))
    yield running
    await running.close()


async def attempts(wad: Running, device_id: str) -> int:
    r = await wad.client.get(f"/api/simulator/sessions/{device_id}/attempts", headers=wad.admin)
    return int(r.json()["attempts"])


async def session(wad: Running, device_id: str) -> dict[str, object]:
    r = await wad.client.get(f"/api/sessions/{device_id}", headers=wad.admin)
    return r.json()["session"]


async def test_replaced_banned_and_silent_each_end_right(fast: Running) -> None:
    wad, sim = fast, "/api/simulator/sessions"
    for device in ("rep", "ban", "zombie"):
        await wad.connected_key(device)

    r = await wad.client.post(f"{sim}/rep/replace", headers=wad.admin)
    assert r.status_code == 200, r.text
    await wad.wait_state("rep", "conflict")
    shown = await session(wad, "rep")
    assert shown["connectionState"] == "conflict" and shown["isActive"] is False
    assert "another client" in str(shown["lastError"]) and shown["nextRetryAt"] is None

    r = await wad.client.post(
        f"{sim}/ban/ban", headers=wad.admin, json={"seconds": 1.5, "code": "BLOCKED_BY_USERS"}
    )
    assert r.status_code == 200, r.text
    await wad.wait_state("ban", "banned")
    shown = await session(wad, "ban")
    assert shown["bannedUntil"] is not None and shown["bannedUntil"] == shown["nextRetryAt"]
    assert "BLOCKED_BY_USERS" in str(shown["lastError"])
    assert await attempts(wad, "ban") == 1  # nothing tried during the ban

    r = await wad.client.post(f"{sim}/zombie/silence", headers=wad.admin)
    assert r.status_code == 200, r.text
    with trio.fail_after(10):  # interval + timeout: under a second
        await wad.wait_state("zombie", "disconnected")
        await wad.wait_state("zombie", "connected")
        await wad.wait_state("ban", "connected")  # once the ban ended
    assert await attempts(wad, "zombie") == 2 and await attempts(wad, "ban") == 2
    # All that time, the replaced session tried nothing.
    assert await attempts(wad, "rep") == 1
    assert (await session(wad, "rep"))["connectionState"] == "conflict"

    metrics = (await wad.client.get("/metrics", headers=wad.admin)).text
    for cause in ("replaced", "banned", "unresponsive"):
        assert f'wad_session_reconnects_total{{cause="{cause}"}} 1' in metrics, cause
    assert 'wad_sessions{state="conflict"} 1' in metrics

    # The administrator takes the replaced session back.
    await wad.client.post("/api/sessions/rep/restart", headers=wad.admin)
    await wad.wait_state("rep", "connected")
    assert await attempts(wad, "rep") == 2

    # The events tell it all, in order, with the new fields.
    r = await wad.client.get(
        "/api/sessions/ban/events", params={"types": "session.status"}, headers=wad.admin
    )
    states = [e["payload"] for e in r.json()["events"]][::-1]
    banned = next(p for p in states if p["state"] == "banned")
    assert banned["bannedUntil"] and banned["previous"] == "connected"


async def test_degraded_is_shown_then_reconnects_when_it_lasts(fast: Running) -> None:
    wad, sim = fast, "/api/simulator/sessions"
    await wad.connected_key("ka")
    with wad.daemon.events.subscribe() as stream:
        r = await wad.client.post(f"{sim}/ka/keepalive", headers=wad.admin, json={"failing": True})
        assert r.status_code == 200, r.text
        async for event in stream:
            if event.type == "session.status":
                assert event.payload["state"] == "connected" and event.payload["degraded"] is True
                break
    shown = await session(wad, "ka")
    assert shown["degraded"] is True and "keep-alives" in str(shown["lastError"])
    with trio.fail_after(10):
        await wad.wait_state("ka", "disconnected")
        await wad.wait_state("ka", "connected")
    shown = await session(wad, "ka")
    assert shown["degraded"] is False and await attempts(wad, "ka") == 2
    metrics = (await wad.client.get("/metrics", headers=wad.admin)).text
    assert 'wad_session_reconnects_total{cause="degraded"} 1' in metrics


async def test_calls_rejected_with_a_reply_or_just_reported(wad: Running) -> None:
    sim = "/api/simulator/sessions"
    await wad.connected_key("calls")
    r = await wad.client.patch(
        "/api/sessions/calls",
        headers=wad.admin,
        json={"rejectCalls": True, "rejectCallsMessage": "I cannot take calls; write here."},
    )
    assert r.status_code == 200, r.text
    with wad.daemon.events.subscribe() as stream:
        r = await wad.client.post(
            f"{sim}/calls/call", headers=wad.admin, json={"from": "15550007777"}
        )
        assert r.status_code == 200, r.text
        call_id = r.json()["callId"]
        seen: dict[str, dict[str, object]] = {}
        async for event in stream:
            seen.setdefault(event.type, event.payload)
            if {"call.offer", "call.ended", "message.sent"} <= seen.keys():
                break
    assert seen["call.offer"] == {
        "callId": call_id,
        "from": "15550007777@s.whatsapp.net",
        "timestamp": seen["call.offer"]["timestamp"],
        "isVideo": False,
        "isGroup": False,
        "autoReject": True,
    }
    assert seen["call.ended"] == {
        "callId": call_id,
        "from": "15550007777@s.whatsapp.net",
        "reason": "rejected",
    }
    got = (await wad.client.get(f"{sim}/calls/sent", headers=wad.admin)).json()["messages"]
    assert [m["command"] for m in got] == ["reject_call", "send"]
    assert got[0]["callId"] == call_id
    assert got[1]["to"] == "15550007777@s.whatsapp.net"
    assert got[1]["text"] == "I cannot take calls; write here."
    out = await wad.client.get(
        "/api/sessions/calls/messages", params={"direction": "out"}, headers=wad.admin
    )
    (reply,) = out.json()["messages"]
    assert reply["status"] == "sent" and reply["body"] == "I cannot take calls; write here."

    # Not rejecting: the call is reported, and its end when the caller gives up.
    await wad.client.patch("/api/sessions/calls", headers=wad.admin, json={"rejectCalls": False})
    with wad.daemon.events.subscribe() as stream:
        r = await wad.client.post(
            f"{sim}/calls/call", headers=wad.admin, json={"from": "15550008888", "video": True}
        )
        second = r.json()["callId"]
        async for event in stream:
            if event.type == "call.offer":
                assert event.payload["autoReject"] is False and event.payload["isVideo"] is True
                break
        r = await wad.client.post(
            f"{sim}/calls/hang-up", headers=wad.admin, json={"callId": second}
        )
        assert r.status_code == 200, r.text
        async for event in stream:
            if event.type == "call.ended":
                assert event.payload["reason"] == "timeout" and event.payload["callId"] == second
                break
    got = (await wad.client.get(f"{sim}/calls/sent", headers=wad.admin)).json()["messages"]
    assert len(got) == 2  # nothing rejected, nothing sent this time
