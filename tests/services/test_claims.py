"""Idempotency-Key claims cut short (a killed daemon, a full disk) are settled from what
their send stored, never stuck answering "still being sent". A new ``Claims`` on the
same wad.db is a restarted daemon: it holds no claim of the old one."""

from __future__ import annotations

from pathlib import Path

import pytest

from wad.errors import WadError
from wad.services.claims import Claims
from wad.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "wad.db")
    store.create_session("d")
    return store


def cut_short_after_storing(store: Store, key: str, message_id: str) -> None:
    """What a daemon killed mid-send leaves: the claim, naming its pending message."""
    assert Claims(store).claim("d", key, "hash") is None
    with store.transaction():
        store.insert_outgoing(message_id, "d", "15550002222@s.whatsapp.net", "text", "hi")
        store.idempotency_attach("d", key, message_id)


def test_a_claim_in_progress_answers_still_being_sent(store: Store) -> None:
    claims = Claims(store)
    assert claims.claim("d", "k", "hash") is None
    with pytest.raises(WadError, match="still being sent") as caught:
        claims.claim("d", "k", "hash")
    assert caught.value.code == "conflict"
    with pytest.raises(WadError, match="different request body"):
        claims.claim("d", "k", "other")


def test_cut_short_before_storing_anything_the_retry_sends_it(store: Store) -> None:
    assert Claims(store).claim("d", "k", "hash") is None  # waiting its pace, then killed
    restarted = Claims(store)
    assert restarted.settle_interrupted() == 1
    assert store.idempotency_open() == []
    assert restarted.claim("d", "k", "hash") is None  # the retry holds it: it sends


def test_cut_short_with_a_pending_message_resolves_once_it_is_resent(store: Store) -> None:
    cut_short_after_storing(store, "k", "3EB0AAAA")
    restarted = Claims(store)
    assert restarted.settle_interrupted() == 0  # kept: the resend at the next connect
    with pytest.raises(WadError, match="goes again, with the same message id"):
        restarted.claim("d", "k", "hash")
    store.mark_sent("3EB0AAAA", "3EB0AAAA")  # the session's resend after reconnecting
    answer = restarted.claim("d", "k", "hash")
    assert answer is not None
    assert answer["id"] == "3EB0AAAA" and answer["status"] == "sent"
    assert answer["to"] == "15550002222@s.whatsapp.net" and answer["type"] == "text"
    assert restarted.claim("d", "k", "hash") == answer  # stored now
    assert store.idempotency_open() == []


def test_cut_short_after_the_message_went_out_answers_from_the_message(store: Store) -> None:
    cut_short_after_storing(store, "k", "3EB0BBBB")
    store.mark_sent("3EB0BBBB", "3EB0BBBB")  # sent, but the answer was never stored
    restarted = Claims(store)
    assert restarted.settle_interrupted() == 1
    answer = restarted.claim("d", "k", "hash")
    assert answer is not None and answer["id"] == "3EB0BBBB"


def test_cut_short_with_a_failed_message_frees_the_key(store: Store) -> None:
    cut_short_after_storing(store, "k", "3EB0CCCC")
    store.mark_failed("3EB0CCCC", "not on WhatsApp")
    restarted = Claims(store)
    assert restarted.claim("d", "k", "hash") is None  # settled lazily: the retry sends
