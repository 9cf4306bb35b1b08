"""Fault containment: hostile text from a contact and failures while handling one item
cost that item only; the session, the other sessions and the daemon go on.

The hostile text is injected where WhatsApp would put it: through the simulator's
virtual phone, in-process (the HTTP API refuses lone surrogates at its edge)."""

from __future__ import annotations

import base64
import re

import trio
import trio.testing
from conftest import Running

from wad.store import StoredEvent

SURROGATE = "a\ud800"


async def next_message(stream: trio.MemoryReceiveChannel[StoredEvent]) -> StoredEvent:
    async for event in stream:
        if event.type == "message":
            return event
    raise AssertionError("the event stream ended")


def fault_count(metrics: str, cause: str) -> float:
    match = re.search(rf'^wad_faults_total{{cause="{cause}"}} (\S+)$', metrics, re.M)
    assert match, metrics
    return float(match.group(1))


async def test_a_lone_surrogate_is_stored_replaced_with_its_original_kept(wad: Running) -> None:
    auth = {"Authorization": f"Bearer {await wad.connected_key('d')}"}
    with wad.daemon.events.subscribe() as stream:
        wad.engine.link("d").deliver("15550003333", SURROGATE)
        event = await next_message(stream)
    assert event.payload["text"] == "a\ufffd"
    assert base64.b64decode(event.payload["raw"]["text"]) == b"a\xed\xa0\x80"
    r = await wad.client.get("/api/sessions/d/messages?direction=in", headers=auth)
    assert r.status_code == 200
    (stored,) = r.json()["messages"]
    assert stored["body"] == "a\ufffd"
    assert stored["fields"]["raw"] == {"text": base64.b64encode(b"a\xed\xa0\x80").decode()}
    # The daemon and the session go on: another message, a send, the metrics.
    assert wad.daemon.supervisor.get("d").state == "connected"  # type: ignore[union-attr]
    with wad.daemon.events.subscribe() as stream:
        wad.engine.link("d").deliver("15550003333", "still here")
        assert (await next_message(stream)).payload["text"] == "still here"
    r = await wad.client.post(
        "/api/messages/send",
        headers=auth,
        json={"deviceId": "d", "number": "15550003333", "message": "hi"},
    )
    assert r.status_code == 200
    metrics = (await wad.client.get("/metrics", headers=wad.admin)).text
    assert fault_count(metrics, "invalid_text") == 1
    assert fault_count(metrics, "session") == 0


async def test_hostile_text_in_every_field_of_every_event_kind(wad: Running) -> None:
    """Push names, captions, file names, group names, locations, receipt ids, keys."""
    await wad.connected_key("d")
    link = wad.engine.link("d")
    with wad.daemon.events.subscribe() as stream:
        link.deliver(
            "15550003333",
            "",
            type="document",
            caption="cap\udfff",
            pushName=b"push \xff\xfe",
            media={"fileName": "f\ud800.pdf", "mimetype": "application/pdf", "size": 3},
            groupName="g\udc00",
            location={"name": b"\xc3", "latitude": float("nan")},
            **{"key\ud800": "value"},
        )
        event = await next_message(stream)
        link.receipt(["id\ud800", b"\xff"], "read")  # type: ignore[list-item]
        link.deliver("15550003333", "after")
        after = await next_message(stream)
    payload = event.payload
    assert payload["caption"] == "cap\ufffd" and payload["pushName"] == "push \ufffd\ufffd"
    assert payload["media"]["fileName"] == "f\ufffd.pdf" and payload["groupName"] == "g\ufffd"
    assert payload["location"] == {"name": "\ufffd", "latitude": None}
    assert payload["key\ufffd"] == "value"
    assert set(payload["raw"]) == {
        "caption",
        "pushName",
        "media.fileName",
        "groupName",
        "location.name",
    }  # a replaced key's original is not kept: keys are the engine's, not a contact's
    assert base64.b64decode(payload["raw"]["pushName"]) == b"push \xff\xfe"
    assert after.payload["text"] == "after"
    assert wad.daemon.supervisor.get("d").state == "connected"  # type: ignore[union-attr]


async def test_a_message_nested_beyond_reason_is_stored_reduced(wad: Running) -> None:
    await wad.connected_key("d")
    deep: list[object] = []
    for _ in range(50_000):
        deep = [deep]
    with wad.daemon.events.subscribe() as stream:
        wad.engine.link("d").deliver("15550003333", "deep", extra=deep)
        wad.engine.link("d").deliver("15550003333", "plain")
        first, second = await next_message(stream), await next_message(stream)
    assert first.payload["text"] == "deep" and first.payload["reduced"] is True
    assert "extra" not in first.payload
    assert second.payload["text"] == "plain" and "reduced" not in second.payload
    metrics = (await wad.client.get("/metrics", headers=wad.admin)).text
    assert fault_count(metrics, "event") == 1


async def test_a_session_whose_row_vanished_fails_alone(wad: Running) -> None:
    """The store loses one session's row under it (every write of it now fails): its
    messages are dropped and counted, another session and the daemon carry on."""
    await wad.connected_key("a")
    await wad.connected_key("b")
    await wad.daemon.store.run(lambda q: q.delete_session("a"))
    wad.engine.link("a").deliver("15550003333", "into the void")
    with wad.daemon.events.subscribe() as stream:
        wad.engine.link("b").deliver("15550003333", "to b")
        event = await next_message(stream)
    assert event.device_id == "b"
    await trio.testing.wait_all_tasks_blocked()
    metrics = (await wad.client.get("/metrics", headers=wad.admin)).text
    assert fault_count(metrics, "message") == 2  # as it came, then reduced: dropped
    assert (await wad.client.get("/healthz")).status_code == 200


async def test_the_simulator_door_with_a_lone_surrogate_never_ends_the_daemon(
    wad: Running,
) -> None:
    """The issue's reproduction: the JSON escape ``\\ud800`` in an incoming message used to
    make storing it raise and the daemon exit. Now it is refused at the HTTP edge (400)
    or stored replaced; either way the daemon and the session go on."""
    await wad.connected_key("d")
    r = await wad.client.post(
        "/api/simulator/sessions/d/incoming",
        headers={**wad.admin, "Content-Type": "application/json"},
        content=b'{"from":"15550003333","message":"a\\ud800"}',
    )
    assert r.status_code in (200, 400), r.text
    with wad.daemon.events.subscribe() as stream:
        wad.engine.link("d").deliver("15550003333", "next")
        assert (await next_message(stream)).payload["text"] == "next"
    assert (await wad.client.get("/healthz")).status_code == 200
