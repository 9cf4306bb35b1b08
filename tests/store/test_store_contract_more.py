"""The store contract, continued: polls, contacts, history, plugins' migrations and
transactions, on both backends (tests/store/conftest.py)."""

from __future__ import annotations

import pytest
from store_backends import AnyStore

from wad.store.database import Queries


async def _session(store: AnyStore, *devices: str) -> None:
    await store.run(lambda q: [q.create_session(d) for d in devices])


async def test_a_polls_votes_keep_each_voters_latest(store: AnyStore) -> None:
    await _session(store, "s1")
    await store.run(lambda q: q.insert_incoming("s1", "P1", "g@g.us", "poll", "?", {"q": "x"}))
    poll = await store.read(lambda q: q.poll_by_wa_id("s1", "P1"))
    assert poll is not None and poll["chat"] == "g@g.us" and poll["fields"] == {"q": "x"}
    assert await store.read(lambda q: q.poll_by_wa_id("s1", "P2")) is None
    assert await store.run(lambda q: q.record_vote(poll["id"], "v1", {"o": ["a"], "timestamp": 2}))
    assert not await store.run(lambda q: q.record_vote(poll["id"], "v1", {"o": [], "timestamp": 1}))
    assert await store.run(lambda q: q.record_vote(poll["id"], "v2", {"o": ["b"], "timestamp": 1}))
    fields = (await store.read(lambda q: q.poll_by_wa_id("s1", "P1")) or {})["fields"]
    assert fields["votes"] == {
        "v1": {"o": ["a"], "timestamp": 2},
        "v2": {"o": ["b"], "timestamp": 1},
    }


async def test_known_contacts_spare_sends_from_the_new_contact_count(store: AnyStore) -> None:
    await _session(store, "s1")
    await store.run(lambda q: q.note_contact("s1", "a@s"))
    await store.run(lambda q: q.note_contact("s1", "a@s"))  # a repeat is no error
    assert await store.read(lambda q: q.is_known_contact("s1", "a@s"))
    assert not await store.read(lambda q: q.is_known_contact("s1", "b@s"))

    def sends(q: Queries) -> None:
        for n, peer in enumerate(["a@s", "b@s", "b@s", "c@s", "team@g.us"]):
            q.insert_outgoing(f"m{n}", "s1", peer, "text", "x")

    await store.run(sends)
    assert await store.read(lambda q: q.sends_to_unknown_since("s1", "2000")) == 3
    assert await store.read(lambda q: q.sends_to_unknown_since("s1", "9999")) == 0


async def test_history_stores_each_whatsapp_id_once_beside_the_live_messages(
    store: AnyStore,
) -> None:
    await _session(store, "s1")
    await store.run(lambda q: q.insert_outgoing("o1", "s1", "a@s", "text", "x"))
    await store.run(lambda q: q.mark_sent("o1", "W-sent"))
    items = [
        {"waId": w, "peer": "a@s", "type": "text", "body": w, "fields": {"history": True}}
        for w in ("H1", "W-sent", "H2", "H1", "")
    ]
    stored = await store.run(lambda q: q.insert_history("s1", items))
    assert len(stored) == 2
    assert await store.run(lambda q: q.insert_incoming("s1", "H2", "a@s", "text", "live")) is None
    h1 = await store.read(lambda q: q.get_message("s1", "H1"))
    assert h1 is not None and h1["id"] == stored[0] and h1["fields"] == {"history": True}


_TABLE = {
    "sqlite": ["CREATE TABLE plug_a (id INTEGER PRIMARY KEY, v TEXT) STRICT"],
    "postgresql": ["CREATE TABLE plug_a (id BIGINT PRIMARY KEY, v TEXT)"],
}
_MORE = {
    "sqlite": "ALTER TABLE plug_a ADD COLUMN w INTEGER",
    "postgresql": "ALTER TABLE plug_a ADD COLUMN w BIGINT",
}


async def test_a_plugins_migrations_run_once_each_in_their_order(store: AnyStore) -> None:
    sqlite, postgresql = _TABLE["sqlite"], _TABLE["postgresql"]
    assert store.migrate_plugin("plug", sqlite, postgresql=postgresql) == 1
    assert store.migrate_plugin("plug", sqlite, postgresql=postgresql) == 1  # nothing to do
    sqlite, postgresql = [*sqlite, _MORE["sqlite"]], [*postgresql, _MORE["postgresql"]]
    assert store.migrate_plugin("plug", sqlite, postgresql=postgresql) == 2
    assert store.migrate_plugin("plug", sqlite[:1], postgresql=postgresql[:1]) == 2  # older code
    await store.run(
        lambda q: q.db.execute("INSERT INTO plug_a (id, v, w) VALUES (?, ?, ?)", (1, "x", 2))
    )
    rows = await store.read(lambda q: q.db.execute("SELECT id, v, w FROM plug_a").fetchall())
    assert [tuple(r) for r in rows] == [(1, "x", 2)]
    assert store.migrate_plugin("other", [], postgresql=[]) == 0


class Abort(Exception):
    pass


async def test_an_exception_in_run_leaves_nothing_of_its_writes(store: AnyStore) -> None:
    await _session(store, "s1")

    def half(q: Queries) -> None:
        q.create_session("s2")
        q.insert_outgoing("m1", "s1", "a@s", "text", "x")
        q.append_event("s1", "message", {})
        q.set_session_settings("s1", {"a": 1})  # a nested block, committed to its savepoint
        raise Abort

    with pytest.raises(Abort):
        await store.run(half)
    assert await store.read(lambda q: q.get_session("s2")) is None
    assert await store.read(lambda q: q.message_status("m1")) is None
    assert await store.read(lambda q: q.latest_event_id()) is None
    assert await store.read(lambda q: q.session_settings("s1")) == {}
    event = await store.run(lambda q: q.append_event("s1", "message", {}))
    assert event.seq == 1  # the aborted numbering was rolled back too


async def test_a_nested_block_that_fails_is_undone_alone(store: AnyStore) -> None:
    await _session(store, "s1")

    def partly(q: Queries) -> None:
        q.insert_outgoing("m1", "s1", "a@s", "text", "x")
        with pytest.raises(Abort), q.db:
            q.insert_outgoing("m2", "s1", "a@s", "text", "x")
            raise Abort

    await store.run(partly)
    assert await store.read(lambda q: q.message_status("m1")) == "pending"
    assert await store.read(lambda q: q.message_status("m2")) is None


async def test_reads_see_what_runs_committed_and_a_runs_result_comes_back(store: AnyStore) -> None:
    assert await store.read(lambda q: q.list_sessions()) == []
    assert await store.run(lambda q: (q.create_session("s1"), 42)) == (True, 42)
    assert [r.device_id for r in await store.read(lambda q: q.list_sessions())] == ["s1"]
    assert not store.full
