"""History sync through a real daemon with the simulator: after pairing, a session
that opted in gets its past messages as ``history: true`` messages, each once (the
message that also came live, and the recent ones the full sync repeats, are not
stored twice), with a ``history.batch`` event per batch; one that did not keeps none."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import Running

from wad.engines.simulator import history

PHONE = "15550001111"


async def pair(wad: Running, device_id: str, mode: str | None) -> list[dict[str, Any]]:
    """Create (with ``history``), scan, and collect the history.batch payloads until the
    last batch of the sync."""
    body: dict[str, Any] = {"deviceId": device_id}
    if mode is not None:
        body["history"] = mode
    r = await wad.client.post("/api/sessions", json=body, headers=wad.admin)
    assert r.status_code == 201, r.text
    await wad.wait_state(device_id, "waiting_qr")
    batches: list[dict[str, Any]] = []
    expected = {"recent": 1, "full": 1 + 3}.get(mode or "none", 0)
    with wad.daemon.events.subscribe() as events:
        wad.engine.link(device_id).scan(PHONE)
        async for event in events:
            if event.device_id != device_id:
                continue
            if event.type == "history.batch":
                batches.append(event.payload)
            if len(batches) == expected and (
                expected
                or (event.type == "session.status" and event.payload["state"] == "connected")
            ):
                break
    return batches


async def messages(wad: Running, device_id: str) -> list[dict[str, Any]]:
    key = (
        await wad.client.put(f"/api/sessions/{device_id}/api-key", json={}, headers=wad.admin)
    ).json()["apiKey"]
    r = await wad.client.get(
        f"/api/sessions/{device_id}/messages?limit=200", headers={"Authorization": f"Bearer {key}"}
    )
    return list(r.json()["messages"])


async def test_recent_history_is_stored_once_with_a_batch_event(wad: Running) -> None:
    (batch,) = await pair(wad, "h1", "recent")
    recent = history.RECENT_CHATS * history.RECENT_PER_CHAT
    assert batch["syncType"] == "INITIAL_BOOTSTRAP" and batch["kept"] is True
    # One of them had already come live: stored once, as the live message it was.
    assert batch["received"] == recent and batch["stored"] == recent - 1
    assert batch["duplicates"] == 1 and batch["oldest"] < batch["newest"]
    stored = await messages(wad, "h1")
    ids = [m["waId"] for m in stored]
    assert len(ids) == len(set(ids)) == recent
    past = [m for m in stored if m["fields"].get("history")]
    assert len(past) == recent - 1
    expected = history.past_messages(PHONE, history.RECENT_CHATS, history.RECENT_PER_CHAT)
    assert {m["waId"] for m in stored} == {m["id"] for m in expected}
    live = next(m for m in stored if not m["fields"].get("history"))
    assert live["waId"] == expected[0]["id"]
    # Past messages keep their own time, their sender's ids (chat 1 came by LID only).
    sample = next(m for m in past if m["waId"] == expected[history.RECENT_PER_CHAT]["id"])
    assert sample["fields"]["fromLid"].endswith("@lid")
    assert (
        sample["peer"].endswith("@s.whatsapp.net")
        and sample["fields"]["fromPhone"] == sample["peer"]
    )
    # (the expected list was made a moment later: its clock may have moved on a second)
    wanted = expected[history.RECENT_PER_CHAT]["timestamp"]
    assert wanted - 5 <= sample["fields"]["timestamp"] <= wanted
    assert sample["fields"]["timestamp"] < time.time() - history.DAY


async def test_full_history_repeats_recent_messages_without_duplicates(wad: Running) -> None:
    batches = await pair(wad, "h2", "full")
    assert [b["syncType"] for b in batches] == ["INITIAL_BOOTSTRAP", "FULL", "FULL", "FULL"]
    assert [b["part"] for b in batches[1:]] == [1, 2, 3] and batches[-1]["progress"] == 100
    total = history.FULL_CHATS * history.FULL_PER_CHAT
    assert sum(b["received"] for b in batches[1:]) == total
    # The full sync repeats the initial one's messages (and the live one): duplicates.
    assert (
        sum(b["duplicates"] for b in batches[1:]) == history.RECENT_CHATS * history.RECENT_PER_CHAT
    )
    stored = await messages(wad, "h2")
    ids = [m["waId"] for m in stored]
    assert len(ids) == len(set(ids)) == total


async def test_a_session_without_history_keeps_none(wad: Running) -> None:
    assert await pair(wad, "h3", None) == []
    assert await messages(wad, "h3") == []


async def test_history_setting_none_drops_a_batch_that_comes(wad: Running) -> None:
    batches = await pair(wad, "h4", "recent")
    assert batches[0]["stored"] > 0
    r = await wad.client.patch("/api/sessions/h4", json={"history": "none"}, headers=wad.admin)
    assert r.status_code == 200
    before = len(await messages(wad, "h4"))
    # Another batch (as WhatsApp may send later): reported, not kept.
    link = wad.engine.link("h4")
    more = history.after_pairing("15550009999", "recent")[1]
    with wad.daemon.events.subscribe() as events:
        link.emit(more.kind, **more.data)
        async for event in events:
            if event.type == "history.batch":
                assert event.payload["kept"] is False and event.payload["stored"] == 0
                assert event.payload["received"] == len(more.data["messages"])
                break
    assert len(await messages(wad, "h4")) == before


@pytest.mark.parametrize("mode", ["recent"])
async def test_a_later_live_copy_of_a_history_message_is_not_stored_again(
    wad: Running, mode: str
) -> None:
    await pair(wad, "h5", mode)
    before = await messages(wad, "h5")
    past = history.past_messages(PHONE, 1, 3)[2]
    link = wad.engine.link("h5")
    with wad.daemon.events.subscribe() as events:
        link.emit("message", **{k: v for k, v in past.items() if k != "history"})
        link.emit("message", **{**past, "id": "SIMLIVE0001", "text": "fresh"})
        async for event in events:
            if event.type == "message":
                assert event.payload["waId"] == "SIMLIVE0001"  # the repeat had no event
                break
    after = await messages(wad, "h5")
    assert len(after) == len(before) + 1
