"""Property: whatever text an engine event carries (valid, lone surrogates, bytes that
are not UTF-8) in any of its fields, through the simulator's path into a session,
nothing crashes, the session stays connected, and everything stored is valid UTF-8."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import trio
from conftest import wait_state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wad.engines.simulator.engine import SimulatorEngine
from wad.sessions.events import EventLog
from wad.sessions.session import SessionTiming
from wad.sessions.supervisor import Supervisor
from wad.store import Store

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
# Text as a hostile client can make it: valid pieces and lone surrogates mixed, or the
# bytes protobuf hands over for a field that is not UTF-8.
HOSTILE = st.one_of(
    st.lists(st.one_of(st.text(max_size=4), SURROGATES), max_size=6).map("".join),
    st.binary(max_size=12),
)
MESSAGE = st.fixed_dictionaries(
    {
        "text": HOSTILE,
        "caption": HOSTILE,
        "pushName": HOSTILE,
        "groupName": HOSTILE,
        "media": st.fixed_dictionaries({"fileName": HOSTILE, "mimetype": HOSTILE}),
        "location": st.fixed_dictionaries({"name": HOSTILE, "address": HOSTILE}),
        "mentions": st.lists(HOSTILE, max_size=3),
    }
)


def utf8(text: str | None) -> None:
    if text is not None:
        text.encode("utf-8")  # strict: raises on a lone surrogate


async def deliver_and_check(messages: list[dict[str, Any]], receipt_ids: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "wad.db")
        events = EventLog(store)
        engine = SimulatorEngine()
        supervisor = Supervisor(
            store, engine, events, Path(tmp) / "sessions", SessionTiming(backoff_initial=0.01)
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run)
            await supervisor.create("p")
            await wait_state(events, supervisor, "p", "waiting_qr")
            engine.link("p").scan("15550001111")
            await wait_state(events, supervisor, "p", "connected")
            with events.subscribe() as stream:
                for n, message in enumerate(messages):
                    fields = dict(message)
                    engine.link("p").deliver("15550002222", fields.pop("text"), n=n, **fields)
                engine.link("p").receipt(receipt_ids, "read")
                engine.link("p").deliver("15550002222", "the last one")
                async for event in stream:
                    if event.type == "message" and event.payload.get("text") == "the last one":
                        break
            session = supervisor.get("p")
            assert session is not None and session.state == "connected"
            faults = supervisor.faults.counts
            assert faults["session"] == faults["event"] == faults["message"] == 0, faults
            nursery.cancel_scope.cancel()
        stored = await store.read(lambda q: q.list_messages("p", "in", None, 1000))
        assert len(stored) == len(messages) + 1
        for row in stored:
            utf8(row["body"])
        payloads = await store.read(lambda q: q.db.execute("SELECT payload FROM events").fetchall())
        for (payload,) in payloads:
            utf8(payload)
        with_fields = "SELECT fields FROM messages WHERE fields IS NOT NULL"
        for (fields,) in await store.read(lambda q: q.db.execute(with_fields).fetchall()):
            utf8(fields)
        store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MESSAGE, min_size=1, max_size=4), st.lists(HOSTILE, max_size=4))
def test_hostile_text_in_engine_events_never_crashes_and_is_stored_valid(
    messages: list[dict[str, Any]], receipt_ids: list[Any]
) -> None:
    trio.run(deliver_and_check, messages, receipt_ids)
