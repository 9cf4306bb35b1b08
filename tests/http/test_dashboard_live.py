"""The live event stream (server-sent events) and a session's event history."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from conftest import Running

from wad.http import live


class Stream:
    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines

    async def next(self) -> dict[str, Any]:
        """The next message: ``{"id", "retry", "data", "comment"}`` (what it had)."""
        message: dict[str, Any] = {}
        with trio.fail_after(10):
            async for line in self._lines:
                if not line:
                    if message:
                        return message
                    continue
                if line.startswith(":"):
                    message["comment"] = line[1:].strip()
                    continue
                field, _, value = line.partition(": ")
                message[field] = json.loads(value) if field == "data" else value
        raise AssertionError("the stream ended")

    async def next_event(self) -> dict[str, Any]:
        while True:
            message = await self.next()
            if "data" in message:
                return message


@asynccontextmanager
async def events(
    wad: Running, query: str = "", last_id: str | None = None
) -> AsyncIterator[Stream]:
    headers = dict(wad.admin)
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    async with wad.client.stream("GET", "/api/events" + query, headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        yield Stream(r.aiter_lines())


async def create(wad: Running, device_id: str) -> None:
    r = await wad.client.post("/api/sessions", json={"deviceId": device_id}, headers=wad.admin)
    assert r.status_code == 201, r.text


async def test_stream_needs_the_admin(wad: Running) -> None:
    r = await wad.client.get("/api/events")
    assert r.status_code == 401
    r = await wad.client.get("/api/events", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = await wad.client.get("/api/events?session=../etc", headers=wad.admin)
    assert r.status_code == 400 and "deviceId" in r.json()["error"]


async def test_live_events_then_resume_after_a_dropped_connection(wad: Running) -> None:
    async with events(wad) as stream:
        opened = await stream.next()
        assert opened["data"] == {"event": "stream.open", "resumed": False}
        assert opened["retry"] == str(live.RETRY_MS) and "id" not in opened  # nothing stored
        await create(wad, "d1")
        seen = []
        while len(seen) < 3:  # connecting, waiting_qr, the first QR
            seen.append(await stream.next_event())
    assert [m["data"]["event"] for m in seen] == ["session.status", "session.status", "session.qr"]
    assert all(m["id"] == m["data"]["id"] for m in seen)
    assert seen[1]["data"]["payload"]["state"] == "waiting_qr"

    # While no one listens: the phone scans, a message comes in.
    wad.engine.link("d1").scan("15550001111")
    await wad.wait_state("d1", "connected")
    with wad.daemon.events.subscribe() as stored_events:
        wad.engine.link("d1").deliver("15550002222", "hello")
        async for event in stored_events:
            if event.type == "message":
                break
    stored = list(
        reversed(
            await wad.daemon.store.read(
                lambda q: q.recent_events("d1", ("session.status", "session.qr", "message"), 100)
            )
        )
    )
    missed = [e.id for e in stored if e.seq > seen[0]["data"]["seq"]]

    async with events(wad, last_id=seen[0]["id"]) as stream:
        opened = await stream.next()
        assert opened["data"] == {"event": "stream.open", "resumed": True}
        replayed = [await stream.next_event() for _ in missed]
        assert [m["id"] for m in replayed] == missed
        assert replayed[-1]["data"]["event"] == "message"
        assert replayed[-1]["data"]["payload"]["text"] == "hello"
        # ... then it goes on live.
        wad.engine.link("d1").deliver("15550002222", "and now")
        fresh = await stream.next_event()
        assert fresh["data"]["payload"]["text"] == "and now"


async def test_fresh_stream_is_resumable_from_its_first_message(wad: Running) -> None:
    await create(wad, "d1")
    await wad.wait_state("d1", "waiting_qr")
    latest = await wad.daemon.store.read(lambda q: q.latest_event_id())
    async with events(wad) as stream:
        opened = await stream.next()
        assert opened["id"] == latest and opened["data"]["resumed"] is False
    wad.engine.link("d1").scan("15550001111")
    await wad.wait_state("d1", "connected")
    async with events(wad, last_id=latest) as stream:
        assert (await stream.next())["data"]["resumed"] is True
        event = await stream.next_event()
        assert event["data"]["payload"]["state"] == "connected"


async def test_unknown_resume_point_says_reload(wad: Running) -> None:
    await create(wad, "d1")
    await wad.wait_state("d1", "waiting_qr")
    async with events(wad, last_id="evt_gone") as stream:
        opened = await stream.next()
        assert opened["data"] == {"event": "stream.open", "resumed": False}
        assert opened["id"] == await wad.daemon.store.read(lambda q: q.latest_event_id())


async def test_session_filter(wad: Running) -> None:
    async with events(wad, "?session=wanted") as stream:
        await stream.next()
        await create(wad, "other")
        await wad.wait_state("other", "waiting_qr")
        await create(wad, "wanted")
        # "other"'s events came first; the filter lets through only "wanted"'s.
        for _ in range(3):
            assert (await stream.next_event())["data"]["session"] == "wanted"
    wad.engine.link("other").scan("15550001111")
    await wad.wait_state("other", "connected")
    first_wanted = (
        await wad.daemon.store.read(lambda q: q.recent_events("wanted", ("session.status",), 10))
    )[-1]
    async with events(wad, "?session=wanted", last_id=first_wanted.id) as stream:
        assert (await stream.next())["data"]["resumed"] is True
        replayed = await stream.next_event()
        assert replayed["data"]["session"] == "wanted"
        assert replayed["data"]["seq"] == first_wanted.seq + 1


async def test_idle_stream_sends_keep_alive_comments(
    wad: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "HEARTBEAT", 0.05)
    async with events(wad) as stream:
        await stream.next()
        assert await stream.next() == {"comment": "keep-alive"}


async def test_session_history(wad: Running) -> None:
    await create(wad, "d1")
    await wad.wait_state("d1", "waiting_qr")
    r = await wad.client.get("/api/sessions/d1/events?types=session.status", headers=wad.admin)
    assert r.status_code == 200
    states = [e["payload"]["state"] for e in r.json()["events"]]
    assert states[:2] == ["waiting_qr", "connecting"]  # newest first
    r = await wad.client.get("/api/sessions/d1/events?limit=1", headers=wad.admin)
    assert len(r.json()["events"]) == 1
    for query, status in (("?types=nope", 400), ("?limit=0", 400), ("?limit=x", 400)):
        r = await wad.client.get("/api/sessions/d1/events" + query, headers=wad.admin)
        assert r.status_code == status and r.json()["success"] is False
    assert (await wad.client.get("/api/sessions/zz/events", headers=wad.admin)).status_code == 404
    assert (await wad.client.get("/api/sessions/d1/events")).status_code == 401


async def test_a_deletion_is_streamed_live_but_not_stored(wad: Running) -> None:
    await create(wad, "doomed")
    await wad.wait_state("doomed", "waiting_qr")
    async with events(wad, "?session=doomed") as stream:
        await stream.next()
        r = await wad.client.delete("/api/sessions/doomed", headers=wad.admin)
        assert r.status_code == 200
        while (message := await stream.next_event())["data"]["event"] != "session.deleted":
            pass
        assert message["data"]["payload"] == {"deviceId": "doomed"}
        assert message["data"]["seq"] == 0
    # Not stored: a stream resuming from it starts over.
    async with events(wad, last_id=message["id"]) as stream:
        assert (await stream.next())["data"]["resumed"] is False
