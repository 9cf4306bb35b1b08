"""The store contract: every query module, through ``run`` and ``read``, on both
backends (``store`` is parameterized: tests/store/conftest.py) with the same answers."""

from __future__ import annotations

import pytest
from store_backends import AnyStore

from wad.store.database import Queries


async def _session(store: AnyStore, *devices: str) -> None:
    def create(q: Queries) -> None:
        for device in devices:
            assert q.create_session(device)

    await store.run(create)


async def test_sessions_are_created_once_listed_updated_and_deleted(store: AnyStore) -> None:
    await _session(store, "s1", "s2")
    assert not await store.run(lambda q: q.create_session("s1"))
    await store.run(
        lambda q: q.update_session("s1", connection_state="connected", phone_number="1")
    )
    row = await store.read(lambda q: q.get_session("s1"))
    assert row is not None and (row.connection_state, row.phone_number) == ("connected", "1")
    assert row.key_prefix is None and row.updated_at >= row.created_at
    listed = await store.read(lambda q: q.list_sessions())
    assert [r.device_id for r in listed] == ["s1", "s2"]
    with pytest.raises(ValueError):
        await store.run(lambda q: q.update_session("s1", last_seq=5))
    assert await store.run(lambda q: q.delete_session("s2"))
    assert not await store.run(lambda q: q.delete_session("s2"))
    assert await store.read(lambda q: q.get_session("s2")) is None


async def test_keys_are_set_replaced_found_and_revoked(store: AnyStore) -> None:
    await _session(store, "s1", "s2")
    await store.run(lambda q: q.set_api_key("s1", "h1", "wad_a"))
    await store.run(lambda q: q.set_api_key("s2", "h2", "wad_b"))
    assert await store.read(lambda q: q.session_for_key("h1")) == "s1"
    assert await store.read(lambda q: q.key_in_use("h1", "s2"))
    assert not await store.read(lambda q: q.key_in_use("h1", "s1"))
    await store.run(lambda q: q.set_api_key("s1", "h1b", "wad_c"))  # a new key replaces
    assert await store.read(lambda q: q.session_for_key("h1")) is None
    row = await store.read(lambda q: q.get_session("s1"))
    assert row is not None and row.key_prefix == "wad_c"
    assert await store.run(lambda q: q.revoke_api_key("s1"))
    assert not await store.run(lambda q: q.revoke_api_key("s1"))
    assert await store.read(lambda q: q.session_for_key("h1b")) is None
    await store.run(lambda q: q.delete_session("s2"))  # its key goes with it
    assert await store.read(lambda q: q.session_for_key("h2")) is None


async def test_settings_are_json_values_by_name_and_none_removes(store: AnyStore) -> None:
    await _session(store, "s1")
    values = {"rejectCalls": True, "proxy": {"url": "socks5://x", "port": 1080}, "n": 3}
    await store.run(lambda q: q.set_session_settings("s1", values))
    assert await store.read(lambda q: q.session_settings("s1")) == values
    await store.run(lambda q: q.set_session_settings("s1", {"proxy": None, "n": 4}))
    assert await store.read(lambda q: q.session_settings("s1")) == {"rejectCalls": True, "n": 4}
    assert await store.read(lambda q: q.session_settings("nobody")) == {}


async def test_the_outbox_moves_forward_only(store: AnyStore) -> None:
    await _session(store, "s1")

    def send(q: Queries) -> None:
        for n in range(3):
            q.insert_outgoing(f"m{n}", "s1", "p@s.whatsapp.net", "text", f"hi {n}", {"k": n})
        q.insert_outgoing("img", "s1", "p@s.whatsapp.net", "image", None, None, "/m/img")

    await store.run(send)
    pending = await store.read(lambda q: q.pending_outgoing("s1"))
    assert [p["id"] for p in pending] == ["m0", "m1", "m2", "img"]
    assert pending[1] == {
        "id": "m1",
        "to": "p@s.whatsapp.net",
        "type": "text",
        "body": "hi 1",
        "fields": {"k": 1},
        "mediaPath": None,
    }
    await store.run(lambda q: q.mark_sent("m0", "W0"))
    await store.run(lambda q: q.mark_sent("m1", "W1"))
    await store.run(lambda q: q.mark_failed("m2", "no route"))
    assert await store.read(lambda q: q.message_status("m2")) == "failed"
    assert await store.read(lambda q: q.message_status("nope")) is None
    assert await store.read(lambda q: q.media_path("s1", "img")) == "/m/img"
    await store.run(lambda q: q.forget_media("img"))
    assert await store.read(lambda q: q.media_path("s1", "img")) is None
    assert await store.run(lambda q: q.apply_receipt("s1", ["W0", "W1"], "read")) == ["m0", "m1"]
    assert await store.run(lambda q: q.apply_receipt("s1", ["W0"], "delivered")) == []  # back
    assert await store.run(lambda q: q.apply_receipt("s1", ["W0", "Wx"], "played")) == ["m0"]
    assert await store.read(lambda q: q.message_status("m0")) == "played"
    assert await store.read(lambda q: q.message_status("m1")) == "read"
    await store.run(lambda q: q.set_status("m1", "delivered"))
    assert await store.read(lambda q: q.message_status("m1")) == "delivered"
    assert [p["id"] for p in await store.read(lambda q: q.pending_outgoing("s1"))] == ["img"]


async def test_the_inbox_stores_a_whatsapp_id_once_and_pages_newest_first(
    store: AnyStore,
) -> None:
    await _session(store, "s1", "s2")
    first = await store.run(lambda q: q.insert_incoming("s1", "W1", "a@s", "text", "one"))
    assert first is not None
    assert await store.run(lambda q: q.insert_incoming("s1", "W1", "a@s", "text", "one")) is None
    # The same WhatsApp id on another session is another message.
    assert await store.run(lambda q: q.insert_incoming("s2", "W1", "a@s", "text", "x"))
    await store.run(lambda q: q.insert_incoming("s1", "W2", "b@s", "image", None, {"w": 1}, "/f"))
    await store.run(lambda q: q.insert_outgoing("o1", "s1", "a@s", "text", "out"))
    got = await store.read(lambda q: q.get_message("s1", "W1"))
    assert got is not None and got["id"] == first and got["direction"] == "in"
    assert got["status"] == "received" and got["fields"] == {} and not got["hasMedia"]
    assert await store.read(lambda q: q.get_message("s2", first)) is None
    page = await store.read(lambda q: q.list_messages("s1", None, None, 2))
    assert [m["id"] for m in page] == ["o1", page[1]["id"]] and page[1]["hasMedia"]
    rest = await store.read(lambda q: q.list_messages("s1", None, page[-1]["id"], 10))
    assert [m["id"] for m in rest] == [first]
    incoming = await store.read(lambda q: q.list_messages("s1", "in", None, 10))
    assert [m["waId"] for m in incoming] == ["W2", "W1"]
    await store.run(lambda q: q.edit_body(first, "one, edited"))
    edited = await store.read(lambda q: q.get_message("s1", first))
    assert edited is not None and edited["body"] == "one, edited"
    assert edited["fields"] == {"edited": True}
    await store.run(lambda q: q.edit_body(page[1]["id"], "caption"))
    image = await store.read(lambda q: q.get_message("s1", "W2"))
    assert image is not None and image["fields"] == {"w": 1, "edited": True}


async def test_hourly_counts_count_received_and_accepted_sends(store: AnyStore) -> None:
    await _session(store, "s1", "s2")

    def traffic(q: Queries) -> None:
        q.insert_incoming("s1", "W1", "a@s", "text", "x")
        q.insert_incoming("s1", "W2", "a@s", "reaction", "x")  # acts on one: not counted
        q.insert_incoming("s2", "W3", "a@s", "text", "x")
        q.insert_outgoing("o1", "s1", "a@s", "text", "y")  # pending: not yet sent
        q.insert_outgoing("o2", "s1", "a@s", "text", "y")
        q.mark_sent("o2", "W4")

    await store.run(traffic)
    hour = (await store.read(lambda q: q.get_message("s1", "o2")) or {})["createdAt"][:13]
    assert await store.read(lambda q: q.hourly_counts("s1", "2000")) == [(hour, 1, 1)]
    assert await store.read(lambda q: q.hourly_counts(None, "2000")) == [(hour, 2, 1)]
    assert await store.read(lambda q: q.hourly_counts("s1", "9999")) == []


async def test_chats_are_each_peers_last_message_with_the_unread_count(store: AnyStore) -> None:
    await _session(store, "s1")

    def talk(q: Queries) -> None:
        q.insert_incoming("s1", "W1", "a@s", "text", "a1")
        q.insert_incoming("s1", "W2", "b@s", "text", "b1")
        q.insert_incoming("s1", "W3", "a@s", "text", "a2")
        q.insert_incoming("s1", "W4", "a@s", "reaction", "+")  # not an unread message
        q.insert_outgoing("o1", "s1", "c@s", "text", "c1")

    await store.run(talk)
    chats = await store.read(lambda q: q.list_chats("s1", None, 10))
    assert [(c["jid"], c["unreadCount"]) for c in chats] == [("c@s", 0), ("a@s", 2), ("b@s", 1)]
    assert chats[1]["lastMessage"]["waId"] == "W4"
    older = await store.read(lambda q: q.list_chats("s1", "o1", 1))
    assert [c["jid"] for c in older] == ["a@s"]
    assert await store.read(lambda q: q.list_chats("s1", "gone", 10)) == []
    messages = await store.read(lambda q: q.chat_messages("s1", "a@s", None, 10))
    assert [m["waId"] for m in messages] == ["W4", "W3", "W1"]
    at = messages[0]["createdAt"]
    exactly = await store.read(lambda q: q.chat_messages("s1", "a@s", at, 10, at=True))
    assert "W4" in [m["waId"] for m in exactly]
    before = await store.read(lambda q: q.chat_messages("s1", "a@s", at, 10))
    assert all(m["createdAt"] < at for m in before)


async def test_an_idempotency_key_is_claimed_answered_or_reopened(store: AnyStore) -> None:
    await _session(store, "s1")
    assert await store.run(lambda q: q.idempotency_claim("s1", "k", "h")) == ("new", None)
    assert await store.run(lambda q: q.idempotency_claim("s1", "k", "other")) == ("mismatch", None)
    assert await store.run(lambda q: q.idempotency_claim("s1", "k", "h")) == ("open", None)

    def store_message(q: Queries) -> None:
        q.insert_outgoing("m1", "s1", "a@s", "text", "x")
        q.idempotency_attach("s1", "k", "m1")

    await store.run(store_message)
    state, message = await store.run(lambda q: q.idempotency_claim("s1", "k", "h"))
    assert state == "open" and message is not None
    assert (message["id"], message["status"], message["to"]) == ("m1", "pending", "a@s")
    assert await store.read(lambda q: q.idempotency_open()) == [("s1", "k", "m1")]
    await store.run(lambda q: q.idempotency_retake("s1", "k"))
    assert await store.read(lambda q: q.idempotency_open()) == [("s1", "k", None)]
    await store.run(lambda q: q.idempotency_finish("s1", "k", {"id": "m1"}))
    assert await store.run(lambda q: q.idempotency_claim("s1", "k", "h")) == ("done", {"id": "m1"})
    assert await store.read(lambda q: q.idempotency_open()) == []
    await store.run(lambda q: q.idempotency_claim("s1", "k2", "h"))
    await store.run(lambda q: q.idempotency_finish("s1", "k2", None))  # released
    assert await store.run(lambda q: q.idempotency_claim("s1", "k2", "h")) == ("new", None)


async def test_events_are_numbered_in_order_and_resumed_after_an_id(store: AnyStore) -> None:
    await _session(store, "s1", "s2")

    def emit(q: Queries) -> list[str]:
        return [q.append_event(d, "message", {"n": n}).id for n in range(3) for d in ("s1", "s2")]

    ids = await store.run(emit)
    assert await store.read(lambda q: q.latest_event_id()) == ids[-1]
    after = await store.read(lambda q: q.events_after(ids[0], None, 10))
    assert after is not None and [e.id for e in after] == ids[1:]
    mine = await store.read(lambda q: q.events_after(ids[0], "s1", 10))
    assert mine is not None and [(e.seq, e.payload) for e in mine] == [(2, {"n": 1}), (3, {"n": 2})]
    limited = await store.read(lambda q: q.events_after(ids[0], None, 2))
    assert limited is not None and [e.id for e in limited] == ids[1:3]
    assert await store.read(lambda q: q.events_after("evt_gone", None, 10)) is None
    recent = await store.read(lambda q: q.recent_events("s2", ("message", "other"), 2))
    assert [e.seq for e in recent] == [3, 2] and recent[0].to_json()["session"] == "s2"
    with pytest.raises(KeyError):
        await store.run(lambda q: q.append_event("nobody", "message", {}))


async def test_a_sessions_events_beyond_the_kept_number_are_pruned(store: AnyStore) -> None:
    await _session(store, "s1")
    await store.run(lambda q: [q.append_event("s1", "t", {}) for _ in range(1100)])
    kept = await store.read(lambda q: q.recent_events("s1", ("t",), 5000))
    assert len(kept) == 1000 and kept[-1].seq == 101 and kept[0].seq == 1100


async def test_retention_prunes_the_oldest_rows_a_batch_at_a_time(store: AnyStore) -> None:
    await _session(store, "s1")

    def fill(q: Queries) -> None:
        for n in range(5):
            q.insert_outgoing(f"m{n}", "s1", "a@s", "image", None, None, f"/media/{n}")
            q.append_event("s1", "t", {})
            q.idempotency_claim("s1", f"k{n}", "h")

    await store.run(fill)
    batch = await store.run(lambda q: q.prune_batch("messages", "9999", 3))
    assert (batch.deleted, batch.files, batch.more) == (
        3,
        ["/media/0", "/media/1", "/media/2"],
        True,
    )
    batch = await store.run(lambda q: q.prune_batch("messages", "9999", 3))
    assert (batch.deleted, batch.more) == (2, False)
    assert (await store.run(lambda q: q.prune_batch("events", "2000", 10))).deleted == 0
    assert (await store.run(lambda q: q.prune_batch("events", "9999", 10))).deleted == 5
    assert (await store.run(lambda q: q.prune_batch("idempotency", "9999", 10))).deleted == 5
    assert await store.read(lambda q: q.list_messages("s1", None, None, 10)) == []
    with pytest.raises(ValueError):
        await store.run(lambda q: q.prune_batch("sessions", "9999", 10))
