"""Idempotency-Key claims cut short (a killed daemon, a full disk) are settled from what
their send stored, never stuck answering "still being sent". A new ``Claims`` on the
same wad.db is a restarted daemon: it holds no claim of the old one."""

from __future__ import annotations

from pathlib import Path

import pytest

from wad.errors import WadError
from wad.services.claims import Claims
from wad.store import Queries, Store


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "wad.db")
    await store.run(lambda q: q.create_session("d"))
    return store


async def cut_short_after_storing(store: Store, key: str, message_id: str) -> None:
    """What a daemon killed mid-send leaves: the claim, naming its pending message."""
    assert await Claims(store).claim("d", key, "hash") is None

    def store_it(q: Queries) -> None:
        q.insert_outgoing(message_id, "d", "15550002222@s.whatsapp.net", "text", "hi")
        q.idempotency_attach("d", key, message_id)

    await store.run(store_it)


async def test_a_claim_in_progress_answers_still_being_sent(store: Store) -> None:
    claims = Claims(store)
    assert await claims.claim("d", "k", "hash") is None
    with pytest.raises(WadError, match="still being sent") as caught:
        await claims.claim("d", "k", "hash")
    assert caught.value.code == "conflict"
    with pytest.raises(WadError, match="different request body"):
        await claims.claim("d", "k", "other")


async def test_cut_short_before_storing_anything_the_retry_sends_it(store: Store) -> None:
    assert await Claims(store).claim("d", "k", "hash") is None  # waiting its pace, then killed
    restarted = Claims(store)
    assert await restarted.settle_interrupted() == 1
    assert await store.read(lambda q: q.idempotency_open()) == []
    assert await restarted.claim("d", "k", "hash") is None  # the retry holds it: it sends


async def test_cut_short_with_a_pending_message_resolves_once_it_is_resent(store: Store) -> None:
    await cut_short_after_storing(store, "k", "3EB0AAAA")
    restarted = Claims(store)
    assert await restarted.settle_interrupted() == 0  # kept: the resend at the next connect
    with pytest.raises(WadError, match="goes again, with the same message id"):
        await restarted.claim("d", "k", "hash")
    # the session's resend after reconnecting
    await store.run(lambda q: q.mark_sent("3EB0AAAA", "3EB0AAAA"))
    answer = await restarted.claim("d", "k", "hash")
    assert answer is not None
    assert answer["id"] == "3EB0AAAA" and answer["status"] == "sent"
    assert answer["to"] == "15550002222@s.whatsapp.net" and answer["type"] == "text"
    assert await restarted.claim("d", "k", "hash") == answer  # stored now
    assert await store.read(lambda q: q.idempotency_open()) == []


async def test_cut_short_after_the_message_went_out_answers_from_the_message(store: Store) -> None:
    await cut_short_after_storing(store, "k", "3EB0BBBB")
    # sent, but the answer was never stored
    await store.run(lambda q: q.mark_sent("3EB0BBBB", "3EB0BBBB"))
    restarted = Claims(store)
    assert await restarted.settle_interrupted() == 1
    answer = await restarted.claim("d", "k", "hash")
    assert answer is not None and answer["id"] == "3EB0BBBB"


async def test_cut_short_with_a_failed_message_frees_the_key(store: Store) -> None:
    await cut_short_after_storing(store, "k", "3EB0CCCC")
    await store.run(lambda q: q.mark_failed("3EB0CCCC", "not on WhatsApp"))
    restarted = Claims(store)
    assert await restarted.claim("d", "k", "hash") is None  # settled lazily: the retry sends


async def test_in_a_cluster_only_the_session_taken_over_is_settled(store: Store) -> None:
    # Another node's session is sending under its claim: a node taking "d" over
    # settles d's claims only.
    await store.run(lambda q: q.create_session("elsewhere"))
    assert await Claims(store).claim("d", "k", "hash") is None
    assert await Claims(store).claim("elsewhere", "k", "hash") is None
    taker = Claims(store)
    assert await taker.settle_interrupted("d") == 1
    assert [d for d, _, _ in await store.read(lambda q: q.idempotency_open())] == ["elsewhere"]
